// Both control sockets of a running devmaster against a client that is not root (uid/gid 65534 through setpriv,
// /usr/bin/python3 as the client): the socket files are made with their final mode (0600, no window), so nobody
// else can even connect; opened up by hand (0666), the peer credentials (SO_PEERCRED) still refuse the client on
// both sockets. With control_group, the group's members may make the read-only requests on devmaster.control, and
// only those (docs/SECURITY.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { encodeUdevCtrlMessage, UdevCtrlType } from '../../src/daemon/udev-ctrl.js';
import { startDevmaster, tempRoots, type RunningDevmaster, type TempRoots } from '../daemon/helpers.js';

// Connects to a socket, sends one message, prints what came back: {"connect": errno name or "ok", "reply": text, "closed": bool}.
const CLIENT = `
import json, socket, sys, errno
path, kind, msg = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM if kind == 'json' else socket.SOCK_SEQPACKET)
s.settimeout(5)
try:
    s.connect(path)
except OSError as e:
    print(json.dumps({'connect': errno.errorcode[e.errno]})); sys.exit(0)
try:
    s.send(msg)
except OSError as e:
    pass
try:
    data = s.recv(4096)
    print(json.dumps({'connect': 'ok', 'reply': data.decode('latin1'), 'closed': data == b''}))
except ConnectionResetError:
    print(json.dumps({'connect': 'ok', 'reply': '', 'closed': True}))
except socket.timeout:
    print(json.dumps({'connect': 'ok', 'reply': '', 'closed': False}))
`;

interface Answer {
  connect: string;
  reply?: string;
  closed?: boolean;
}

/** Runs the client as uid 65534 with gid `gid` and no supplementary groups. */
function asNobody(path: string, kind: 'json' | 'udev', msg: Buffer, gid = 65534): Answer {
  const out = execFileSync('setpriv', [`--reuid=65534`, `--regid=${gid}`, '--clear-groups', '/usr/bin/python3', '-c', CLIENT, path, kind, msg.toString('hex')], { encoding: 'utf8', timeout: 15_000 });
  return JSON.parse(out) as Answer;
}

const json = (req: object) => Buffer.from(JSON.stringify(req) + '\n');
const ping = encodeUdevCtrlMessage(UdevCtrlType.PING);

interface SocketStats {
  control: { refused: { uid: number; permission: number } };
  udevControl: { refused: { uid: number } };
  childrenMax: number;
}

describe('control sockets against a client that is not root', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  beforeAll(async () => {
    r = tempRoots('dm-sock-');
    dm = await startDevmaster(r);
    // the client must reach the socket files: the temp directories are root's 0700
    for (const d of [r.base, r.run]) chmodSync(d, 0o755);
  }, 60_000);
  afterAll(async () => {
    expect(await dm?.stop()).toBe(0);
    r?.cleanup();
  });

  it('are made 0600, root-owned: uid 65534 cannot connect to either', () => {
    for (const name of ['devmaster.control', 'control']) {
      const st = statSync(join(r.run, name));
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777, name).toBe(0o600);
      expect(st.uid).toBe(0);
    }
    expect(asNobody(join(r.run, 'devmaster.control'), 'json', json({ command: 'ping' }))).toEqual({ connect: 'EACCES' });
    expect(asNobody(join(r.run, 'control'), 'udev', ping)).toEqual({ connect: 'EACCES' });
  });

  it('opened up to everybody, still refuse uid 65534 by its peer credentials, and go on serving root', async () => {
    const before = (await controlRequest(r.run, { command: 'status' })) as unknown as SocketStats;
    for (const name of ['devmaster.control', 'control']) chmodSync(join(r.run, name), 0o666);
    const j = asNobody(join(r.run, 'devmaster.control'), 'json', json({ command: 'children-max', value: 3 }));
    expect(j.connect).toBe('ok');
    expect(JSON.parse(j.reply!)).toEqual({ ok: false, error: 'permission denied: only root may control devmaster' });
    // udev's socket answers nothing: the connection is closed before any message is read
    const u = asNobody(join(r.run, 'control'), 'udev', encodeUdevCtrlMessage(UdevCtrlType.SET_CHILDREN_MAX, 3));
    expect(u).toEqual({ connect: 'ok', reply: '', closed: true });
    const after = (await controlRequest(r.run, { command: 'status' })) as unknown as SocketStats;
    expect(after.control.refused.uid).toBe(before.control.refused.uid + 1);
    expect(after.udevControl.refused.uid).toBe(before.udevControl.refused.uid + 1);
    expect(after.childrenMax).toBe(before.childrenMax);
    expect(dm.log()).toMatch(/control socket: connection from uid 65534 \(pid \d+\) refused: only root may use it/);
    expect(dm.log()).toMatch(/connection from uid 65534 refused/);
  });
});

describe('control_group', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  beforeAll(async () => {
    r = tempRoots('dm-sockgrp-');
    writeFileSync(join(r.base, 'config.toml'), 'control_group = "nogroup"\n');
    dm = await startDevmaster(r);
    for (const d of [r.base, r.run]) chmodSync(d, 0o755);
  }, 60_000);
  afterAll(async () => {
    expect(await dm?.stop()).toBe(0);
    r?.cleanup();
  });

  it("makes devmaster.control 0660 for the group, whose members may make the read-only requests only", async () => {
    const path = join(r.run, 'devmaster.control');
    const st = statSync(path);
    expect(st.mode & 0o777).toBe(0o660);
    expect([st.uid, st.gid]).toEqual([0, 65534]);
    // udev's socket is root's alone whatever the config says
    expect(statSync(join(r.run, 'control')).mode & 0o777).toBe(0o600);
    const pong = asNobody(path, 'json', json({ command: 'ping', id: 1 }));
    expect(JSON.parse(pong.reply!)).toMatchObject({ id: 1, ok: true });
    const st2 = asNobody(path, 'json', json({ command: 'status' }));
    expect(JSON.parse(st2.reply!)).toMatchObject({ ok: true });
    const denied = JSON.parse(asNobody(path, 'json', json({ command: 'children-max', value: 3, id: 2 })).reply!) as { ok: boolean; error: string };
    expect(denied).toMatchObject({ id: 2, ok: false });
    expect(denied.error).toMatch(/permission denied/);
    const reset = JSON.parse(asNobody(path, 'json', json({ command: 'stats', reset: true })).reply!) as { ok: boolean };
    expect(reset.ok).toBe(false);
    // outside the group: the file's mode keeps it out; opened up, its credentials do
    expect(asNobody(path, 'json', json({ command: 'ping' }), 65533)).toEqual({ connect: 'EACCES' });
    chmodSync(path, 0o666);
    const other = asNobody(path, 'json', json({ command: 'ping' }), 65533);
    expect(JSON.parse(other.reply!)).toMatchObject({ ok: false, error: expect.stringMatching(/permission denied/) });
    const s = (await controlRequest(r.run, { command: 'status' })) as unknown as SocketStats;
    expect(s.control.refused.permission).toBe(2);
    expect(s.control.refused.uid).toBe(1);
    expect(s.childrenMax).not.toBe(3);
  });
});
