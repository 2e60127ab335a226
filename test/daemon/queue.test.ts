import { describe, it, expect } from 'vitest';
import { mkdtempSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventQueue, FLAG_LINGER_MS, type QueueInput } from '../../src/daemon/queue.js';

interface P { name: string; ms: number }

function harness(childrenMax: number, runDir?: string) {
  const log: string[] = [];
  let active = 0;
  let maxActive = 0;
  const q = new EventQueue<P>({
    childrenMax,
    runDir,
    worker: async (p) => {
      active++;
      maxActive = Math.max(maxActive, active);
      log.push(`start ${p.name}`);
      await new Promise((r) => setTimeout(r, p.ms));
      log.push(`end ${p.name}`);
      active--;
      if (p.name.startsWith('fail')) throw new Error('boom');
    },
  });
  const push = (name: string, devpath: string, ms: number, extra: Partial<QueueInput<P>> = {}) =>
    q.push({ devpath, action: 'change', payload: { name, ms }, ...extra });
  return { q, log, push, maxActive: () => maxActive };
}

describe('EventQueue ordering', () => {
  it('serializes events of the same device and of parent/child devpaths, in arrival order', async () => {
    const h = harness(8);
    h.push('a1', '/devices/x/a', 30);
    h.push('child', '/devices/x/a/b', 5);
    h.push('a2', '/devices/x/a', 5);
    h.push('parent', '/devices/x', 5);
    await h.q.whenIdle(2000);
    expect(h.log).toEqual(['start a1', 'end a1', 'start child', 'end child', 'start a2', 'end a2', 'start parent', 'end parent']);
  });

  it('runs unrelated devices concurrently, bounded by childrenMax', async () => {
    const h = harness(3);
    for (let i = 0; i < 9; i++) h.push(`d${i}`, `/devices/virtual/dev${i}`, 20);
    expect(h.q.running).toBe(3);
    expect(h.q.size).toBe(9);
    expect(await h.q.whenIdle(2000)).toBe(true);
    expect(h.maxActive()).toBe(3);
    expect(h.q.stats.processed).toBe(9);
  });

  it('orders by devnum, ifindex and DEVPATH_OLD even when devpaths differ; siblings are not blocked', async () => {
    const h = harness(8);
    h.push('n1', '/devices/virtual/net/eth0', 30, { ifindex: 7 });
    h.push('n2', '/devices/virtual/net/lan0', 5, { ifindex: 7, devpathOld: '/devices/virtual/net/eth0' });
    h.push('b1', '/devices/virtual/block/loop0', 30, { devnumKey: 'b7:0' });
    h.push('b2', '/devices/other/loop0', 5, { devnumKey: 'b7:0' });
    h.push('c', '/devices/other/char0', 5, { devnumKey: 'c7:0' });
    h.push('sib', '/devices/virtual/block/loop1', 5);
    await h.q.whenIdle(2000);
    const idx = (s: string) => h.log.indexOf(s);
    expect(idx('start n2')).toBeGreaterThan(idx('end n1'));
    expect(idx('start b2')).toBeGreaterThan(idx('end b1'));
    expect(idx('end c')).toBeLessThan(idx('end b1'));
    expect(idx('end sib')).toBeLessThan(idx('end b1'));
  });

  it('a prefix that is not a path boundary does not block (/a/b vs /a/bc)', async () => {
    const h = harness(8);
    h.push('long', '/devices/a/b', 40);
    h.push('other', '/devices/a/bc', 5);
    await h.q.whenIdle(2000);
    expect(h.log.indexOf('end other')).toBeLessThan(h.log.indexOf('end long'));
  });

  it('a failing event releases its dependants and is counted', async () => {
    const h = harness(2);
    h.push('fail1', '/devices/f', 5);
    h.push('after', '/devices/f', 5);
    await h.q.whenIdle(2000);
    expect(h.log).toContain('end after');
    expect(h.q.stats.failed).toBe(1);
    expect(h.q.stats.processed).toBe(1);
  });

  it('stop keeps events queued, start resumes; whenIdle times out while stopped', async () => {
    const h = harness(4);
    h.q.stop();
    h.push('s', '/devices/s', 1);
    expect(await h.q.whenIdle(50)).toBe(false);
    expect(h.log).toEqual([]);
    h.q.start();
    expect(await h.q.whenIdle(1000)).toBe(true);
    expect(h.log).toEqual(['start s', 'end s']);
  });

  it('keeps the queue flag file while events are pending', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-queue-'));
    try {
      writeFileSync(join(dir, 'queue'), ''); // stale, from a previous daemon
      const h = harness(1, dir);
      expect(existsSync(join(dir, 'queue'))).toBe(true);
      h.q.resetFlag();
      expect(existsSync(join(dir, 'queue'))).toBe(false);
      h.push('x', '/devices/x', 20);
      expect(existsSync(join(dir, 'queue'))).toBe(true);
      await h.q.whenIdle(1000);
      // it outlives the queue by FLAG_LINGER_MS (no timer can have run yet), then goes
      expect(existsSync(join(dir, 'queue'))).toBe(true);
      await new Promise((r) => setTimeout(r, FLAG_LINGER_MS * 5));
      expect(existsSync(join(dir, 'queue'))).toBe(false);
      h.push('z', '/devices/z', 1);
      await h.q.whenIdle(1000);
      h.q.close(); // a stopping daemon removes it at once
      expect(existsSync(join(dir, 'queue'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('handles a storm of 3000 events on one device in order, quickly', async () => {
    const order: number[] = [];
    const q = new EventQueue<number>({ childrenMax: 8, worker: async (n) => { order.push(n); } });
    const t0 = performance.now();
    for (let i = 0; i < 3000; i++) q.push({ devpath: i % 2 ? '/devices/a/b' : '/devices/a', action: 'change', payload: i });
    await q.whenIdle(10_000);
    expect(order).toEqual([...Array(3000).keys()]);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe('EventQueue exit', () => {
  it('dropQueued abandons waiting events; running ones finish', async () => {
    const h = harness(1);
    h.push('run', '/devices/r', 30);
    h.push('wait1', '/devices/r', 5);
    h.push('wait2', '/devices/q', 5);
    expect(h.q.dropQueued()).toBe(2);
    expect(h.q.size).toBe(1);
    expect(await h.q.whenIdle(1000)).toBe(true);
    expect(h.log).toEqual(['start run', 'end run']);
  });
});

describe('EventQueue retries (a worker answering { retryAfterMs })', () => {
  it('puts the event back: its slot is free meanwhile, later events of the device wait, unrelated ones run', async () => {
    const log: string[] = [];
    let tries = 0;
    const q = new EventQueue<{ name: string }>({
      childrenMax: 1,
      worker: async (p) => {
        log.push(`start ${p.name}`);
        if (p.name === 'locked' && ++tries < 3) return { retryAfterMs: 40 };
        log.push(`end ${p.name}`);
        return undefined;
      },
    });
    q.push({ devpath: '/devices/disk', action: 'change', payload: { name: 'locked' } });
    q.push({ devpath: '/devices/disk/part1', action: 'change', payload: { name: 'partition' } });
    q.push({ devpath: '/devices/other', action: 'change', payload: { name: 'other' } });
    await new Promise((r) => setTimeout(r, 10));
    // with one slot, "other" ran while "locked" waited; the partition waits for its disk
    expect(log).toEqual(['start locked', 'start other', 'end other']);
    expect(q.size).toBe(2);
    expect(await q.whenIdle(2000)).toBe(true);
    expect(log).toEqual(['start locked', 'start other', 'end other', 'start locked', 'start locked', 'end locked', 'start partition', 'end partition']);
    expect(q.stats).toMatchObject({ processed: 3, failed: 0, retried: 2 });
  });

  it('an event waiting to be retried is dropped at exit like any queued one', async () => {
    const q = new EventQueue<null>({ childrenMax: 2, worker: async () => ({ retryAfterMs: 30 }) });
    q.push({ devpath: '/devices/disk', action: 'change', payload: null });
    await new Promise((r) => setTimeout(r, 5));
    expect(q.dropQueued()).toBe(1);
    expect(q.isIdle).toBe(true);
    await new Promise((r) => setTimeout(r, 50)); // the retry timer finds it gone
    expect(q.stats.retried).toBe(1);
    expect(q.isIdle).toBe(true);
  });
});

describe('EventQueue with a worker that returns at once', () => {
  it('finishes such events as the worker returns, tens of thousands in a row without recursion, in order', () => {
    const done: number[] = [];
    let idle = 0;
    const q = new EventQueue<number>({ childrenMax: 8, worker: (n) => void done.push(n), onIdle: () => idle++ });
    const N = 50_000;
    // pushed one by one, each is over when push() returns
    for (let i = 0; i < 10; i++) q.push({ devpath: `/devices/virtual/mem/d${i}`, action: 'change', payload: i });
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(idle).toBe(10);
    // all ready at once (queued while stopped): one loop takes them, each finished event making room for the next
    done.length = 0;
    q.stop();
    for (let i = 0; i < N; i++) q.push({ devpath: `/devices/virtual/mem/d${i % 7}`, action: 'change', payload: i });
    expect(done.length).toBe(0);
    q.start();
    expect(done.length).toBe(N);
    expect(done.every((n, i) => n === i)).toBe(true);
    expect(q.isIdle).toBe(true);
    expect(q.running).toBe(0);
    expect(q.stats.processed).toBe(N + 10);
    expect(idle).toBe(11);
  });

  it('starts what an event finished at once made ready, and mixes with events that wait', async () => {
    const log: string[] = [];
    let release!: () => void;
    const q = new EventQueue<string>({
      childrenMax: 2,
      worker: (name) => {
        log.push(`start ${name}`);
        if (name !== 'slow') return void log.push(`end ${name}`);
        return new Promise<void>((r) => (release = r)).then(() => void log.push('end slow'));
      },
    });
    q.push({ devpath: '/devices/x', action: 'change', payload: 'slow' });
    q.push({ devpath: '/devices/x/a', action: 'change', payload: 'child' }); // waits for its parent
    q.push({ devpath: '/devices/y', action: 'change', payload: 'y1' });
    q.push({ devpath: '/devices/y', action: 'change', payload: 'y2' });
    expect(log).toEqual(['start slow', 'start y1', 'end y1', 'start y2', 'end y2']);
    expect(q.running).toBe(1);
    release();
    expect(await q.whenIdle(2000)).toBe(true);
    expect(log.slice(5)).toEqual(['end slow', 'start child', 'end child']);
  });

  it('counts a worker that throws as failed and reports it; a Retry returned at once puts the event back', async () => {
    const errors: string[] = [];
    let tries = 0;
    const q = new EventQueue<string>({
      childrenMax: 4,
      worker: (name) => {
        if (name === 'bad') throw new Error('boom');
        if (name === 'busy' && ++tries < 3) return { retryAfterMs: 10 };
      },
      onError: (e, item) => errors.push(`${item.devpath}: ${(e as Error).message}`),
    });
    q.push({ devpath: '/devices/bad', action: 'change', payload: 'bad' });
    q.push({ devpath: '/devices/busy', action: 'change', payload: 'busy' });
    q.push({ devpath: '/devices/busy', action: 'change', payload: 'after' }); // keeps waiting for its retried blocker
    expect(errors).toEqual(['/devices/bad: boom']);
    expect(q.stats.failed).toBe(1);
    expect(q.size).toBe(2);
    expect(await q.whenIdle(2000)).toBe(true);
    expect(tries).toBe(3);
    expect(q.stats.retried).toBe(2);
    expect(q.stats.processed).toBe(2);
  });

  it('an event started into an empty queue still blocks what its own worker pushes for the same device', async () => {
    const log: string[] = [];
    let release!: () => void;
    const q: EventQueue<string> = new EventQueue<string>({
      childrenMax: 4,
      worker: (name) => {
        log.push(`start ${name}`);
        if (name === 'first') {
          // pushed while 'first' runs: the child must wait for it, the other device need not
          q.push({ devpath: '/devices/x/child', action: 'change', payload: 'child' });
          q.push({ devpath: '/devices/other', action: 'change', payload: 'other' });
          log.push('pushed');
          return new Promise<void>((r) => (release = r)).then(() => void log.push('end first'));
        }
        log.push(`end ${name}`);
      },
    });
    q.push({ devpath: '/devices/x', action: 'change', payload: 'first' });
    expect(log).toEqual(['start first', 'pushed', 'start other', 'end other']);
    expect(q.size).toBe(2);
    release();
    expect(await q.whenIdle(2000)).toBe(true);
    expect(log.slice(4)).toEqual(['end first', 'start child', 'end child']);
  });
});

describe('EventQueue.batch', () => {
  it('tells the queue\'s drain once, after the last event pushed in it; events still start as they are pushed', () => {
    const done: string[] = [];
    let idle = 0;
    const q = new EventQueue<string>({
      childrenMax: 4,
      worker: (name) => {
        done.push(name);
        if (name === 'nested') q.batch(() => q.push({ devpath: '/devices/y', action: 'change', payload: 'inner' }));
      },
      onIdle: () => idle++,
    });
    q.batch(() => {
      q.push({ devpath: '/devices/a', action: 'change', payload: 'a1' });
      expect(done).toEqual(['a1']);
      expect(q.isIdle).toBe(true);
      for (const [name, devpath] of [['b1', '/devices/b'], ['a2', '/devices/a'], ['child', '/devices/a/c'], ['nested', '/devices/x']]) q.push({ devpath: devpath!, action: 'change', payload: name! });
      expect(idle).toBe(0);
    });
    expect(done).toEqual(['a1', 'b1', 'a2', 'child', 'nested', 'inner']);
    expect(idle).toBe(1);
    expect(q.stats.processed).toBe(6);
  });

  it('tells nothing at its end while an event of the batch still runs; that event\'s end does', async () => {
    let idle = 0;
    let release!: () => void;
    const q = new EventQueue<string>({
      childrenMax: 4,
      worker: (name) => (name === 'slow' ? new Promise<void>((r) => (release = r)) : undefined),
      onIdle: () => idle++,
    });
    q.batch(() => {
      q.push({ devpath: '/devices/a', action: 'change', payload: 'quick' });
      q.push({ devpath: '/devices/b', action: 'change', payload: 'slow' });
    });
    expect(idle).toBe(0);
    release();
    expect(await q.whenIdle(2000)).toBe(true);
    expect(idle).toBe(1);
  });
});
