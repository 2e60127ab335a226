// The daemon's warm-up: its rules run once, in test mode, while it has nothing else to do after READY=1.
//
// A fresh V8 runs the event path slower the first time than ever after: the functions the code caches do not hold
// are compiled from source, Sparkplug compiles the ones that run often, the inline caches miss for the first time
// and make their hidden classes, and each rules line plan and glob is made at its first use. A daemon started at
// boot meets all of that in its coldplug; one started on a running machine (a restart, an upgrade) meets it in
// whatever comes first: an administrator's `udevadm trigger`, the next hotplug.
//
// So a daemon that is idle once its builtins are loaded runs its rules on a sample of its sysfs tree's devices, a
// "change" and an "add" of each: the first device of each subsystem and device type (most of what differs between
// events is the lines each kind reaches). Nothing is written and nothing started: test mode applies nothing (no
// node, link, record, ATTR or SYSCTL write, no RUN), PROGRAM and IMPORT{program} fail without running, and only
// the builtins that read sysfs and the hwdb take part (WARM_BUILTINS). One device at a time, each on its own turn
// of the event loop; it stops as soon as an event is queued or the daemon stops, and a daemon that has taken an
// event before it could start never warms up (its events did).
import type { Builtin } from '../builtins/types.js';
import { Device } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import { rehearsalEvents } from './rehearsal.js';

/** The builtins the warm-up runs: they read sysfs and the hwdb, and open no device and change nothing. */
export const WARM_BUILTINS: ReadonlySet<string> = new Set(['hwdb', 'path_id', 'input_id', 'usb_id', 'net_id', 'net_driver']);

/** The actions each sampled device is run with: `udevadm trigger`'s default, then a hotplug's. */
const ACTIONS = ['change', 'add'] as const;

export interface WarmUpHost {
  roots: Roots;
  /** Runs the event of `device` (its ACTION) in test mode, without programs, with `builtins` only. */
  run(device: Device, builtins: ReadonlyMap<string, Builtin>): unknown;
  /** The daemon's loaded builtins. */
  builtins: ReadonlyMap<string, Builtin>;
  /** False once an event is queued or the daemon stops: the warm-up ends before its next device. */
  idle(): boolean;
}

export interface WarmUpResult {
  /** Events run (devices × actions). */
  events: number;
  /** Ended early: an event came, or the daemon stopped. */
  interrupted: boolean;
  ms: number;
}

/** The uevent properties of the first device of each subsystem and device type, parents first (a coldplug's order). */
export function warmUpSample(roots: Roots): Map<string, string>[] {
  const seen = new Set<string>();
  const out: Map<string, string>[] = [];
  for (const ev of rehearsalEvents(roots, 'change')) {
    const kind = `${ev.subsystem}/${ev.properties.get('DEVTYPE') ?? ''}`;
    if (seen.has(kind)) continue;
    seen.add(kind);
    out.push(ev.properties);
  }
  return out;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs the warm-up (see the head of this file). A device whose event throws is passed over. */
export async function warmUp(host: WarmUpHost, now: () => number): Promise<WarmUpResult> {
  const t0 = now();
  const builtins = new Map([...host.builtins].filter(([name]) => WARM_BUILTINS.has(name)));
  let events = 0;
  let sample: Map<string, string>[] = [];
  try {
    sample = warmUpSample(host.roots);
  } catch {
    // a device gone while listing, an unreadable uevent file: no warm-up, nothing lost
  }
  for (const action of ACTIONS) {
    for (const props of sample) {
      await nextTurn();
      if (!host.idle()) return { events, interrupted: true, ms: now() - t0 };
      try {
        // a device of its own for each run (the rules set properties on the one they run on)
        await host.run(Device.fromUevent(host.roots, new Map(props).set('ACTION', action)), builtins);
      } catch {
        // a device removed meanwhile, a sysfs read refused: the warm-up goes on with the next one
      }
      events++;
    }
  }
  return { events, interrupted: false, ms: now() - t0 };
}
