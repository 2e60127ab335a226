// Healing after lost events. Events are lost when the daemon crashes (what was queued, and whatever the kernel
// sent while no daemon listened), when it is stopped while devices change, and when the kernel's receive queue
// overflows. udevd does not recover from any of these; devMaster resynchronizes with sysfs:
//
//   - every device sysfs has gets its event again, written to its uevent file: "add" when devMaster never
//     processed it, "change" otherwise (the rules run on its current state);
//   - every device devMaster processed that sysfs no longer has gets a synthesized "remove", built from the
//     identity recorded when it was processed (DEVPATH, SUBSYSTEM, DEVNAME, MAJOR/MINOR, IFINDEX, ...), which
//     goes through the pipeline like a kernel remove: database, tags and links go, and libudev clients see it.
//
// What makes this possible is kept under <run>/devmaster/ (private to devMaster; udev's own files are not
// touched): `state`, which says whether the last daemon stopped cleanly and at which kernel seqnum, and
// `devices.json`, the identity of every device processed (written off the hot path, when the queue
// drains). At start-up a resync runs when the last daemon did not stop cleanly or the kernel's seqnum moved
// while none ran; after a receive-queue overflow it runs once the queue has drained.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Device, deviceIfAny } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import { parseUevent, UeventError, type Uevent } from '../netlink/uevent.js';
import { readdirIfAny, tryOr, writeFileAtomic } from '../util/fs.js';
import { allDbIds, dbPath, deleteDb, readDb, updateTagIndex } from '../device/db.js';
import { removeDevnumLink, updateLink } from '../event/links.js';
import type { Logger } from '../log.js';
import { kernelSeqnum, listDevices, triggerAll } from './coldplug.js';
import { nowMs } from '../util/clock.js';

/** The properties that identify a device, enough to process and broadcast its removal. */
const IDENTITY_KEYS = ['DEVPATH', 'SUBSYSTEM', 'DEVTYPE', 'DEVNAME', 'MAJOR', 'MINOR', 'IFINDEX', 'INTERFACE', 'DRIVER'] as const;

/** A device's identity as recorded: the IDENTITY_KEYS it has (a value with a newline left out), as KEY=value lines. */
function identityText(props: Map<string, string>): string {
  let text = '';
  for (let i = 0; i < IDENTITY_KEYS.length; i++) {
    const k = IDENTITY_KEYS[i]!;
    const v = props.get(k);
    if (v !== undefined && !v.includes('\n')) text += `${k}=${v}\n`;
  }
  return text;
}

/** Whether `text` is identityText(props), read in place. */
function isIdentity(text: string, props: Map<string, string>): boolean {
  let at = 0;
  for (let i = 0; i < IDENTITY_KEYS.length; i++) {
    const k = IDENTITY_KEYS[i]!;
    const v = props.get(k);
    if (v === undefined || v.includes('\n')) continue;
    if (!text.startsWith(k, at) || text.charCodeAt(at + k.length) !== 61 /* = */ || !text.startsWith(v, at + k.length + 1)) return false;
    at += k.length + 1 + v.length;
    if (text.charCodeAt(at++) !== 10 /* \n */) return false;
  }
  return at === text.length;
}

export interface RunState {
  pid: number;
  /** True once the daemon stopped cleanly. */
  clean: boolean;
  /** The kernel's uevent seqnum when it stopped cleanly. */
  seqnum?: number;
  /**
   * The kernel socket, when the service manager keeps it open after the daemon (socket unit or file descriptor
   * store): its inode and the kernel's drop count (SK_MEMINFO_DROPS) when the daemon let go of it. Events sent
   * meanwhile wait in that socket for the next daemon.
   */
  kernelSocket?: { inode: number; drops: number };
}

/**
 * Events that were queued but not started when a daemon stopped with its kernel socket kept by the service
 * manager: <run>/devmaster/pending, one kernel datagram (base64) per line, in queue order. The next daemon
 * processes them before anything its socket holds, so a restart loses none of them.
 */
export function savePending(run: string, events: readonly Uevent[]): void {
  const datagram = (ev: Uevent) => Buffer.from(`${ev.action}@${ev.devpath}\0${[...ev.properties].map(([k, v]) => `${k}=${v}\0`).join('')}`, 'utf8').toString('base64');
  mkdirSync(dir(run), { recursive: true });
  writeFileAtomic(join(dir(run), 'pending'), events.map(datagram).join('\n') + '\n');
}

