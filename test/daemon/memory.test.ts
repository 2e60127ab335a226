// src/daemon/memory.ts: the daemon's full collections. One when the queue drains after the heap has grown by
// 2 MiB or more since the last one, or since the daemon was ready (a coldplug), none after a drained queue that left
// less (a hotplug's events), none while events keep coming; and during a storm one every 500 events once the heap
// has grown by 3 MiB; after a start, one once the queue is idle (none when V8 made one meanwhile); one after a drain
// that ends 100 events or more.
import { afterEach, describe, expect, it } from 'vitest';
import * as v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HeapKeeper } from '../../src/daemon/memory.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Objects that survive scavenges (kept in `held`), `mib` MiB of them. */
function grow(held: unknown[], mib: number): void {
  for (let i = 0; i < mib * 1024; i++) held.push(new Array(120).fill(i)); // ~1 KiB each
}

/** Tells `k` the queue drained (idle or busy again when its timer fires); its collections once that timer ran. */
async function afterDrain(k: HeapKeeper, idle: boolean): Promise<number> {
  k.onIdle(() => idle);
  await sleep(300);
  return k.collections;
}

/** The same after a start: collectWhenIdle(). */
async function afterStart(k: HeapKeeper, idle: boolean): Promise<number> {
  k.collectWhenIdle(() => idle);
  await sleep(300);
  return k.collections;
}

let keeper: HeapKeeper | undefined;
afterEach(() => keeper?.stop());

describe('HeapKeeper', () => {
  it('collects when the queue drains after the heap grew, not after a small growth, not while busy', async () => {
    keeper = new HeapKeeper();
    keeper.prepare();
    expect(keeper.available).toBe(true);
    let held: unknown[] = [];
    // the first drained queue after little growth since prepare() (the daemon's ready): none
    grow(held, 0.25);
    expect(await afterDrain(keeper!, true)).toBe(0);

    // several MiB more (a coldplug's): one
    grow(held, 6);
    expect(await afterDrain(keeper!, true)).toBe(1);
    held = [];

    // a little more live data (a hotplug's worth): none
    grow(held, 0.25);
    expect(await afterDrain(keeper!, true)).toBe(1);

    // garbage of several MiB (a coldplug's), promoted to the old generation: one
    grow(held, 6);
    held = [];
    expect(await afterDrain(keeper!, true)).toBe(2);

    // the queue busy again when the timer fires: none
    grow(held, 6);
    held = [];
    expect(await afterDrain(keeper!, false)).toBe(2);
  });

  it('collects during a storm every 500 events once the heap has grown by 3 MiB', () => {
    keeper = new HeapKeeper();
    keeper.prepare();
    const held: unknown[] = [];
    // the first check compares with the heap at prepare() (the daemon's ready): no collection of the start's heap
    for (let i = 0; i < 500; i++) keeper.onEvent();
    expect(keeper.collections).toBe(0);
    grow(held, 5);
    for (let i = 0; i < 499; i++) keeper.onEvent();
    expect(keeper.collections).toBe(0);
    keeper.onEvent();
    expect(keeper.collections).toBe(1);
    for (let i = 0; i < 500; i++) keeper.onEvent();
    expect(keeper.collections).toBe(1);
    expect(held.length).toBeGreaterThan(0);
  });

  it('collects after a start once idle whatever the growth, or at the next drain when events came first', async () => {
    keeper = new HeapKeeper();
    keeper.prepare();
    expect(await afterStart(keeper!, true)).toBe(1);
    // owed no more: a drained queue with little growth makes none
    expect(await afterDrain(keeper!, true)).toBe(1);

    // busy when the timer fires: none yet, but one at the drained queue after the events, however little they left
    expect(await afterStart(keeper!, false)).toBe(1);
    expect(await afterDrain(keeper!, true)).toBe(2);
  });

  it("does not collect after a start when V8 has made a full collection of its own meanwhile", async () => {
    keeper = new HeapKeeper();
    keeper.prepare();
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
    let held: unknown[] = [];
    grow(held, 6);
    gc({ type: 'minor' }); // two scavenges: what survives them is in the old space
    gc({ type: 'minor' });
    keeper.collectWhenIdle(() => true);
    held = [];
    gc(); // V8's own, as far as the keeper can tell
    await sleep(300);
    expect(keeper.collections).toBe(0);
    expect(keeper.collectionsSkipped).toBe(1);
    // what follows is measured from the heap V8 left: a hotplug's growth makes none
    grow(held, 0.25);
    expect(await afterDrain(keeper!, true)).toBe(0);
  });

  it('collects when the queue drains after 100 events or more (a coldplug), whatever the growth', async () => {
    keeper = new HeapKeeper();
    keeper.prepare();
    for (let i = 0; i < 99; i++) keeper.onEvent();
    expect(await afterDrain(keeper!, true)).toBe(0);
    keeper.onEvent();
    expect(await afterDrain(keeper!, true)).toBe(1);
    // counted from that collection: a hotplug's few events after it make none
    for (let i = 0; i < 4; i++) keeper.onEvent();
    expect(await afterDrain(keeper!, true)).toBe(1);
  });
});

