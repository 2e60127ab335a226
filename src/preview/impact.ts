// The impact of a rules set: runs it in test mode (nothing is written, RUN is only listed) over every device of
// the machine and compares each result with what is in force now — the device's database record under the run
// root (properties, symlinks, current tags), its node under the dev root (owner, group, mode) and its interface
// name (NAME=). `devctl reload --dry-run` prints it; the daemon refuses a reload whose impact exceeds
// reload_max_impact.
//
// A device can differ from its record whatever the rules say: one the daemon never processed has no record, one
// whose last event was a "change" may hold what an "add" would not set. So a device that differs is run again
// with the rules in force (the baseline): when they give the same differences, the device is listed as drift,
// not as changed by the candidate.
import { existsSync, lstatSync } from 'node:fs';
import type { Logger } from '../log.js';
import type { Roots } from '../device/roots.js';
import { devPath } from '../device/roots.js';
import { Device } from '../device/device.js';
import { enumerateDevices } from '../device/enumerate.js';
import type { Builtin } from '../builtins/types.js';
import type { RuleSet } from '../rules/load.js';
import { processEvent, type EventResult } from '../event/process.js';
import { PROP_BOUND, PROP_STARTED } from '../units/record.js';

export type ChangeKind = 'property' | 'link' | 'tag' | 'owner' | 'group' | 'mode' | 'name';

/** One difference; `before` missing = added, `after` missing = removed. */
export interface Change {
  what: ChangeKind;
  /** The property name (property changes). */
  key?: string;
  before?: string;
  after?: string;
}

export interface DeviceImpact {
  devpath: string;
  subsystem: string | undefined;
  sysname: string;
  id: string;
  changes: Change[];
}

export interface ImpactReport {
  action: string;
  /** Devices examined. */
  devices: number;
  /** Devices that would change because of the candidate, in devpath order. */
  changed: DeviceImpact[];
  /** Devices that differ from their record under the rules in force as well (same differences), in devpath order. */
  drift: DeviceImpact[];
  /** Devices the rules failed on (a program that timed out, ...). */
  errors: { devpath: string; error: string }[];
  /** The scan stopped once `stopAfter` devices changed. */
  stoppedEarly: boolean;
}

export interface ImpactOptions {
  roots: Roots;
  /** The candidate. */
  ruleSet: RuleSet;
  /** The rules in force; without it every difference counts as the candidate's. */
  baseline?: RuleSet;
  builtins: ReadonlyMap<string, Builtin>;
  /** Where the rules' own messages go (the rules run as for a real event). */
  log: Logger;
  execTimeoutMs: number;
  /** The event the rules see (default "add": the state a coldplug makes). */
  action?: string;
  /** Devices run at once (programs run in parallel; default 8). */
  concurrency?: number;
  /** Stop once this many devices changed. */
  stopAfter?: number;
}

/**
 * Properties the daemon writes into the database itself, not the rules (the units record, src/units/record.ts):
 * a test run never has them.
 */
const DAEMON_PROPERTIES: ReadonlySet<string> = new Set([PROP_STARTED, PROP_BOUND]);

export async function rulesImpact(opts: ImpactOptions): Promise<ImpactReport> {
  const action = opts.action ?? 'add';
  const devices = enumerateDevices(opts.roots);
  const report: ImpactReport = { action, devices: 0, changed: [], drift: [], errors: [], stoppedEarly: false };
  let next = 0;
  const worker = async () => {
    while (next < devices.length) {
      if (opts.stopAfter !== undefined && report.changed.length >= opts.stopAfter) {
        report.stoppedEarly = true;
        return;
      }
      const d = devices[next++]!;
      report.devices++;
      try {
        const impact = await deviceImpact(opts, opts.ruleSet, d, action);
        if (impact === undefined) continue;
        const base = opts.baseline && (await deviceImpact(opts, opts.baseline, Device.fromSyspath(opts.roots, d.syspath), action));
        if (base && JSON.stringify(base.changes) === JSON.stringify(impact.changes)) report.drift.push(impact);
        else report.changed.push(impact);
      } catch (e) {
        // a device removed meanwhile has nothing left to change
        if (existsSync(d.syspath)) report.errors.push({ devpath: d.devpath, error: (e as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));
  const byPath = (a: { devpath: string }, b: { devpath: string }) => (a.devpath < b.devpath ? -1 : a.devpath > b.devpath ? 1 : 0);
  report.changed.sort(byPath);
  report.drift.sort(byPath);
  report.errors.sort(byPath);
  return report;
}

/** What a rules set would change on one device (undefined: nothing). */
async function deviceImpact(opts: ImpactOptions, ruleSet: RuleSet, device: Device, action: string): Promise<DeviceImpact | undefined> {
  device.action = action;
  const res = await processEvent({ roots: opts.roots, ruleSet, log: opts.log, test: true, mknod: false, execTimeoutMs: opts.execTimeoutMs, builtins: opts.builtins }, device);
  if (res.failed) throw new Error(res.errors.join('; ') || 'the rules failed');
  const changes = compare(opts.roots, res);
  if (changes.length === 0) return undefined;
  return { devpath: device.devpath, subsystem: device.subsystem, sysname: device.sysname, id: device.id, changes };
}

/** The result of a test run against the device's state now. */
export function compare(roots: Roots, res: EventResult): Change[] {
  const dev = res.device;
  const old = res.dbOld;
  const changes: Change[] = [];
  // properties, as the database stores them
  const before = new Map([...(old?.properties ?? [])].filter(([k]) => !DAEMON_PROPERTIES.has(k)));
  const after = new Map([...dev.dbProperties].filter(([k]) => !k.startsWith('.') && !DAEMON_PROPERTIES.has(k)));
  for (const k of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const b = before.get(k);
    const a = after.get(k);
    if (b !== a) changes.push({ what: 'property', key: k, before: b, after: a });
  }
  setChanges(changes, 'link', old?.links ?? [], dev.devnum ? dev.devlinks : []);
  setChanges(changes, 'tag', old?.currentTags ?? [], dev.currentTags);
  // owner, group and mode of the node, when the rules set them and the node is there to compare with
  if (res.node && dev.devname) {
    const st = lstatSync(devPath(roots, dev.devname), { throwIfNoEntry: false });
    if (st && (st.isBlockDevice() || st.isCharacterDevice())) {
      if (st.uid !== res.node.uid) changes.push({ what: 'owner', before: String(st.uid), after: String(res.node.uid) });
      if (st.gid !== res.node.gid) changes.push({ what: 'group', before: String(st.gid), after: String(res.node.gid) });
      const mode = (m: number) => m.toString(8).padStart(4, '0');
      if ((st.mode & 0o7777) !== res.node.mode) changes.push({ what: 'mode', before: mode(st.mode & 0o7777), after: mode(res.node.mode) });
    }
  }
  if (res.rename !== undefined) changes.push({ what: 'name', before: dev.sysname, after: res.rename });
  return changes;
}

function setChanges(out: Change[], what: ChangeKind, before: Iterable<string>, after: Iterable<string>): void {
  const b = new Set(before);
  const a = new Set(after);
  for (const v of [...b].filter((x) => !a.has(x)).sort()) out.push({ what, before: v });
  for (const v of [...a].filter((x) => !b.has(x)).sort()) out.push({ what, after: v });
}
