// The event queue: kernel events in, ordered and concurrent processing out.
//
// Ordering (udev's event_is_blocked): an event waits for every EARLIER event still queued or running that
//   - has the same devpath, or whose devpath is an ancestor or a descendant of this one,
//   - has this event's DEVPATH_OLD as its devpath (or the other way round),
//   - has the same device number (block and char kept apart) or the same network interface index.
// Everything else runs concurrently, up to `childrenMax` events at once. Blockers are found through
// indexes (devpath, every ancestor prefix, devnum, ifindex), so a queue of thousands stays cheap: each
// waiting event remembers one blocker and is only re-examined when that blocker leaves the queue.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tryOr, unlinkIfAny } from '../util/fs.js';
import { nowMs } from '../util/clock.js';

export interface QueueItem {
  /** Kernel sequence number (0 when the event had none). */
  seqnum: number;
  /** Arrival order, used for all ordering decisions (kernel events arrive in seqnum order). */
  readonly order: number;
  devpath: string;
  devpathOld?: string;
  /** "b8:0" / "c1:3" or undefined. */
  devnumKey?: string;
  ifindex?: number;
  action: string;
  state: 'queued' | 'running';
  /** Milliseconds (nowMs()) when queued and when started. */
  queuedAt: number;
  startedAt?: number;
}

export interface QueueInput<T> {
  seqnum?: number;
  devpath: string;
  devpathOld?: string;
  devnumKey?: string;
  ifindex?: number;
  action: string;
  payload: T;
}

/** How long the queue flag outlives the last event (see #clearFlagSoon). */
export const FLAG_LINGER_MS = 10;

interface Entry<T> extends QueueItem {
  payload: T;
  /** Set while the event waits to be retried (a worker answered Retry). */
  retryTimer?: NodeJS.Timeout;
  blocker?: Entry<T>;
  /** Ancestor prefixes of devpath (without devpath itself), computed when first needed (#prefixesOf). */
  prefixes: string[] | undefined;
  /** Whether the entry is in the indexes: an event started at once into an empty queue is only if it waits. */
  indexed: boolean;
  done: boolean;
}

/** What a worker returns to have its event put back and started again later (udevd's requeue). */
export interface Retry {
  retryAfterMs: number;
}

export interface QueueOptions<T> {
  childrenMax: number;
  /**
   * Processes one event: it is finished when the worker returns, or when the promise it returns settles; a Retry
   * puts it back: it stays queued (later events of the same device keep waiting for it) and starts again after
   * the delay. (Most events never wait: returning at once spares them a promise and a turn of the microtasks.)
   */
  worker: (payload: T, item: QueueItem) => void | Retry | Promise<void | Retry>;
  /** Directory where the "queue" flag file is kept while events are pending (udev's /run/udev/queue). */
  runDir?: string;
  onError?: (err: unknown, item: QueueItem) => void;
  /** The queue drained: its last event finished (called synchronously, once per drain). */
  onIdle?: () => void;
}

function ancestors(devpath: string): string[] {
  const out: string[] = [];
  let i = devpath.lastIndexOf('/');
  while (i > 0) {
    out.push(devpath.slice(0, i));
    i = devpath.lastIndexOf('/', i - 1);
  }
  return out;
}

/** Above this many keys, a key whose set empties is dropped; below, its empty set is kept for the next event. */
const KEEP_EMPTY_KEYS = 1024;

class MultiIndex<K, V> {
  readonly map = new Map<K, Set<V>>();
  add(k: K, v: V): void {
    let s = this.map.get(k);
    if (!s) this.map.set(k, (s = new Set()));
    s.add(v);
  }
  delete(k: K, v: V): void {
    const s = this.map.get(k);
    if (!s) return;
    s.delete(v);
    // a storm the daemon keeps up with empties the sets of a device's keys after each of its events
    if (s.size === 0 && this.map.size > KEEP_EMPTY_KEYS) this.map.delete(k);
  }
  get(k: K): Set<V> | undefined {
    return this.map.get(k);
  }
}

