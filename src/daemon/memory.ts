// Keeps the daemon's heap close to its live data. V8 grows the old generation lazily: under a long event storm
// the heap fills with garbage that a full collection would free, and RSS creeps up by megabytes per thousand
// events although nothing leaks (live data stays ~10 MB with Debian's rules). A full collection of such a small
// heap takes a few milliseconds, so the daemon asks for one when the queue drains after the heap has grown by
// IDLE_GROWTH since the last one, and during a storm whenever it has grown by GROWTH (checked every 500 events).
import { createRequire } from 'node:module';
import { runInNewContext } from 'node:vm';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): node:v8 and the context gc() comes from
// cost ~9 ms under the daemon's V8 flags, taken when the queue first drains, not before the daemon is ready.
const require = createRequire(import.meta.url);
const v8 = (): typeof import('node:v8') => require('node:v8') as typeof import('node:v8');

function obtainGc(): (() => void) | undefined {
  const have = (globalThis as { gc?: () => void }).gc;
  if (typeof have === 'function') return have;
  v8().setFlagsFromString('--expose-gc');
  try {
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch (e) {
    if (e instanceof ReferenceError) return undefined; // the flag did not take: no gc()
    throw e;
  }
}

/** Heap growth (bytes) since the last full collection that triggers one during a storm. */
const GROWTH = 3 * 1024 * 1024;
/**
 * Heap growth since the last full collection below which a drained queue is not followed by one: a hotplug's few
 * events leave 0.5-0.8 MB, mostly in the young generation that scavenges free anyway, and a full collection costs
 * several milliseconds of CPU; a coldplug leaves ten times that.
 */
const IDLE_GROWTH = 2 * 1024 * 1024;
/**
 * Events since the last full collection from which a drained queue is followed by one whatever the growth (a
 * coldplug's hundreds): what a coldplug leaves can sit just under IDLE_GROWTH, and the next hotplug's few events
 * would then tip it, their drain paying for the coldplug's garbage.
 */
const IDLE_EVENTS = 100;
/**
 * A drop of the old generation by this much means V8 made a full collection of its own (collectWhenIdle's is then
 * not owed): scavenges only add to it.
 */
const COLLECTED_DROP = 1024 * 1024;

/** Bytes used in V8's old space (what only a full collection frees). */
function oldSpaceUsed(): number {
  for (const space of v8().getHeapSpaceStatistics()) if (space.space_name === 'old_space') return space.space_used_size;
  return 0;
}

export class HeapKeeper {
  /** null until first needed. */
  #gcFn: (() => void) | undefined | null = null;
  #liveAfterGc = 0;
  #events = 0;
  /** #events at the last full collection. */
  #eventsAtGc = 0;
  /** A collection asked for by collectWhenIdle() and not made yet, and the old space's size when it was asked for. */
  #owed = false;
  #owedAt = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  collections = 0;
  /** Collections owed after a start or a reload and not made, V8 having made one of its own meanwhile. */
  collectionsSkipped = 0;

  get #gc(): (() => void) | undefined {
    if (this.#gcFn === null) this.#gcFn = obtainGc();
    return this.#gcFn;
  }

  /**
   * Obtains gc() now (the daemon, once ready: not at the first drained queue, right after an event), and takes the
   * heap as it is as the measure of the growth that calls for a collection. (With none to compare with, the first
   * check during a storm collected at once: a full collection of the start's heap, 10-20 ms in the middle of it.)
   */
  prepare(): void {
    if (this.#gc) this.#liveAfterGc = v8().getHeapStatistics().used_heap_size;
  }

  /** Never obtains gc() (the build's rehearsal: the flag behind it would change the flag hash of its code caches). */
  forgo(): void {
    this.#gcFn = undefined;
  }

  get available(): boolean {
    return this.#gc !== undefined;
  }

  #collect(): void {
    if (!this.#gc) return;
    this.#gc();
    this.collections++;
    this.#collected(v8().getHeapStatistics().used_heap_size);
  }

  /** After a full collection (ours, or V8's own told by its old space's drop): what later growth is measured from. */
  #collected(used: number): void {
    this.#owed = false;
    this.#liveAfterGc = used;
    this.#eventsAtGc = this.#events;
  }

  /** Whether the heap has grown by more than `bytes` since the last full collection (or since prepare()). */
  #grown(bytes: number): boolean {
    return this.#liveAfterGc === 0 || v8().getHeapStatistics().used_heap_size > this.#liveAfterGc + bytes;
  }

  /** Call once per processed event. */
  onEvent(): void {
    if (++this.#events % 500 !== 0 || !this.#gc) return;
    if (this.#grown(GROWTH)) this.#collect();
  }

  /** Call when the queue drained: collect shortly after, unless events arrive meanwhile or the heap has hardly grown. */
  onIdle(isIdle: () => boolean): void {
    if (!this.#gc) return;
    this.#isIdle = isIdle;
    // a storm the daemon keeps up with drains the queue after each event: one timer, pushed back each time
    if (this.#idleTimer) return void this.#idleTimer.refresh();
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (!this.#isIdle()) return;
      if (this.#owed && oldSpaceUsed() < this.#owedAt - COLLECTED_DROP) {
        this.collectionsSkipped++; // V8 made it meanwhile
        return this.#collected(v8().getHeapStatistics().used_heap_size);
      }
      if (this.#owed || this.#events - this.#eventsAtGc >= IDLE_EVENTS || this.#grown(IDLE_GROWTH)) this.#collect();
    }, 250);
    this.#idleTimer.unref();
  }

  /**
   * A start (or a reload) is done: collect its garbage once the queue has been idle a moment, whatever the heap's
   * growth; if events come first, at the drained queue after them. A fresh daemon's heap sits just under V8's first
   * limit for the old generation, and the first events to allocate (a hotplug's) would otherwise pay a full
   * marking of the start's heap, 10-15 ms on this machine, in the middle of their work.
   */
  collectWhenIdle(isIdle: () => boolean): void {
    if (!this.#gc) return;
    this.#owed = true;
    this.#owedAt = oldSpaceUsed();
    this.onIdle(isIdle);
  }

  #isIdle: () => boolean = () => false;

  stop(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
  }
}
