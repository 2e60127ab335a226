// Real kernel uevents: needs root, zram and NETLINK_KOBJECT_UEVENT (the CI VM has them).
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { UeventSocket } from '../../src/netlink/kernel-socket.js';
import { GROUP_KERNEL, UeventNetlink } from '../../src/netlink/socket.js';
import { formatUevent, MAX_UEVENT_SIZE, type Uevent } from '../../src/netlink/uevent.js';
import { REPO } from '../helpers/reference.js';
import { pino } from 'pino';
import { sleep, waitFor, zramAdd, zramRemove } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
});

/** A logger whose JSON lines land in `lines`. */
function captureLogger(lines: { level: number; msg: string }[]) {
  return pino({ level: 'debug', base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s)) });
}

async function openSocket(opts: Parameters<typeof UeventSocket.open>[0] = {}): Promise<UeventSocket> {
  const s = await UeventSocket.open(opts);
  cleanups.push(() => s.close());
  return s;
}

function newZram(): number {
  const id = zramAdd();
  cleanups.push(() => zramRemove(id));
  return id;
}

/** Builds a netlink message to the kernel's own uevent socket, which re-broadcasts the payload from port 0. */
function kernelInjection(payload: Buffer, port: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0); // nlmsg_len
  h.writeUInt16LE(0x10, 4); // nlmsg_type >= NLMSG_MIN_TYPE
  h.writeUInt16LE(1, 6); // NLM_F_REQUEST
  h.writeUInt32LE(1, 8);
  h.writeUInt32LE(port, 12);
  return Buffer.concat([h, payload]);
}