export class EventQueue<T> {
  #childrenMax: number;
  #worker: QueueOptions<T>['worker'];
  #onError: QueueOptions<T>['onError'];
  #onIdle: QueueOptions<T>['onIdle'];
  #runDir: string | undefined;
  #order = 0;
  #entries = new Set<Entry<T>>();
  #byDevpath = new MultiIndex<string, Entry<T>>();
  /** Every pending event indexed under each of its ancestor prefixes (to find descendants). */
  #byPrefix = new MultiIndex<string, Entry<T>>();
  #byDevnum = new MultiIndex<string, Entry<T>>();
  #byIfindex = new MultiIndex<number, Entry<T>>();
  #byDevpathOld = new MultiIndex<string, Entry<T>>();
  /** Events waiting on a given blocker. */
  #waiters = new Map<Entry<T>, Entry<T>[]>();
  /** Unblocked, not yet started, in arrival order. */
  #ready: Entry<T>[] = [];
  #running = 0;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];
  #flagPresent = false;
  /** Totals since start. */
  readonly stats = { queued: 0, processed: 0, failed: 0, retried: 0, maxQueued: 0, lastSeqnum: 0 };

  constructor(opts: QueueOptions<T>) {
    this.#childrenMax = Math.max(1, opts.childrenMax);
    this.#worker = opts.worker;
    this.#onError = opts.onError;
    this.#onIdle = opts.onIdle;
    this.#runDir = opts.runDir;
  }

  /** Removes a flag file left by a previous daemon (call once this daemon owns the run root). */
  resetFlag(): void {
    if (this.#entries.size === 0) this.#clearFlag(true);
  }

  get childrenMax(): number {
    return this.#childrenMax;
  }

  set childrenMax(n: number) {
    this.#childrenMax = Math.max(1, Math.floor(n));
    this.#dispatch();
  }

  /** Events queued or running. */
  get size(): number {
    return this.#entries.size;
  }

  get running(): number {
    return this.#running;
  }

  get isIdle(): boolean {
    return this.#entries.size === 0;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Stops starting new events (running ones finish); events keep queueing. */
  stop(): void {
    this.#stopped = true;
  }

  start(): void {
    this.#stopped = false;
    this.#dispatch();
  }

  /** A snapshot of the queue, oldest first. */
  items(): QueueItem[] {
    return [...this.#entries].map(({ seqnum, order, devpath, devpathOld, devnumKey, ifindex, action, state, queuedAt, startedAt }) => ({
      seqnum, order, devpath, devpathOld, devnumKey, ifindex, action, state, queuedAt, startedAt,
    }));
  }

