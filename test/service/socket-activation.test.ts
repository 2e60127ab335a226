// Socket hand-over: manager.py opens NETLINK_KOBJECT_UEVENT (group 1) and the two control sockets itself, as
// systemd's devmaster-kernel.socket and devmaster-control.socket do, and runs the devmaster executable with
// $LISTEN_FDS. Uevents the kernel sends while no daemon runs wait in the manager's socket and are all processed
// after the start, with no resync. The same through the file descriptor store (FDSTORE=1), and with sysMaster's
// way of passing sockets (no $LISTEN_FDNAMES).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';
import { classify, listenFds, passedFds } from '../../src/daemon/listen-fds.js';
import { readRunState, resyncReason } from '../../src/daemon/resync.js';
import { kernelSeqnum } from '../../src/daemon/coldplug.js';
import { BroadcastListener, REPO_ROOT, tempRoots, until, zramAdd, zramRemove, type Broadcast, type TempRoots } from '../daemon/helpers.js';
import { udevadmInNamespace } from '../helpers/udevadm-ns.js';
import { Manager } from './manager.js';

interface Status {
  broadcaster: { port: number };
  resync: { runs: number; lastReason: string };
  serviceManager: { kernelSocket: { inode: number; adopted: boolean; kept: boolean }; handedOver?: { kernel?: string; udevControl?: string; control?: string; rejected: number } };
  udevControl: { byType: Record<string, number> };
}

const status = async (r: TempRoots) => (await controlRequest(r.run, { command: 'status' }, 10_000)) as unknown as Status;

/** Waits until the daemon answers on the control socket the manager holds. */
async function answering(r: TempRoots): Promise<Status> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      return await status(r);
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/**
 * Removes a zram disk whose removal the test waits for: another daemon on this machine (other tests run theirs)
 * may hold the node open for a moment (EBUSY), so it is retried, and failing is an error.
 */
async function removeZram(n: number): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      writeFileSync('/sys/class/zram-control/hot_remove', String(n));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > end) throw e;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

const devId = (n: number) => `b${readFileSync(`/sys/block/zram${n}/dev`, 'utf8').trim()}`;