describe('UeventSocket on the real kernel', () => {
  it('forces a large receive buffer and makes overflows non-fatal', async () => {
    const s = await openSocket();
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    expect(s.hardened).toBe(true);
    // The kernel reports twice the requested 128 MiB; SO_RCVBUFFORCE lets it pass rmem_max.
    expect(s.recvBufferSize).toBe(2 * 128 * 1024 * 1024);
    expect(s.recvBufferSize).toBeGreaterThan(2 * rmemMax);
    expect(s.port).toBeGreaterThan(0);
  });

  it('receives zram hot_add and hot_remove uevents from the kernel', async () => {
    const s = await openSocket();
    const events: Uevent[] = [];
    s.on('uevent', (ev) => events.push(ev));
    const id = newZram();
    const devpath = `/devices/virtual/block/zram${id}`;
    const add = await waitFor(() => events.find((e) => e.devpath === devpath && e.action === 'add'), 'zram add uevent');
    expect(add.subsystem).toBe('block');
    expect(add.properties.get('DEVNAME')).toBe(`zram${id}`);
    expect(add.properties.get('DEVTYPE')).toBe('disk');
    expect(add.properties.get('MINOR')).toBe(String(id));
    zramRemove(id);
    const rem = await waitFor(() => events.find((e) => e.devpath === devpath && e.action === 'remove'), 'zram remove uevent');
    expect(rem.seqnum).toBeGreaterThan(add.seqnum);
    expect(s.counters.accepted).toBe(events.length);
    expect(s.counters.received).toBeGreaterThanOrEqual(2);
  });

  it('drops and counts a uevent forged by a user-space socket on the kernel group', async () => {
    const logs: { level: number; msg: string }[] = [];
    const s = await openSocket({ logger: captureLogger(logs) });
    const accepted: Uevent[] = [];
    const forged: number[] = [];
    s.on('uevent', (ev) => accepted.push(ev));
    s.on('forged', (_raw, sender) => forged.push(sender.port));
    const forger = await UeventNetlink.open();
    cleanups.push(() => forger.close());
    const devpath = `/devices/virtual/misc/devmaster-forged-${process.pid}`;
    const msg = formatUevent('add', devpath, [['ACTION', 'add'], ['DEVPATH', devpath], ['SUBSYSTEM', 'misc'], ['SEQNUM', '1']]);
    await forger.send(msg, GROUP_KERNEL);
    // longer than any uevent: read cut to the receive buffer, still told apart by its sender
    const long = formatUevent('add', devpath, [['ACTION', 'add'], ['DEVPATH', devpath], ['SUBSYSTEM', 'misc'], ['LONG', 'x'.repeat(MAX_UEVENT_SIZE)], ['SEQNUM', '2']]);
    await forger.send(long, GROUP_KERNEL);
    await waitFor(() => forged.filter((p) => p === forger.port).length === 2, 'the two forged datagrams');
    expect(s.counters.forged).toBeGreaterThanOrEqual(2);
    expect(logs.some((l) => l.level === 40 && /not sent by the kernel/.test(l.msg))).toBe(true);
    await sleep(100);
    expect(accepted.some((e) => e.devpath === devpath)).toBe(false);
  });

  it('drops, counts and survives malformed datagrams that really come from the kernel (port 0)', async () => {
    const logs: { level: number; msg: string }[] = [];
    const s = await openSocket({ logger: captureLogger(logs) });
    const malformed: string[] = [];
    s.on('malformed', (err, raw) => {
      if (raw.includes(`devmaster-malformed-${process.pid}`)) malformed.push(err.code);
    });
    const tx = await UeventNetlink.open();
    cleanups.push(() => tx.close());
    // The kernel appends "SEQNUM=n\0" and multicasts the payload on group 1 with sender port 0.
    await tx.send(kernelInjection(Buffer.from(`devmaster-malformed-${process.pid}\0`), tx.port), 0);
    await tx.send(kernelInjection(Buffer.from(`add@/devices/devmaster-malformed-${process.pid}\0NOKEY\0`), tx.port), 0);
    await waitFor(() => malformed.length === 2, 'two malformed datagrams');
    expect(malformed).toEqual(['BAD_HEADER', 'BAD_PROPERTY']);
    expect(s.counters.malformed).toBeGreaterThanOrEqual(2);
    expect(logs.filter((l) => l.level === 40 && /malformed uevent.*(devmaster-malformed|NOKEY)/.test(l.msg)).length).toBe(2);
    // Still receiving afterwards.
    const events: Uevent[] = [];
    s.on('uevent', (ev) => events.push(ev));
    const id = newZram();
    await waitFor(() => events.find((e) => e.devpath === `/devices/virtual/block/zram${id}`), 'a uevent after the malformed ones');
  });

  it('detects, counts and reports a receive-queue overflow, and keeps receiving', async () => {
    const logs: { level: number; msg: string }[] = [];
    const s = await openSocket({ recvBufferSize: 1, logger: captureLogger(logs) }); // the kernel's minimum: room for ~2 uevents
    const overflows: number[] = [];
    const events: Uevent[] = [];
    s.on('overflow', (info) => overflows.push(info.dropped));
    s.on('uevent', (ev) => events.push(ev));
    const id = newZram();
    const devpath = `/devices/virtual/block/zram${id}`;
    await waitFor(() => events.find((e) => e.devpath === devpath), 'zram add');
    // 40 change uevents while our event loop is blocked: the queue overflows.
    execFileSync('sh', ['-c', `for i in $(seq 40); do echo change > /sys/block/zram${id}/uevent; done`]);
    await waitFor(() => overflows.length > 0, 'the overflow report');
    expect(s.counters.overflows).toBeGreaterThanOrEqual(1);
    expect(s.counters.dropped).toBeGreaterThanOrEqual(30);
    expect(overflows.reduce((a, b) => a + b, 0)).toBe(s.counters.dropped);
    expect(logs.some((l) => l.level === 50 && /overflowed/.test(l.msg))).toBe(true);
    const changesBefore = events.filter((e) => e.devpath === devpath && e.action === 'change').length;
    expect(changesBefore).toBeLessThan(40);
    writeChange(id);
    await waitFor(() => events.filter((e) => e.devpath === devpath && e.action === 'change').length > changesBefore, 'a uevent after the overflow');
  });

  it('(why socket.ts hardens the socket) the bare netlink package aborts the process on an overflow', () => {
    const id = newZram();
    const script = `
      const { RawNetlinkSocket } = require('netlink');
      const { execSync } = require('child_process');
      const s = new RawNetlinkSocket(15);
      s.setRecvBufferSize(1);
      s.addMembership(1);
      s.on('message', () => {});
      s.on('error', (e) => { console.log('error event', e.code); });
      execSync('for i in $(seq 40); do echo change > /sys/block/zram${id}/uevent; done');
      setTimeout(() => { console.log('survived'); s.close(); }, 500);
    `;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: REPO, encoding: 'utf8', timeout: 20_000 });
    // If this starts failing, the package handles EPOLLERR now and socket.ts could be simplified.
    expect(r.signal).toBe('SIGABRT');
    expect(r.stderr).toMatch(/Napi::Error/);
    expect(r.stdout).not.toMatch(/survived/);
  });
});

function writeChange(id: number): void {
  execFileSync('sh', ['-c', `echo change > /sys/block/zram${id}/uevent`]);
}