  push(input: QueueInput<T>): QueueItem {
    const e: Entry<T> = {
      seqnum: input.seqnum ?? 0,
      order: ++this.#order,
      devpath: input.devpath,
      devpathOld: input.devpathOld,
      devnumKey: input.devnumKey,
      ifindex: input.ifindex,
      action: input.action,
      state: 'queued',
      queuedAt: nowMs(),
      payload: input.payload,
      prefixes: undefined,
      indexed: false,
      done: false,
    };
    // An event pushed into an empty queue that may start now (most of a coldplug's, of a storm the daemon keeps up
    // with) has no blocker and starts at once: it enters the indexes only if it is still running when its worker
    // returns (it waits for a program, a builtin, a lock), or when its worker pushes another event (#conflictsWith).
    const inline = this.#entries.size === 0 && !this.#stopped && !this.#dispatching && this.#running < this.#childrenMax;
    // Every entry present now is earlier than e: the latest conflicting one is its blocker.
    const blocker = inline ? undefined : this.#findBlocker(e);
    if (!inline) this.#index(e);
    this.#entries.add(e);
    this.stats.queued++;
    if (e.seqnum > this.stats.lastSeqnum) this.stats.lastSeqnum = e.seqnum;
    if (this.#entries.size > this.stats.maxQueued) this.stats.maxQueued = this.#entries.size;
    this.#setFlag();
    if (inline) {
      this.#inline = e;
      this.#dispatching = true;
      try {
        this.#run(e);
      } finally {
        this.#dispatching = false;
        this.#inline = undefined;
        if (!e.done && !e.indexed) this.#index(e);
      }
    } else if (blocker) this.#wait(e, blocker);
    else this.#ready.push(e);
    this.#dispatch();
    return e;
  }

  /** The event started by push() without entering the indexes, while its worker runs. */
  #inline: Entry<T> | undefined;

  /**
   * The events `fill` pushes, with the queue's drain (onIdle, and whatever waits for the queue to be idle) told
   * once, after the last of them: events that finish as they start would otherwise drain it after each.
   */
  batch(fill: () => void): void {
    if (this.#batching) return fill();
    this.#batching = true;
    try {
      fill();
    } finally {
      this.#batching = false;
      if (this.#entries.size === 0) this.#becameIdle();
    }
  }

  /** True while batch() runs: the queue's drain is told when it ends. */
  #batching = false;

  /** Resolves when the queue is empty (immediately if it is), or with false after timeoutMs. */
  whenIdle(timeoutMs?: number): Promise<boolean> {
    if (this.isIdle) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.#idleWaiters.push(done);
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const i = this.#idleWaiters.indexOf(done);
          if (i >= 0) this.#idleWaiters.splice(i, 1);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /**
   * Drops every event that has not started yet (used at exit: running events finish, queued ones are
   * abandoned as udevd does, or handed to `onDrop` in queue order to be kept). Returns how many were dropped.
   */
  dropQueued(onDrop?: (payload: T) => void): number {
    let n = 0;
    for (const e of [...this.#entries]) {
      if (e.state !== 'queued') continue;
      n++;
      onDrop?.(e.payload);
      e.done = true;
      this.#entries.delete(e);
      this.#unindex(e);
    }
    this.#ready = [];
    for (const [b, ws] of this.#waiters) {
      const keep = ws.filter((w) => !w.done);
      if (b.done || keep.length === 0) this.#waiters.delete(b);
      else this.#waiters.set(b, keep);
    }
    if (this.#entries.size === 0) this.#becameIdle();
    return n;
  }

  // ------------------------------------------------------------------ internals

  #conflictsWith(e: Entry<T>, visit: (o: Entry<T>) => void): void {
    // an event started inline whose worker pushes another (a test's, a synthesized one) is a blocker like any other
    if (this.#inline !== undefined && !this.#inline.indexed) this.#index(this.#inline);
    const same = this.#byDevpath.get(e.devpath);
    if (same) same.forEach(visit);
    const prefixes = this.#prefixesOf(e);
    for (let i = 0; i < prefixes.length; i++) this.#byDevpath.get(prefixes[i]!)?.forEach(visit);
    this.#byPrefix.get(e.devpath)?.forEach(visit);
    if (e.devpathOld) {
      this.#byDevpath.get(e.devpathOld)?.forEach(visit);
    }
    this.#byDevpathOld.get(e.devpath)?.forEach(visit);
    if (e.devnumKey) this.#byDevnum.get(e.devnumKey)?.forEach(visit);
    if (e.ifindex !== undefined) this.#byIfindex.get(e.ifindex)?.forEach(visit);
  }

  /** The latest pending event earlier than e that e must wait for. */
  #findBlocker(e: Entry<T>): Entry<T> | undefined {
    let best: Entry<T> | undefined;
    this.#conflictsWith(e, (o) => {
      if (o !== e && !o.done && o.order < e.order && (!best || o.order > best.order)) best = o;
    });
    return best;
  }

  #prefixesOf(e: Entry<T>): string[] {
    return (e.prefixes ??= ancestors(e.devpath));
  }

  #index(e: Entry<T>): void {
    e.indexed = true;
    this.#byDevpath.add(e.devpath, e);
    const prefixes = this.#prefixesOf(e);
    for (let i = 0; i < prefixes.length; i++) this.#byPrefix.add(prefixes[i]!, e);
    if (e.devpathOld) this.#byDevpathOld.add(e.devpathOld, e);
    if (e.devnumKey) this.#byDevnum.add(e.devnumKey, e);
    if (e.ifindex !== undefined) this.#byIfindex.add(e.ifindex, e);
  }

  #unindex(e: Entry<T>): void {
    if (!e.indexed) return;
    e.indexed = false;
    this.#byDevpath.delete(e.devpath, e);
    const prefixes = e.prefixes!;
    for (let i = 0; i < prefixes.length; i++) this.#byPrefix.delete(prefixes[i]!, e);
    if (e.devpathOld) this.#byDevpathOld.delete(e.devpathOld, e);
    if (e.devnumKey) this.#byDevnum.delete(e.devnumKey, e);
    if (e.ifindex !== undefined) this.#byIfindex.delete(e.ifindex, e);
  }