describe('sd_listen_fds: the variables', () => {
  it('takes descriptors only when LISTEN_PID names this process, and checks the counts', () => {
    expect(passedFds({ LISTEN_PID: '99', LISTEN_FDS: '2' }, 42)).toEqual([]);
    expect(passedFds({ LISTEN_FDS: '2' }, 42)).toEqual([]);
    expect(passedFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, 42)).toEqual([{ fd: 3, name: 'a' }, { fd: 4, name: 'b' }]);
    expect(passedFds({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42)).toEqual([{ fd: 3, name: 'unknown' }]);
    expect(() => passedFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a' }, 42)).toThrow(/names 1 descriptor\(s\) but LISTEN_FDS=2/);
    expect(() => passedFds({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42)).toThrow(/LISTEN_FDS='x'/);
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '99', LISTEN_FDS: '1', LISTEN_FDNAMES: 'k' };
    expect(listenFds(env, { pid: 42 })).toEqual({ rejected: [] });
    expect(env).toEqual({}); // removed, so that programs the rules run do not inherit them
  });

  it('sorts the sockets by what they are (sd_is_socket), refusing what the daemon has no use for', () => {
    const nl = { domain: 16, type: 3, protocol: 15, listening: false };
    expect(classify({ ...nl, groups: 1 })).toBe('kernel');
    expect(classify({ ...nl, groups: 0 })).toBe('kernel'); // the daemon joins group 1 itself
    expect(classify({ ...nl, groups: 3 })).toMatch(/multicast groups 0x3 \(the kernel's uevents are group 1 only\)/);
    expect(classify({ ...nl, protocol: 0 })).toMatch(/protocol 0, not NETLINK_KOBJECT_UEVENT/);
    expect(classify({ domain: 1, type: 5, protocol: 0, listening: true, path: '/run/udev/control' })).toBe('udev-control');
    expect(classify({ domain: 1, type: 1, protocol: 0, listening: true, path: '/run/udev/devmaster.control' })).toBe('control');
    expect(classify({ domain: 1, type: 1, protocol: 0, listening: false, path: '/x' })).toMatch(/not listening \(\/x\)/);
    expect(classify({ domain: 1, type: 2, protocol: 0, listening: false, path: '' })).toMatch(/not listening \(unbound\)/);
    expect(classify({ domain: 2, type: 1, protocol: 6, listening: true })).toMatch(/address family 2/);
  });

  it('skips the resync only for the very socket the last daemon left with the manager, nothing dropped', () => {
    const kept = { pid: 1, clean: true, seqnum: 7, kernelSocket: { inode: 500, drops: 3 } };
    expect(resyncReason(kept, 10, { inode: 500, drops: 3 })).toBeUndefined();
    expect(resyncReason(kept, 10, { inode: 500, drops: 5 })).toMatch(/overflowed while no daemon ran \(2 event\(s\) lost\)/);
    expect(resyncReason(kept, 10, { inode: 501, drops: 3 })).toMatch(/sent 3 event\(s\) while no daemon ran/);
    expect(resyncReason(kept, 10)).toMatch(/sent 3 event\(s\) while no daemon ran/);
    expect(resyncReason({ ...kept, clean: false }, 10, { inode: 500, drops: 3 })).toMatch(/did not stop cleanly/);
  });
});

describe('devmaster started with its sockets (socket units)', () => {
  let r: TempRoots;
  let m: Manager;
  let listener: BroadcastListener;
  let kernelInode: number;
  const created: number[] = [];

  beforeAll(async () => {
    r = tempRoots('dm-sockact-');
    m = await Manager.open(join(r.base, 'notify.sock'));
    kernelInode = await m.listenNetlink('devmaster-kernel.socket');
    await m.listenUnix('devmaster-control.socket', join(r.run, 'control'), 'seqpacket');
    await m.listenUnix('devmaster-control.socket', join(r.run, 'devmaster.control'), 'stream');
    // a socket the daemon has no use for: refused, and asked out of the store by name
    await m.listenUnix('bogus', join(r.base, 'bogus.sock'), 'dgram');
    listener = await BroadcastListener.open();
  });

  afterAll(async () => {
    for (const n of created) zramRemove(n);
    listener?.close();
    await m?.quit();
    r?.cleanup();
  });

  it('processes the uevents sent before it ever ran, and answers on the control sockets it was given', async () => {
    // no daemon yet: the kernel's events wait in the manager's socket
    const a = zramAdd();
    created.push(a);
    execFileSync('sh', ['-c', `echo change > /sys/block/zram${a}/uevent`]);
    const idA = devId(a);
    const { mark, fds } = await m.startDevmaster(r);
    expect(fds).toEqual(['devmaster-kernel.socket', 'devmaster-control.socket', 'devmaster-control.socket', 'bogus']);
    const st = await answering(r); // devctl's JSON socket, the one the manager holds
    const port = st.broadcaster.port;
    const of = (action: string) => (b: Broadcast) => b.senderPort === port && b.properties.get('DEVNAME') === `/dev/zram${a}` && b.properties.get('ACTION') === action;
    await listener.waitFor(of('add'), 20_000, `zram${a} add`);
    await listener.waitFor(of('change'), 20_000, `zram${a} change`);
    await until(() => existsSync(join(r.dev, `zram${a}`)) && existsSync(join(r.run, 'data', idA)), 10_000, `zram${a} node and record`);
    const after = await status(r);
    expect(after.serviceManager.kernelSocket).toEqual({ inode: kernelInode, adopted: true, kept: true });
    expect(after.serviceManager.handedOver).toEqual({ kernel: 'devmaster-kernel.socket', udevControl: 'devmaster-control.socket', control: 'devmaster-control.socket', rejected: 1 });
    expect(after.resync.runs).toBe(0);
    // no FDSTORE=1 for a socket the manager already holds; the refused one is dropped from the store by name
    expect(m.notifications(mark).filter((n) => n.fields.FDSTORE)).toEqual([]);
    expect(m.notifications(mark).some((n) => n.fields.FDSTOREREMOVE === '1' && n.fields.FDNAME === 'bogus')).toBe(true);
    // Debian's udevadm on the SOCK_SEQPACKET socket the manager bound
    const ping = await udevadmInNamespace(r.run, 'control', '--ping');
    expect(ping.code, ping.stderr).toBe(0);
    expect((await status(r)).udevControl.byType.ping).toBe(1);
  });

  it('gets the events of a stop-and-start from the kept socket: all processed, in order, no resync', async () => {
    const [a] = created;
    const exit = await m.stop();
    expect(exit.code).toBe(0);
    // the control sockets stay bound by the manager: the daemon removed nothing
    expect(existsSync(join(r.run, 'control')) && existsSync(join(r.run, 'devmaster.control'))).toBe(true);
    // while no daemon runs: a removal, an addition (zram reuses the lowest free number: maybe a's) and a change
    listener.clear();
    await removeZram(a!);
    created.splice(0, 1);
    const b = zramAdd();
    created.push(b);
    execFileSync('sh', ['-c', `echo change > /sys/block/zram${b}/uevent`]);
    await m.startDevmaster(r);
    const st = await answering(r);
    const port = st.broadcaster.port;
    const seqnum = (dev: string, action: string) =>
      listener
        .waitFor((x: Broadcast) => x.senderPort === port && x.properties.get('DEVNAME') === dev && x.properties.get('ACTION') === action, 20_000, `${dev} ${action}`)
        .then((x) => Number(x.properties.get('SEQNUM')));
    const order = [await seqnum(`/dev/zram${a}`, 'remove'), await seqnum(`/dev/zram${b}`, 'add'), await seqnum(`/dev/zram${b}`, 'change')];
    // the kernel's events, in the order they happened
    expect([...order].sort((x, y) => x - y)).toEqual(order);
    await until(() => existsSync(join(r.run, 'data', devId(b))) && existsSync(join(r.dev, `zram${b}`)), 10_000, `zram${b} record and node`);
    if (b !== a) expect(existsSync(join(r.dev, `zram${a}`))).toBe(false);
    const after = await status(r);
    expect(after.resync).toMatchObject({ runs: 0, lastReason: '' });
    expect(after.serviceManager.kernelSocket.inode).toBe(kernelInode);
  });

  it('keeps the events it had queued but not started when it stops, and the next daemon processes them', async () => {
    const b = created[created.length - 1]!;
    // the daemon receives the events but may not start them
    const stopQueue = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'devctl.ts'), 'control', '--stop-exec-queue', '--run', r.run], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(stopQueue.status, stopQueue.stderr).toBe(0);
    listener.clear();
    execFileSync('sh', ['-c', `echo change > /sys/block/zram${b}/uevent`]);
    const target = kernelSeqnum({ sysfs: '/sys', dev: r.dev, run: r.run })!;
    let st = (await status(r)) as Status & { lastSeqnum: number; queue: { size: number } };
    for (let i = 0; i < 100 && st.lastSeqnum < target; i++) {
      await new Promise((res) => setTimeout(res, 50));
      st = (await status(r)) as typeof st;
    }
    expect(st.queue.size).toBeGreaterThanOrEqual(1);
    const exit = await m.stop();
    expect(exit.code).toBe(0);
    expect(existsSync(join(r.run, 'devmaster', 'pending'))).toBe(true);
    expect(readRunState(r.run)).toMatchObject({ clean: true });
    await m.startDevmaster(r);
    const port = (await answering(r)).broadcaster.port;
    await listener.waitFor((x) => x.senderPort === port && x.properties.get('DEVNAME') === `/dev/zram${b}` && x.properties.get('ACTION') === 'change', 20_000, `the kept zram${b} change`);
    expect(existsSync(join(r.run, 'devmaster', 'pending'))).toBe(false);
    expect((await status(r)).resync.runs).toBe(0);
    expect((await m.stop()).code).toBe(0);
  });
});

describe('devmaster keeping its own kernel socket in the file descriptor store', () => {
  it('hands it over with FDSTORE=1 and, restarted, takes it back with what arrived meanwhile', async () => {
    const r = tempRoots('dm-fdstore-');
    const m = await Manager.open(join(r.base, 'notify.sock'));
    const listener = await BroadcastListener.open();
    const created: number[] = [];
    try {
      // first start: nothing passed, the daemon opens the kernel socket and gives it to the store
      const first = await m.startDevmaster(r);
      expect(first.fds).toEqual([]);
      const stored = await m.waitNotify((n) => n.fields.FDSTORE === '1', 30_000, 'FDSTORE=1', first.mark);
      expect(stored.fields.FDNAME).toBe('devmaster-kernel');
      await m.waitNotify((n) => n.fields.READY === '1', 30_000, 'READY=1', first.mark);
      const inode = (await status(r)).serviceManager.kernelSocket.inode;
      expect(stored.fds[0]!.inode).toBe(inode);
      expect((await m.stop()).code).toBe(0);
      // while stopped
      const c = zramAdd();
      created.push(c);
      // restarted like sysMaster does it (no $LISTEN_FDNAMES): recognized by what the socket is
      const second = await m.startDevmaster(r, { noFdnames: true });
      expect(second.fds).toEqual(['devmaster-kernel']);
      const st = await answering(r);
      await listener.waitFor((b) => b.senderPort === st.broadcaster.port && b.properties.get('DEVNAME') === `/dev/zram${c}` && b.properties.get('ACTION') === 'add', 20_000, `zram${c} add`);
      const after = await status(r);
      expect(after.serviceManager.kernelSocket).toEqual({ inode, adopted: true, kept: true });
      expect(after.serviceManager.handedOver).toEqual({ kernel: 'unknown', rejected: 0 });
      expect(after.resync.runs).toBe(0);
      // not stored twice
      expect(m.notifications(second.mark).filter((n) => n.fields.FDSTORE)).toEqual([]);
      expect((await m.store()).length).toBe(1);
      expect((await m.stop()).code).toBe(0);
    } finally {
      for (const n of created) zramRemove(n);
      listener.close();
      await m.quit();
      r.cleanup();
    }
  });

  it('resynchronizes when the manager hands over a different kernel socket than the one the last daemon left', async () => {
    const r = tempRoots('dm-fdstore-new-');
    const m = await Manager.open(join(r.base, 'notify.sock'));
    const created: number[] = [];
    try {
      const first = await m.startDevmaster(r);
      await m.waitNotify((n) => n.fields.READY === '1', 30_000, 'READY=1', first.mark);
      expect((await m.stop()).code).toBe(0);
      // a new manager: the store is gone, a new socket unit holds a new socket, and what happened in between is lost
      await m.quit();
      const m2 = await Manager.open(join(r.base, 'notify2.sock'));
      try {
        created.push(zramAdd());
        await m2.listenNetlink('devmaster-kernel.socket');
        await m2.startDevmaster(r);
        await answering(r);
        await until(() => existsSync(join(r.run, 'devmaster', 'state')), 5000, 'state');
        const end = Date.now() + 15_000;
        let st = await status(r);
        while (st.resync.runs === 0 && Date.now() < end) {
          await new Promise((res) => setTimeout(res, 100));
          st = await status(r);
        }
        expect(st.resync.runs).toBe(1);
        expect(st.resync.lastReason).toMatch(/while no daemon ran/);
        expect((await m2.stop()).code).toBe(0);
      } finally {
        await m2.quit();
      }
    } finally {
      for (const n of created) zramRemove(n);
      r.cleanup();
    }
  });
});