/** Reads and removes what savePending() left: the events, and how many lines were not valid uevents. */
export function takePending(run: string): { events: Uevent[]; invalid: number } {
  const path = join(dir(run), 'pending');
  const text = tryOr(() => readFileSync(path, 'utf8'), undefined, 'ENOENT');
  if (text === undefined) return { events: [], invalid: 0 };
  rmSync(path, { force: true });
  const events: Uevent[] = [];
  let invalid = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const ev = parseUevent(Buffer.from(line, 'base64'));
    if (ev instanceof UeventError) invalid++;
    else events.push(ev);
  }
  return { events, invalid };
}

/** The kernel socket a starting daemon was handed (socket activation), to compare with RunState.kernelSocket. */
export interface HandedSocket {
  inode: number;
  drops: number | undefined;
}

function dir(run: string): string {
  return join(run, 'devmaster');
}

export function readRunState(run: string): RunState | undefined {
  const text = tryOr(() => readFileSync(join(dir(run), 'state'), 'utf8'), undefined, 'ENOENT');
  if (text === undefined) return undefined;
  let s: Partial<RunState>;
  try {
    s = JSON.parse(text) as Partial<RunState>;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined; // a state file cut short: as if there was none
    throw e;
  }
  return typeof s.pid === 'number' && typeof s.clean === 'boolean' ? (s as RunState) : undefined;
}

export function writeRunState(run: string, state: RunState): void {
  mkdirSync(dir(run), { recursive: true });
  writeFileAtomic(join(dir(run), 'state'), JSON.stringify(state) + '\n');
}

/**
 * Why the state a daemon finds at start-up calls for a resync, or undefined when it does not: no earlier
 * daemon (a fresh /run: boot does its own coldplug), a clean stop after which the kernel sent nothing, or a
 * clean stop that left the kernel socket with the service manager, which handed the very same socket (same
 * inode) to this daemon with nothing dropped meanwhile: what the kernel sent is waiting in it.
 */
export function resyncReason(prev: RunState | undefined, kernelSeqnum: number | undefined, handed?: HandedSocket): string | undefined {
  if (!prev) return undefined;
  if (!prev.clean) return `the previous daemon (pid ${prev.pid}) did not stop cleanly`;
  const kept = prev.kernelSocket;
  if (kept && handed && handed.inode === kept.inode) {
    if (handed.drops !== undefined && handed.drops !== kept.drops) return `the kernel socket kept by the service manager overflowed while no daemon ran (${(handed.drops - kept.drops) >>> 0} event(s) lost)`;
    return undefined;
  }
  if (prev.seqnum === undefined || kernelSeqnum === undefined) return 'the previous daemon left no kernel seqnum';
  if (kernelSeqnum !== prev.seqnum) return `the kernel sent ${kernelSeqnum - prev.seqnum} event(s) while no daemon ran`;
  return undefined;
}

/**
 * The identities of processed devices: <run>/devmaster/devices.json, an object of device id to identity (the
 * KEY=value lines), rewritten whole by flush() when something changed. One file, not one per device: a coldplug
 * records every device at once, and a single write (atomic, by rename) costs what one file of the old
 * <run>/devmaster/devices/<id> layout did. That layout, left by an earlier devMaster in the same /run, is read
 * when there is no file yet and removed by the first flush.
 */
export class DeviceRegistry {
  readonly #file: string;
  readonly #legacyDir: string;
  /** What is on disk (or will be after flush), by device id. */
  #known = new Map<string, string>();
  #dirty = false;
  /** The old layout was read: removed at the first flush. */
  #legacy = false;