  #wait(e: Entry<T>, blocker: Entry<T>): void {
    e.blocker = blocker;
    let list = this.#waiters.get(blocker);
    if (!list) this.#waiters.set(blocker, (list = []));
    list.push(e);
  }

  #insertReady(e: Entry<T>): void {
    // Keep #ready in arrival order (binary search; usually appends).
    const r = this.#ready;
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid]!.order < e.order) lo = mid + 1;
      else hi = mid;
    }
    r.splice(lo, 0, e);
  }

  /** True while #dispatch() runs: an event finished inside it (a worker that returned at once) starts no other. */
  #dispatching = false;

  #dispatch(): void {
    // the loop takes up what an event that finished meanwhile made ready: no recursion, however many finish at once
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      while (!this.#stopped && this.#running < this.#childrenMax && this.#ready.length > 0) {
        const e = this.#ready.shift()!;
        this.#run(e);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #run(e: Entry<T>): void {
    e.state = 'running';
    e.startedAt = nowMs();
    this.#running++;
    let r: void | Retry | Promise<void | Retry>;
    try {
      r = this.#worker(e.payload, e);
    } catch (err) {
      this.#failed(e, err);
      return;
    }
    if (r instanceof Promise) r.then((v) => this.#done(e, v), (err: unknown) => this.#failed(e, err));
    else this.#done(e, r);
  }

  #done(e: Entry<T>, r: void | Retry): void {
    if (r) this.#retry(e, r.retryAfterMs);
    else this.#finish(e, false);
  }

  #failed(e: Entry<T>, err: unknown): void {
    try {
      this.#onError?.(err, e);
    } finally {
      this.#finish(e, true);
    }
  }

  #retry(e: Entry<T>, ms: number): void {
    if (e.done) return;
    e.state = 'queued';
    e.startedAt = undefined;
    this.stats.retried++;
    this.#running--;
    e.retryTimer = setTimeout(() => this.#retryDue(e), ms);
    e.retryTimer.unref?.();
    this.#dispatch();
  }

  #retryDue(e: Entry<T>): void {
    e.retryTimer = undefined;
    if (e.done) return; // dropped meanwhile
    this.#insertReady(e);
    this.#dispatch();
  }

  /** Retries at once the events waiting to be retried that `pred` picks; returns how many. */
  retryNow(pred: (item: QueueItem) => boolean): number {
    let n = 0;
    for (const e of this.#entries) {
      if (!e.retryTimer || !pred(e)) continue;
      clearTimeout(e.retryTimer);
      this.#retryDue(e);
      n++;
    }
    return n;
  }

  #finish(e: Entry<T>, failed: boolean): void {
    if (e.done) return;
    e.done = true;
    this.#running--;
    if (failed) this.stats.failed++;
    else this.stats.processed++;
    this.#entries.delete(e);
    this.#unindex(e);
    const waiting = this.#waiters.get(e);
    if (waiting) {
      this.#waiters.delete(e);
      for (const w of waiting) {
        w.blocker = undefined;
        const b = this.#findBlocker(w);
        if (b) this.#wait(w, b);
        else this.#insertReady(w);
      }
    }
    this.#dispatch();
    if (this.#entries.size === 0) this.#becameIdle();
  }

  #becameIdle(): void {
    if (this.#batching) return; // told when the batch ends
    this.#clearFlagSoon();
    this.#onIdle?.();
    const ws = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of ws) w();
  }

  #setFlag(): void {
    if (this.#flagPresent || !this.#runDir) return;
    this.#flagPresent = true;
    // the flag is advisory (udevadm settle compatibility): a run root that refuses it changes nothing else
    tryOr(() => {
      mkdirSync(this.#runDir!, { recursive: true });
      writeFileSync(join(this.#runDir!, 'queue'), '');
    }, undefined);
  }

  #clearFlag(force: boolean): void {
    if ((!this.#flagPresent && !force) || !this.#runDir) return;
    this.#flagPresent = false;
    unlinkIfAny(join(this.#runDir, 'queue'));
  }

  #flagTimer: NodeJS.Timeout | undefined;

  /**
   * The flag goes FLAG_LINGER_MS after the queue drained, unless an event came meanwhile: a storm the daemon keeps
   * up with drains the queue between two events, and would otherwise create and remove the file for each of them.
   */
  #clearFlagSoon(): void {
    if (!this.#flagPresent) return;
    if (this.#flagTimer) return void this.#flagTimer.refresh();
    this.#flagTimer = setTimeout(() => {
      this.#flagTimer = undefined;
      if (this.#entries.size === 0) this.#clearFlag(false);
    }, FLAG_LINGER_MS);
    this.#flagTimer.unref();
  }

  /** The daemon stops: the flag goes now if the queue is empty (it stays for whatever is left, as udevd's). */
  close(): void {
    clearTimeout(this.#flagTimer);
    this.#flagTimer = undefined;
    if (this.#entries.size === 0) this.#clearFlag(false);
  }
}
