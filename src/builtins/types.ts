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
  /** Loads resources (databases, indexes) before the first event. */
  init?(roots: Roots): void | Promise<void>;
  /** Frees resources. */
  exit?(): void;
  /** True when the builtin's resources changed on disk and the daemon should call init again. */
  shouldReload?(): boolean;
  /** udev runs some builtins (e.g. "net_setup_link") only once per event; RUN{builtin} of those is deduplicated. */
  runOnce?: boolean;
}