  constructor(run: string) {
    mkdirSync(dir(run), { recursive: true });
    this.#file = join(dir(run), 'devices.json');
    this.#legacyDir = join(dir(run), 'devices');
    const text = tryOr(() => readFileSync(this.#file, 'utf8'), undefined, 'ENOENT');
    if (text !== undefined) this.#load(text);
    else this.#loadLegacy();
  }

  #load(text: string): void {
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (e) {
      if (e instanceof SyntaxError) return; // cut short: as if there were none (a resync adds what it finds)
      throw e;
    }
    if (typeof o !== 'object' || o === null) return;
    for (const [id, identity] of Object.entries(o)) if (typeof identity === 'string') this.#known.set(id, identity);
  }

  #loadLegacy(): void {
    for (const name of readdirIfAny(this.#legacyDir)) {
      const text = tryOr(() => readFileSync(join(this.#legacyDir, name), 'utf8'), undefined, 'ENOENT'); // vanished
      if (text !== undefined) this.#known.set(decodeURIComponent(name), text);
    }
    this.#legacy = this.#dirty = this.#known.size > 0; // written in the new layout at the first flush
  }

  get size(): number {
    return this.#known.size;
  }

  /** Records the identity of a device that was processed (from the properties it was broadcast with). */
  record(id: string, props: Map<string, string>): void {
    const known = this.#known.get(id);
    // most events leave a device's identity as it was: compared in place, the text is made only when it changed
    if (known !== undefined && isIdentity(known, props)) return;
    this.#known.set(id, identityText(props));
    this.#dirty = true;
  }

  forget(id: string): void {
    if (!this.#known.delete(id)) return;
    this.#dirty = true;
  }

  has(id: string): boolean {
    return this.#known.has(id);
  }

  /** The recorded identity of a device, as uevent properties. */
  identity(id: string): Map<string, string> | undefined {
    const text = this.#known.get(id);
    if (text === undefined) return undefined;
    const m = new Map<string, string>();
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
    }
    return m;
  }

  ids(): string[] {
    return [...this.#known.keys()].sort();
  }

  /** Writes the recorded changes (called when the queue drains and at exit). */
  flush(): void {
    if (!this.#dirty) return;
    writeFileAtomic(this.#file, JSON.stringify(Object.fromEntries(this.#known)) + '\n');
    this.#dirty = false;
    if (this.#legacy) rmSync(this.#legacyDir, { recursive: true, force: true });
    this.#legacy = false;
  }
}

export interface ResyncPlan {
  /** Devices to trigger "add" for (never processed), and "change" for (processed before). */
  add: string[];
  change: string[];
  /** Synthesized "remove" events for processed devices that are gone. */
  remove: Uevent[];
  /** Database records of gone devices with no recorded identity (removed without a broadcast). */
  orphans: string[];
}

/**
 * Compares sysfs with what was processed (registry and database) and says what to do. Synthesized removes carry
 * `seqnum`: libudev drops events without one, and a gone device has no kernel event of its own (the daemon passes
 * the kernel's current seqnum).
 */
export function planResync(roots: Roots, registry: DeviceRegistry, seqnum = 1): ResyncPlan {
  const plan: ResyncPlan = { add: [], change: [], remove: [], orphans: [] };
  /** Device id -> devpath of what sysfs has now. */
  const present = new Map<string, string>();
  for (const syspath of listDevices(roots)) {
    const device = deviceIfAny(() => Device.fromSyspath(roots, syspath));
    if (!device) continue; // vanished meanwhile
    present.set(device.id, device.devpath);
    // processed before: recorded under its id with this devpath (or, recorded by nobody, it has a database)
    const recorded = registry.identity(device.id)?.get('DEVPATH');
    const known = recorded !== undefined ? recorded === device.devpath : existsSync(dbPath(roots.run, device.id));
    (known ? plan.change : plan.add).push(syspath);
  }
  for (const id of registry.ids()) {
    const props = registry.identity(id)!;
    const devpath = props.get('DEVPATH');
    const subsystem = props.get('SUBSYSTEM');
    if (!devpath || !subsystem) continue;
    // gone, or its device number or ifindex now belongs to another device
    if (present.get(id) === devpath) continue;
    props.set('ACTION', 'remove');
    props.set('SEQNUM', String(seqnum));
    plan.remove.push({ action: 'remove', devpath, subsystem, seqnum, properties: props });
  }
  for (const id of allDbIds(roots.run)) if (!present.has(id) && !registry.has(id) && !id.startsWith('.')) plan.orphans.push(id);
  return plan;
}

/**
 * Removes what a gone device with no recorded identity left behind: its database record, tag index entries,
 * link claims (links are handed to the next claimant or removed) and /dev/{block,char}/M:m link.
 */
export function cleanOrphan(roots: Roots, id: string, log: Logger): void {
  const rec = readDb(roots.run, id);
  if (rec) {
    for (const link of rec.links) updateLink(roots, link, { id, devnode: '', priority: 0 }, false, log);
    updateTagIndex(roots.run, id, rec.tags, []);
  }
  deleteDb(roots.run, id);
  const m = /^([bc])(\d+):(\d+)$/.exec(id);
  if (m) removeDevnumLink(roots, m[1] === 'b', Number(m[2]), Number(m[3]));
}

// ------------------------------------------------------------------ running resyncs for the daemon

/** Resyncs begin at most this often; their triggers are written this many at a time. */
const RESYNC_INTERVAL_MS = 5000;
const RESYNC_BATCH = 32;

/** What a resync needs from the daemon. */
export interface ResyncHost {
  readonly roots: Roots;
  readonly log: Logger;
  /** Queues a synthesized event (the "remove" of a gone device); it does not count as received. */
  enqueue(ev: Uevent): void;
  /** Resolves once the queue is empty. */
  whenIdle(): Promise<unknown>;
  /** Returns once the uevents the kernel already emitted were received and queued. */
  catchUp(): Promise<void>;
  /** True once the daemon is stopping: no resync starts, a running one stops triggering. */
  stopping(): boolean;
}

/** The daemon's resyncs: when they run (one at a time, spaced out), what they did, and the device registry. */
export class Resyncer {
  /** How many ran, why the last one ran, and what they did. */
  readonly stats = { runs: 0, lastReason: '', triggeredAdd: 0, triggeredChange: 0, removed: 0, orphans: 0 };
  /** The identities of the devices processed (open() makes it, once the daemon owns the run root). */
  registry: DeviceRegistry | undefined;
  #host: ResyncHost;
  #running: Promise<void> | undefined;
  #again: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastAt = -Infinity;

  constructor(host: ResyncHost) {
    this.#host = host;
  }

  open(): void {
    this.registry = new DeviceRegistry(this.#host.roots.run);
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  /**
   * Resynchronizes with sysfs after events may have been lost: a synthesized "remove" for every processed
   * device that is gone, "add" for every device never processed, "change" for the others (unless
   * `trigger` is false). Returns when the removals are queued and the triggers written.
   */
  run(reason: string, opts: { trigger?: boolean } = {}): Promise<void> {
    if (this.#running) {
      this.#again = reason;
      return this.#running;
    }
    this.#running = this.#run(reason, opts.trigger !== false).finally(() => {
      this.#running = undefined;
      const again = this.#again;
      this.#again = undefined;
      if (again) this.schedule(again);
    });
    return this.#running;
  }

  /**
   * Resynchronizes once the queue has drained (after an overflow: the storm that caused it first), and not
   * sooner than RESYNC_INTERVAL_MS after the last resync began (a storm that keeps overflowing the socket does
   * not turn into back-to-back rescans).
   */
  schedule(reason: string): void {
    if (this.#host.stopping()) return;
    if (this.#timer) clearTimeout(this.#timer);
    const wait = Math.max(200, this.#lastAt + RESYNC_INTERVAL_MS - nowMs());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#host.whenIdle().then(() => this.run(reason));
    }, wait);
  }

  async #run(reason: string, trigger: boolean): Promise<void> {
    const host = this.#host;
    if (!this.registry || host.stopping()) return;
    const t0 = nowMs();
    this.#lastAt = t0;
    this.flush();
    const plan = planResync(host.roots, this.registry, Math.max(1, kernelSeqnum(host.roots) ?? 1));
    host.log.warn({ reason, gone: plan.remove.length + plan.orphans.length, never: plan.add.length }, `resynchronizing with sysfs: ${reason}`);
    const st = this.stats;
    st.runs++;
    st.lastReason = reason;
    st.removed += plan.remove.length;
    st.orphans += plan.orphans.length;
    for (const ev of plan.remove) host.enqueue(ev);
    for (const id of plan.orphans) {
      try {
        cleanOrphan(host.roots, id, host.log);
      } catch (e) {
        host.log.error({ id, err: (e as Error).message }, 'resync: cannot clean up a gone device');
      }
    }
    let added = 0;
    let changed = 0;
    if (trigger) {
      // in batches, each received before the next is written, so the rescan itself cannot overflow the socket
      for (const [action, list] of [['add', plan.add], ['change', plan.change]] as const) {
        for (let i = 0; i < list.length && !host.stopping(); i += RESYNC_BATCH) {
          const n = triggerAll(list.slice(i, i + RESYNC_BATCH), action).triggered;
          if (action === 'add') {
            added += n;
            st.triggeredAdd += n;
          } else {
            changed += n;
            st.triggeredChange += n;
          }
          await host.catchUp();
        }
      }
    }
    host.log.info({ removed: plan.remove.length, orphans: plan.orphans.length, add: added, change: changed, ms: Math.round(nowMs() - t0) }, 'resync: events queued and triggered');
  }

  /** Writes the registry's changes (when the queue drains, and at exit); a failure is logged. */
  flush(): void {
    try {
      this.registry?.flush();
    } catch (e) {
      this.#host.log.error({ err: (e as Error).message }, 'cannot record device identities under <run>/devmaster');
    }
  }

  /** No further resync is scheduled; resolves when the running one is done. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  status(): Record<string, unknown> {
    return { ...this.stats, running: this.running, devicesRecorded: this.registry?.size ?? 0 };
  }
}
