// The contract between the rules executor and a builtin (IMPORT{builtin}, RUN{builtin}, devctl test-builtin).
import type { Device } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import type { Logger } from '../log.js';

export interface BuiltinContext {
  /** The device the event is about. */
  device: Device;
  /** The event's action (add, change, remove, ...). */
  action: string;
  roots: Roots;
  /** true under devctl test / test-builtin: no side effects outside the returned properties. */
  test: boolean;
  log: Logger;
  /** Adds a property to the device (what IMPORT{builtin} imports). */
  setProperty(name: string, value: string): void;
  /** The builtins the caller initialized (a builtin that calls another, as net_id calls hwdb, takes it from here). */
  builtins?: ReadonlyMap<string, Builtin>;
  /** The device's database record before this event (net_setup_link imports from it). */
  dbProperties?: ReadonlyMap<string, string>;
  /** What the event carries between builtins and the apply step (net_setup_link's alternative names). */
  event?: BuiltinEventState;
}

/** Per-event state a builtin hands to the apply step. */
export interface BuiltinEventState {
  /** Alternative interface names to assign (AlternativeName=, AlternativeNamesPolicy=). */
  altnames?: string[];
  /** What the builtin decided, for `devctl test`'s trace (the .link file applied, the policy that named it). */
  notes?: string[];
}

/** What builtins take from the configuration. */
export interface BuiltinConfig {
  hwdbBin?: string;
  configFile?: string;
  /** Watch resource files (hwdb.bin) for changes: the daemon does, one-shot tools do not. */
  watch?: boolean;
  /** naming_scheme config key: the interface naming scheme when neither the environment nor the kernel command line names one. */
  namingScheme?: string;
  /** .link file directories (network_d); empty or undefined: /etc, /run, /usr/local/lib, /usr/lib systemd/network. */
  networkDirs?: string[];
  /** The kernel command line file (default /proc/cmdline). */
  cmdlinePath?: string;
  /** The machine id file (default /etc/machine-id): persistent MAC addresses hash it. */
  machineIdPath?: string;
  /** Where a builtin reports a configuration problem at init (bad .link lines, unknown naming scheme). */
  warn?: (msg: string) => void;
}

export interface Builtin {
  name: string;
  /** One line, shown by `devctl test-builtin --help`. */
  help: string;
  /**
   * Runs the builtin. argv[0] is the builtin's name, the rest its arguments (split like udev: quotes
   * group words). Returns true on success; false (or a thrown Error, which is logged) fails the match.
   */
  run(ctx: BuiltinContext, argv: string[]): boolean | Promise<boolean>;
  /** Loads resources (databases, indexes, configuration) before the first event. */
  init?(roots: Roots, config?: BuiltinConfig): void | Promise<void>;
  /** Frees resources. */
  exit?(): void;
  /** True when the builtin's resources changed on disk and the daemon should call init again. */
  shouldReload?(): boolean;
}
