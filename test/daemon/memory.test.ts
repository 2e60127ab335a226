// src/daemon/memory.ts: the daemon's full collections. One when the queue drains after the heap has grown by
// 2 MiB or more since the last one (a coldplug), none after a drained queue that left less (a hotplug's events),
// none while events keep coming; and during a storm one every 500 events once the heap has grown by 3 MiB.
import { afterEach, describe, expect, it } from 'vitest';
import { HeapKeeper } from '../../src/daemon/memory.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Objects that survive scavenges (kept in `held`), `mib` MiB of them. */
function grow(held: unknown[], mib: number): void {
  for (let i = 0; i < mib * 1024; i++) held.push(new Array(120).fill(i)); // ~1 KiB each
}

let keeper: HeapKeeper | undefined;
afterEach(() => keeper?.stop());

describe('HeapKeeper', () => {
  it('collects when the queue drains after the heap grew, not after a small growth, not while busy', async () => {
    keeper = new HeapKeeper();
    keeper.prepare();
    expect(keeper.available).toBe(true);
    let held: unknown[] = [];
    // the first drained queue: no collection to compare with yet, so one
    keeper.onIdle(() => true);
    await sleep(300);
    expect(keeper.collections).toBe(1);

    // a little more live data (a hotplug's worth): none
    grow(held, 0.25);
    keeper.onIdle(() => true);
    await sleep(300);
    expect(keeper.collections).toBe(1);

    // garbage of several MiB (a coldplug's), promoted to the old generation: one
    grow(held, 6);
    held = [];
    keeper.onIdle(() => true);
    await sleep(300);
    expect(keeper.collections).toBe(2);

    // the queue busy again when the timer fires: none
    grow(held, 6);
    held = [];
    keeper.onIdle(() => false);
    await sleep(300);
    expect(keeper.collections).toBe(2);
  });

  it('collects during a storm every 500 events once the heap has grown by 3 MiB', () => {
    keeper = new HeapKeeper();
    keeper.prepare();
    const held: unknown[] = [];
    for (let i = 0; i < 500; i++) keeper.onEvent();
    expect(keeper.collections).toBe(1); // the first check has nothing to compare with
    for (let i = 0; i < 500; i++) keeper.onEvent();
    expect(keeper.collections).toBe(1);
    grow(held, 5);
    for (let i = 0; i < 499; i++) keeper.onEvent();
    expect(keeper.collections).toBe(1);
    keeper.onEvent();
    expect(keeper.collections).toBe(2);
    expect(held.length).toBeGreaterThan(0);
  });
});
