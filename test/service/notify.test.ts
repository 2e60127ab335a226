// Readiness, status, reloads, shutdown and the watchdog, as a service manager sees them: the devmaster
// executable runs under manager.py, which receives its sd_notify datagrams on a real AF_UNIX datagram socket
// (with the sender's credentials and any descriptors), and records when each arrived (CLOCK_MONOTONIC).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';
import { formatState, Notifier, watchdogUsec } from '../../src/daemon/notify.js';
import { monotonicUsec } from '../../src/util/clock.js';
import { REPO_ROOT, tempRoots, type TempRoots } from '../daemon/helpers.js';
import { udevadmInNamespace } from '../helpers/udevadm-ns.js';
import { AF_NETLINK, Manager, SOCK_RAW, type Notification } from './manager.js';

const devctl = (r: TempRoots, ...args: string[]) =>
  execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'devctl.ts'), ...args, '--run', r.run], { cwd: REPO_ROOT, encoding: 'utf8' });

describe('sd_notify: the protocol pieces', () => {
  it('reads WATCHDOG_USEC as sd_watchdog_enabled() does', () => {
    expect(watchdogUsec({ WATCHDOG_USEC: '3000000' }, 42)).toBe(3_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '42' }, 42)).toBe(3_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '41' }, 42)).toBeUndefined(); // meant for another process
    expect(watchdogUsec({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
    expect(watchdogUsec({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
    expect(watchdogUsec({}, 42)).toBeUndefined();
  });

  it('sends nothing without NOTIFY_SOCKET and refuses addresses it cannot reach', () => {
    expect(Notifier.fromEnv({})).toBeUndefined();
    expect(Notifier.fromEnv({ NOTIFY_SOCKET: '' })).toBeUndefined();
    expect(() => Notifier.fromEnv({ NOTIFY_SOCKET: 'relative/path' })).toThrow(/absolute path or an abstract name/);
    expect(() => Notifier.fromEnv({ NOTIFY_SOCKET: 'vsock:2:1234' })).toThrow(/AF_VSOCK/);
    expect(() => formatState({ STATUS: 'two\nlines' })).toThrow(/newline/);
    expect(formatState({ READY: 1, STATUS: 'ok' })).toBe('READY=1\nSTATUS=ok');
  });

  it('reports a send failure instead of throwing (no listener on the socket)', () => {
    const n = new Notifier('/nonexistent/notify.sock');
    expect(n.ready('x')).toBe(false);
    expect(n.stats).toMatchObject({ sent: 0, failed: 1 });
  });
});

describe('devmaster under a service manager: notifications', () => {
  let r: TempRoots;
  let m: Manager;
  let pid: number;
  let mark: number;

  beforeAll(async () => {
    r = tempRoots('dm-notify-');
    m = await Manager.open(join(r.base, 'notify.sock'));
    // a rules file so that the automatic reload below has something to pick up
    writeFileSync(join(r.rules, '50-test.rules'), 'SUBSYSTEM=="dm-notify-test", ENV{X}="1"\n');
    ({ pid, mark } = await m.startDevmaster(r, { watchdogUsec: 400_000 }));
  });

  afterAll(async () => {
    await m?.quit();
    r?.cleanup();
  });

  it('sends READY=1 with STATUS= once listening, from its own pid, and hands the kernel socket over with FDSTORE=1', async () => {
    const ready = await m.waitNotify((n) => n.fields.READY === '1', 30_000, 'READY=1', mark);
    expect(ready.pid).toBe(pid);
    const st = (await controlRequest(r.run, { command: 'status' })) as { childrenMax: number; serviceManager: { kernelSocket: { adopted: boolean; kept: boolean; inode: number } } };
    expect(ready.fields.STATUS).toBe(`Processing with ${st.childrenMax} children at max`);
    // the socket it opened itself goes to the store, before READY=1
    const stored = m.notifications(mark).find((n) => n.fields.FDSTORE === '1')!;
    expect(stored.fields.FDNAME).toBe('devmaster-kernel');
    expect(stored.fds).toHaveLength(1);
    expect(stored.fds[0]).toMatchObject({ family: AF_NETLINK, type: SOCK_RAW, proto: 15, inode: st.serviceManager.kernelSocket.inode });
    expect(m.events.indexOf(stored)).toBeLessThan(m.events.indexOf(ready));
    expect(st.serviceManager.kernelSocket).toMatchObject({ adopted: false, kept: true });
    expect((await m.store()).map((s) => s.name)).toEqual(['devmaster-kernel']);
  });

  it('pings the watchdog every half WATCHDOG_USEC', async () => {
    const from = m.events.length;
    await new Promise((res) => setTimeout(res, 2200));
    const pings = m.notifications(from).filter((n) => n.fields.WATCHDOG === '1');
    // 400 ms period: a ping every 200 ms, about 11 in 2.2 s (the machine is shared: timing is checked loosely)
    expect(pings.length).toBeGreaterThanOrEqual(7);
    expect(pings.length).toBeLessThanOrEqual(14);
    const gaps = pings.slice(1).map((p, i) => (p.usec - pings[i]!.usec) / 1000);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    expect(mean).toBeGreaterThan(150);
    expect(mean).toBeLessThan(300);
    // never close to the period itself: the manager would have killed the daemon
    expect(Math.max(...gaps)).toBeLessThan(400);
  });

  const reloadPair = async (from: number, what: string): Promise<[Notification, Notification]> => {
    const reloading = await m.waitNotify((n) => n.fields.RELOADING === '1', 20_000, `${what}: RELOADING=1`, from);
    const ready = await m.waitNotify((n) => n.fields.READY === '1' && m.events.indexOf(n) > m.events.indexOf(reloading), 20_000, `${what}: READY=1 after RELOADING=1`, from);
    return [reloading, ready];
  };

  it('brackets an explicit reload (devctl control --reload) with RELOADING=1 and MONOTONIC_USEC, then READY=1', async () => {
    const from = m.events.length;
    const before = monotonicUsec();
    devctl(r, 'control', '--reload');
    const after = monotonicUsec();
    const [reloading, ready] = await reloadPair(from, 'devctl control --reload');
    const t = Number(reloading.fields.MONOTONIC_USEC!);
    expect(t >= before && t <= after).toBe(true); // the reload's own time on CLOCK_MONOTONIC
    expect(reloading.fields.STATUS).toBe('Reloading configuration...');
    expect(ready.fields.STATUS).toMatch(/^Processing with \d+ children at max$/);
    expect(ready.usec).toBeGreaterThanOrEqual(reloading.usec);
  });

  it('does the same for SIGHUP (what Type=notify-reload sends) and for udevadm control --reload', async () => {
    let from = m.events.length;
    process.kill(pid, 'SIGHUP');
    await reloadPair(from, 'SIGHUP');
    from = m.events.length;
    const u = await udevadmInNamespace(r.run, 'control', '--reload');
    expect(u.code, u.stderr).toBe(0);
    await reloadPair(from, 'udevadm control --reload');
  });

  it('reports a reload the rules watcher did, and a new children-max in STATUS=', async () => {
    let from = m.events.length;
    writeFileSync(join(r.rules, '50-test.rules'), 'SUBSYSTEM=="dm-notify-test", ENV{X}="2"\n');
    const [reloading] = await reloadPair(from, 'rules file edited');
    expect(reloading.fields.MONOTONIC_USEC).toMatch(/^\d+$/);
    from = m.events.length;
    devctl(r, 'control', '--children-max=3');
    const st = await m.waitNotify((n) => n.fields.STATUS === 'Processing with 3 children at max', 10_000, 'STATUS after children-max', from);
    expect(st.fields.READY).toBeUndefined();
  });

  it('sends STOPPING=1 on SIGTERM, then exits 0 and pings no more', async () => {
    const from = m.events.length;
    const exit = await m.stop();
    expect(exit).toMatchObject({ code: 0 });
    const stopping = m.notifications(from).find((n) => n.fields.STOPPING === '1');
    expect(stopping?.fields.STATUS).toBe('Shutting down...');
    const after = m.events.indexOf(exit);
    await new Promise((res) => setTimeout(res, 500));
    expect(m.notifications(after)).toEqual([]);
  });
});

describe('devmaster under a service manager: an abstract notification socket', () => {
  it('notifies "@name" sockets too', async () => {
    const r = tempRoots('dm-notify-abs-');
    const m = await Manager.open(`@devmaster-test-${process.pid}-${Date.now()}`);
    try {
      const { mark, pid } = await m.startDevmaster(r);
      const ready = await m.waitNotify((n) => n.fields.READY === '1', 30_000, 'READY=1', mark);
      expect(ready.pid).toBe(pid);
      // no WATCHDOG_USEC: no pings
      expect(m.notifications(mark).filter((n) => n.fields.WATCHDOG)).toEqual([]);
      expect((await m.stop()).code).toBe(0);
    } finally {
      await m.quit();
      r.cleanup();
    }
  });
});
