// The daemon's warm-up: its rules run once, in test mode, while it has nothing else to do after READY=1.
//
// A fresh V8 runs the event path slower the first time than ever after: the functions the code caches do not hold
// are compiled from source, Sparkplug compiles the ones that run often, the inline caches miss for the first time
// and make their hidden classes, and each rules line plan and glob is made at its first use. A daemon started at
// boot meets all of that in its coldplug; one started on a running machine (a restart, an upgrade) meets it in
// whatever comes first: an administrator's `udevadm trigger`, the next hotplug.
//
// So a daemon that is idle once its builtins are loaded runs its rules on a sample of its devices, a "change" and an
// "add" of each: the first device of each subsystem and device type (most of what differs between events is the
// lines each kind reaches), found through <sysfs>/class and <sysfs>/bus. Nothing is written and nothing started:
// test mode applies nothing (no node, link, record, ATTR or SYSCTL write, no RUN), PROGRAM and IMPORT{program} fail
// without running, and only the builtins that read sysfs and the hwdb take part (WARM_BUILTINS). One device at a
// time, each on its own turn of the event loop, the sample read as it goes; it stops as soon as an event is queued
// or the daemon stops, and a daemon that has taken an event before it could start never warms up (its events did).
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Builtin } from '../builtins/types.js';
import { Device, parseUeventFile } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import { tryOr } from '../util/fs.js';
import { kernelProperties } from './rehearsal.js';

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

/** Entries of one subsystem's directory looked at for new device types. */
const ENTRIES_PER_SUBSYSTEM = 16;

/**
 * The uevent properties of the first device of each subsystem and device type, as a "change" (the kernel's
 * message: ACTION, DEVPATH, SUBSYSTEM, the uevent file), one subsystem at a time: the subsystems of
 * <sysfs>/class and <sysfs>/bus/NAME/devices, in name order, the first ENTRIES_PER_SUBSYSTEM devices of each.
 * Lazy, so that the warm-up can stop between two devices: a walk of the whole tree first would hold the event loop
 * for as long as a coldplug's first events take.
 */
export function* warmUpSample(roots: Roots): Generator<Map<string, string>> {
  const seen = new Set<string>();
  const sysDevices = join(roots.sysfs, 'devices');
  const dirs: [subsystem: string, dir: string][] = [];
  for (const name of sortedEntries(join(roots.sysfs, 'class'))) dirs.push([name, join(roots.sysfs, 'class', name)]);
  for (const name of sortedEntries(join(roots.sysfs, 'bus'))) dirs.push([name, join(roots.sysfs, 'bus', name, 'devices')]);
  for (const [subsystem, dir] of dirs) {
    for (const entry of sortedEntries(dir).slice(0, ENTRIES_PER_SUBSYSTEM)) {
      const syspath = tryOr(() => realpathSync(join(dir, entry)), undefined);
      if (syspath === undefined || !syspath.startsWith(sysDevices + '/')) continue;
      const uevent = tryOr(() => readFileSync(join(syspath, 'uevent'), 'utf8'), undefined);
      if (uevent === undefined) continue;
      const file = parseUeventFile(uevent);
      const kind = `${subsystem}/${file.get('DEVTYPE') ?? ''}`;
      if (seen.has(kind)) continue;
      seen.add(kind);
      yield kernelProperties(roots, syspath, subsystem, 'change', file);
    }
  }
}

function sortedEntries(dir: string): string[] {
  return (tryOr(() => readdirSync(dir), undefined) ?? []).sort();
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs the warm-up (see the head of this file). A device whose event throws is passed over. */
export async function warmUp(host: WarmUpHost, now: () => number): Promise<WarmUpResult> {
  const t0 = now();
  const builtins = new Map([...host.builtins].filter(([name]) => WARM_BUILTINS.has(name)));
  let events = 0;
  // the sample as it is read, "change" events: kept for the "add" round
  const sample: Map<string, string>[] = [];
  const next = warmUpSample(host.roots);
  for (const action of ACTIONS) {
    for (let i = 0; ; i++) {
      await nextTurn();
      if (!host.idle()) return { events, interrupted: true, ms: now() - t0 };
      if (i === sample.length) {
        const read = next.next();
        if (read.done) break;
        sample.push(read.value);
      }
      try {
        // a device of its own for each run (the rules set properties on the one they run on)
        await host.run(Device.fromUevent(host.roots, new Map(sample[i]!).set('ACTION', action)), builtins);
      } catch {
        // a device removed meanwhile, a sysfs read refused: the warm-up goes on with the next one
      }
      events++;
    }
  }
  return { events, interrupted: false, ms: now() - t0 };
}
