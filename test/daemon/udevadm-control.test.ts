// Debian's own `udevadm control` and `udevadm settle` against devmaster: udev's binary control protocol on
// <run>/control (src/daemon/udev-ctrl.ts). udevadm only knows /run/udev, so it runs in a private mount namespace
// where a tmpfs covers /run and the test's run root is bind-mounted on /run/udev (nothing of the host changes).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, existsSync, chmodSync, mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';
import { startUdevCtrlServer, udevCtrlSocketPath, encodeUdevCtrlMessage, decodeUdevCtrlMessage, UdevCtrlType, UDEV_CTRL_MAGIC, type UdevCtrlStats } from '../../src/daemon/udev-ctrl.js';
import type { ControlHandler } from '../../src/daemon/control.js';
import type { Logger } from '../../src/log.js';
import { referenceUdev } from '../helpers/reference.js';
import { spawnRun, udevadmInNamespace as udevadm } from '../helpers/udevadm-ns.js';
import { REPO_ROOT, tempRoots, startDevmaster, zramAdd, zramRemove, until, sleep, BroadcastListener, type TempRoots, type RunningDevmaster } from './helpers.js';

interface ClientResult {
  connected: boolean;
  errno?: number;
  sent?: number[];
  closed?: boolean;
  closeMs?: number;
}

/** The raw client (udev-ctrl-client.ts) in a child process. */
async function rawClient(args: { path: string; drop?: 'before' | 'after'; messages: { type: number; value?: number | string; magic?: number; size?: number }[]; end?: boolean; waitMs?: number }): Promise<ClientResult> {
  const r = await spawnRun(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'daemon', 'udev-ctrl-client.ts'), JSON.stringify(args)]);
  if (r.code !== 0) throw new Error(`udev-ctrl-client failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ClientResult;
}

type Status = {
  logLevel: string;
  childrenMax: number;
  execQueue: string;
  queue: { size: number };
  rules: { generation: number };
  udevControl: UdevCtrlStats;
  globalProperties: Record<string, string>;
};
const status = async (run: string) => (await controlRequest(run, { command: 'status' })) as unknown as Status;

// ------------------------------------------------------------------ the protocol module itself

/** A logger that records what it was told. */
function recordingLogger(lines: string[]): Logger {
  const rec = (level: string) => (a: unknown, b?: unknown) => {
    lines.push(`${level}: ${typeof a === 'string' ? a : `${String(b)} ${JSON.stringify(a)}`}`);
  };
  const l = { info: rec('info'), warn: rec('warn'), error: rec('error'), debug: rec('debug'), trace: rec('trace'), fatal: rec('fatal') } as Record<string, unknown>;
  l.child = () => l;
  return l as unknown as Logger;
}

describe('udev control protocol (server module, stand-in handler)', () => {
  let dir: string;
  const calls: string[] = [];
  const lines: string[] = [];
  let withEnv = true;
  const handler: ControlHandler = {
    ping: () => ({ pong: true }),
    reload: async () => {
      calls.push('reload');
      await sleep(50);
      return { generation: 2, errors: [] };
    },
    exit: () => {
      calls.push('exit');
      return { exiting: true };
    },
    setLogLevel: (l) => {
      calls.push(`log-level ${l}`);
      return { logLevel: l };
    },
    stopExecQueue: () => (calls.push('stop'), {}),
    startExecQueue: () => (calls.push('start'), {}),
    setChildrenMax: (n) => (calls.push(`children-max ${n}`), { childrenMax: n }),
    settle: async () => ({ settled: true }),
    status: () => ({}),
    catchUp: async () => {
      calls.push('catch-up');
    },
  };
  const h: ControlHandler = new Proxy(handler, { get: (t, k) => (k === 'setEnv' && !withEnv ? undefined : k === 'setEnv' ? (key: string, v: string | undefined) => (calls.push(`env ${key}=${v ?? '<unset>'}`), {}) : t[k as keyof ControlHandler]) });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dm-uctl-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('encodes and decodes the 280-byte wire message', () => {
    const b = encodeUdevCtrlMessage(UdevCtrlType.SET_ENV, 'A=b');
    expect(b.length).toBe(280);
    expect(decodeUdevCtrlMessage(b)).toEqual({ version: 'udev-252', magic: UDEV_CTRL_MAGIC, type: 5, intval: b.readInt32LE(24), buf: 'A=b' });
    expect(decodeUdevCtrlMessage(encodeUdevCtrlMessage(UdevCtrlType.SET_CHILDREN_MAX, 7)).intval).toBe(7);
    expect(() => decodeUdevCtrlMessage(Buffer.alloc(12))).toThrow(/12 bytes \(expected 280\)/);
  });

  it('maps every message type onto the handler, in order, and closes on end-of-messages', async () => {
    const srv = startUdevCtrlServer(dir, h, recordingLogger(lines));
    try {
      expect(statSync(srv.path).mode & 0o777).toBe(0o600);
      calls.length = 0;
      const r = await rawClient({
        path: srv.path,
        messages: [
          { type: UdevCtrlType.SET_LOG_LEVEL, value: 7 },
          { type: UdevCtrlType.RELOAD },
          { type: UdevCtrlType.STOP_EXEC_QUEUE },
          { type: UdevCtrlType.START_EXEC_QUEUE },
          { type: UdevCtrlType.SET_CHILDREN_MAX, value: 3 },
          { type: UdevCtrlType.SET_CHILDREN_MAX, value: -1 },
          { type: UdevCtrlType.SET_ENV, value: 'DM_A=1' },
          { type: UdevCtrlType.SET_ENV, value: 'DM_A=' },
          { type: UdevCtrlType.SET_ENV, value: 'novalue' },
          { type: 42 },
          { type: UdevCtrlType.PING },
        ],
        end: true,
      });
      expect(r).toMatchObject({ connected: true, closed: true });
      expect(calls).toEqual(['log-level 7', 'reload', 'stop', 'start', 'children-max 3', 'env DM_A=1', 'env DM_A=<unset>', 'catch-up']);
      const st = srv.stats();
      expect(st).toMatchObject({ connections: 1, messages: 12, unknownType: 1, refused: { uid: 0, credentials: 0, length: 0, magic: 0 } });
      expect(st.byType).toMatchObject({ 'log-level': 1, reload: 1, 'set-env': 3, 'children-max': 2, ping: 1, end: 1, 'type-42': 1 });
      expect(lines.join('\n')).toMatch(/children max -1 ignored/);
      expect(lines.join('\n')).toMatch(/set env: invalid 'novalue'/);
      expect(lines.join('\n')).toMatch(/unknown message type 42 ignored/);
    } finally {
      srv.close();
    }
    expect(existsSync(join(dir, 'control'))).toBe(false);
  });

  it('refuses a forged magic, a wrong length and a sender that is not root; counts each, runs none', async () => {
    const srv = startUdevCtrlServer(dir, h, recordingLogger(lines));
    try {
      calls.length = 0;
      const magic = await rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.SET_CHILDREN_MAX, value: 9, magic: 0xdeadbeef }, { type: UdevCtrlType.RELOAD }] });
      expect(magic).toMatchObject({ connected: true, closed: true });
      const short = await rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.RELOAD, size: 100 }] });
      expect(short.closed).toBe(true);
      const long = await rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.RELOAD, size: 600 }] });
      expect(long.closed).toBe(true);
      // connected as root (SO_PEERCRED says uid 0), then dropped to nobody: the message's SCM_CREDENTIALS say 65534
      const after = await rawClient({ path: srv.path, drop: 'after', messages: [{ type: UdevCtrlType.SET_CHILDREN_MAX, value: 9 }] });
      expect(after.closed).toBe(true);
      // nobody connecting at all (socket and directories opened up for the test): refused at accept
      chmodSync(dir, 0o755);
      chmodSync(srv.path, 0o666);
      const before = await rawClient({ path: srv.path, drop: 'before', messages: [{ type: UdevCtrlType.SET_CHILDREN_MAX, value: 9 }] });
      expect(before.connected).toBe(true);
      expect(before.closed).toBe(true);
      expect(calls).toEqual([]);
      expect(srv.stats().refused).toEqual({ uid: 2, credentials: 0, length: 2, magic: 1, count: 0 });
      expect(srv.stats().messages).toBe(0);
      expect(lines.join('\n')).toMatch(/message magic 0xdeadbeef does not match 0xdead1dea/);
      expect(lines.join('\n')).toMatch(/connection from uid 65534 refused/);
      expect(lines.join('\n')).toMatch(/message from uid 65534/);
      // still serving after all that
      const ok = await rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.STOP_EXEC_QUEUE }], end: true });
      expect(ok.closed).toBe(true);
      expect(calls).toEqual(['stop']);
    } finally {
      srv.close();
      chmodSync(dir, 0o700);
    }
  });

  it('rejects SET_ENV with a log line when the handler keeps no global properties', async () => {
    withEnv = false;
    const srv = startUdevCtrlServer(dir, h, recordingLogger(lines));
    try {
      calls.length = 0;
      const r = await rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.SET_ENV, value: 'X=1' }, { type: UdevCtrlType.PING }], end: true });
      expect(r.closed).toBe(true);
      expect(calls).toEqual(['catch-up']);
      expect(lines.join('\n')).toMatch(/set env 'X=1' rejected/);
    } finally {
      withEnv = true;
      srv.close();
    }
  });

  it('closes after exit without waiting for an end message, and stops accepting', async () => {
    const srv = startUdevCtrlServer(dir, h, recordingLogger(lines));
    try {
      calls.length = 0;
      const r = await rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.EXIT }], waitMs: 3000 });
      expect(r.closed).toBe(true);
      expect(calls).toEqual(['exit']);
      const again = await rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.PING }], end: true, waitMs: 500 });
      expect(again).toEqual({ connected: false, errno: 111 }); // ECONNREFUSED: the daemon is exiting
    } finally {
      srv.close();
    }
  });

  it('concurrent udevadm runs wait in the backlog while one is served (none fails)', async () => {
    const srv = startUdevCtrlServer(dir, h, recordingLogger(lines));
    try {
      calls.length = 0;
      const runs = await Promise.all(Array.from({ length: 8 }, () => udevadm(dir, 'control', '--reload')));
      for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(calls.filter((c) => c === 'reload')).toHaveLength(8);
      expect(srv.stats().connections).toBe(8);
    } finally {
      srv.close();
    }
  });

  it('closes a connection that stays silent, then serves the next client', async () => {
    const srv = startUdevCtrlServer(dir, h, recordingLogger(lines), { idleTimeoutMs: 300 });
    try {
      calls.length = 0;
      const [silent, next] = await Promise.all([
        rawClient({ path: srv.path, messages: [], waitMs: 5000 }),
        sleep(100).then(() => rawClient({ path: srv.path, messages: [{ type: UdevCtrlType.START_EXEC_QUEUE }], end: true })),
      ]);
      expect(silent.closed).toBe(true);
      expect(next.closed).toBe(true);
      expect(srv.stats().idleTimeouts).toBeGreaterThanOrEqual(1);
      expect(calls).toEqual(['start']);
    } finally {
      srv.close();
    }
  });

  it('replaces a stale socket file, refuses a live one and a non-socket', async () => {
    const a = startUdevCtrlServer(dir, h, recordingLogger(lines));
    try {
      expect(() => startUdevCtrlServer(dir, h, recordingLogger(lines))).toThrow(/another daemon is listening on .*\/control/);
    } finally {
      a.close();
    }
    // a socket file nobody listens on (left by a killed daemon)
    const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).bind(sys.argv[1])', join(dir, 'control')]);
    expect(py.status).toBe(0);
    expect(statSync(join(dir, 'control')).isSocket()).toBe(true);
    const c = startUdevCtrlServer(dir, h, recordingLogger(lines));
    const ok = await rawClient({ path: c.path, messages: [{ type: UdevCtrlType.PING }], end: true });
    expect(ok.closed).toBe(true);
    c.close();
    writeFileSync(join(dir, 'control'), 'not a socket');
    try {
      expect(() => startUdevCtrlServer(dir, h, recordingLogger(lines))).toThrow(/exists and is not a socket/);
    } finally {
      rmSync(join(dir, 'control'));
    }
  });
});

// ------------------------------------------------------------------ Debian's udevadm against the real daemon

describe("Debian's udevadm control / settle against devmaster", () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let zram = -1;
  let name = '';
  let port = -1; // our daemon's broadcasts only: other tests' daemons see the same kernel events
  const rulesFile = () => join(r.rules, '50-uctl.rules');

  const change = () => writeFileSync(`/sys/block/${name}/uevent`, 'change');
  const waitChange = (pred: (p: Map<string, string>) => boolean, what: string, timeoutMs = 15_000) =>
    listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVNAME') === `/dev/${name}` && b.properties.get('ACTION') === 'change' && pred(b.properties), timeoutMs, what);

  beforeAll(async () => {
    referenceUdev();
    r = tempRoots('dm-uctl-');
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r);
    port = ((await controlRequest(r.run, { command: 'status' })).broadcaster as { port: number }).port;
    zram = zramAdd();
    name = `zram${zram}`;
    await dm.settle();
  });

  afterAll(async () => {
    if (zram >= 0) zramRemove(zram);
    const code = await dm?.stop();
    listener?.close();
    expect(code).toBe(0);
    r?.cleanup();
  });

  it('--ping succeeds; the JSON socket moved to devmaster.control', async () => {
    const before = (await status(r.run)).udevControl;
    const p = await udevadm(r.run, 'control', '--ping');
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    const after = (await status(r.run)).udevControl;
    expect(after.connections).toBe(before.connections + 1);
    expect(after.byType.ping).toBe((before.byType.ping ?? 0) + 1);
    expect(readdirSync(r.run)).toEqual(expect.arrayContaining(['control', 'devmaster.control']));
    expect(statSync(join(r.run, 'control')).isSocket()).toBe(true);
  });

  it('--log-priority changes the level, --children-max=3 shows in status', async () => {
    expect((await udevadm(r.run, 'control', '--log-priority=debug', '--children-max=3')).code).toBe(0);
    let st = await status(r.run);
    expect(st.logLevel).toBe('debug');
    expect(st.childrenMax).toBe(3);
    expect((await udevadm(r.run, 'control', '-l', 'err')).code).toBe(0);
    st = await status(r.run);
    expect(st.logLevel).toBe('error');
    expect((await udevadm(r.run, 'control', '--log-priority=info', '--children-max=0')).code).toBe(0);
    st = await status(r.run);
    expect(st.logLevel).toBe('info');
    expect(st.childrenMax).toBeGreaterThan(3); // 0 = automatic
  });

  it('--reload makes the daemon reload; a changed rule takes effect', async () => {
    const g0 = (await status(r.run)).rules.generation;
    expect((await udevadm(r.run, 'control', '--reload')).code).toBe(0);
    expect((await status(r.run)).rules.generation).toBe(g0 + 1); // nothing changed on disk: only --reload did it
    writeFileSync(rulesFile(), `KERNEL=="${name}", ACTION=="change", ENV{DM_UCTL}="one"\n`);
    expect((await udevadm(r.run, 'control', '-R')).code).toBe(0);
    listener.clear();
    change();
    await waitChange((p) => p.get('DM_UCTL') === 'one', 'change with DM_UCTL=one');
    writeFileSync(rulesFile(), `KERNEL=="${name}", ACTION=="change", ENV{DM_UCTL}="two"\n`);
    expect((await udevadm(r.run, 'control', '--reload')).code).toBe(0);
    listener.clear();
    change();
    await waitChange((p) => p.get('DM_UCTL') === 'two', 'change with DM_UCTL=two');
  });

  it('--property sets a global property every event sees (rules match it), KEY= unsets it', async () => {
    writeFileSync(rulesFile(), `KERNEL=="${name}", ACTION=="change", ENV{DM_GLOBAL}=="hello", ENV{DM_SAW_GLOBAL}="yes"\n`);
    expect((await udevadm(r.run, 'control', '--reload', '--property=DM_GLOBAL=hello')).code).toBe(0);
    expect((await status(r.run)).globalProperties).toEqual({ DM_GLOBAL: 'hello' });
    listener.clear();
    change();
    const b = await waitChange((p) => p.get('DM_SAW_GLOBAL') === 'yes', 'change seen with the global property');
    expect(b.properties.get('DM_GLOBAL')).toBe('hello');
    expect((await udevadm(r.run, 'control', '--property=DM_GLOBAL=')).code).toBe(0);
    expect((await status(r.run)).globalProperties).toEqual({});
    listener.clear();
    change();
    const c = await waitChange(() => true, 'change after unsetting');
    expect(c.properties.has('DM_GLOBAL')).toBe(false);
    expect(c.properties.has('DM_SAW_GLOBAL')).toBe(false);
  });

  it('--stop-exec-queue holds events (settle --timeout=1 fails, the queue flag stays); --start-exec-queue releases them', async () => {
    writeFileSync(rulesFile(), `KERNEL=="${name}", ACTION=="change", ENV{DM_HELD}="released"\n`);
    expect((await udevadm(r.run, 'control', '--reload', '--stop-exec-queue')).code).toBe(0);
    expect((await status(r.run)).execQueue).toBe('stopped');
    listener.clear();
    change();
    await until(() => existsSync(join(r.run, 'queue')), 5000, 'the queue flag');
    const held = await udevadm(r.run, 'settle', '--timeout=1');
    expect(held.code).not.toBe(0);
    expect(held.ms).toBeGreaterThan(900);
    expect(held.stderr).toMatch(/[Tt]imed? ?out/);
    expect((await status(r.run)).queue.size).toBeGreaterThanOrEqual(1);
    expect(listener.events.some((b) => b.properties.get('DEVNAME') === `/dev/${name}` && b.properties.get('DM_HELD'))).toBe(false);
    expect((await udevadm(r.run, 'control', '--start-exec-queue')).code).toBe(0);
    await waitChange((p) => p.get('DM_HELD') === 'released', 'the held event');
    const s = await udevadm(r.run, 'settle', '--timeout=10');
    expect(s.code).toBe(0);
    expect(existsSync(join(r.run, 'queue'))).toBe(false);
    expect((await status(r.run)).execQueue).toBe('running');
  });

  it('udevadm settle waits for a slow event (PROGRAM sleeps 2 s), then returns 0 with the queue drained', async () => {
    writeFileSync(rulesFile(), `KERNEL=="${name}", ACTION=="change", PROGRAM="/bin/sleep 2", ENV{DM_SLOW}="done"\n`);
    expect((await udevadm(r.run, 'control', '--reload')).code).toBe(0);
    // an idle daemon answers at once
    const idle = await udevadm(r.run, 'settle');
    expect(idle.code).toBe(0);
    listener.clear();
    const t0 = performance.now();
    change();
    const s = await udevadm(r.run, 'settle');
    const ms = performance.now() - t0;
    expect(s.code).toBe(0);
    expect(ms).toBeGreaterThan(1800);
    expect(listener.events.some((b) => b.properties.get('DEVNAME') === `/dev/${name}` && b.properties.get('DM_SLOW') === 'done')).toBe(true);
    expect((await status(r.run)).queue.size).toBe(0);
    expect(existsSync(join(r.run, 'queue'))).toBe(false);
    writeFileSync(rulesFile(), '');
    expect((await udevadm(r.run, 'control', '--reload')).code).toBe(0);
  });

  it('a forged magic or a sender that is not root is refused and counted by the daemon', async () => {
    const before = (await status(r.run)).udevControl.refused;
    const path = udevCtrlSocketPath(r.run);
    const forged = await rawClient({ path, messages: [{ type: UdevCtrlType.SET_CHILDREN_MAX, value: 5, magic: 0x1dea1dea }] });
    expect(forged.closed).toBe(true);
    const nobody = await rawClient({ path, drop: 'after', messages: [{ type: UdevCtrlType.SET_CHILDREN_MAX, value: 5 }] });
    expect(nobody.closed).toBe(true);
    const st = await status(r.run);
    expect(st.udevControl.refused.magic).toBe(before.magic + 1);
    expect(st.udevControl.refused.uid).toBe(before.uid + 1);
    expect(st.childrenMax).not.toBe(5);
    expect(dm.log()).toMatch(/message magic 0x1dea1dea does not match/);
    expect(dm.log()).toMatch(/message from uid 65534/);
  });

  it('devctl control and settle still work (JSON protocol at devmaster.control)', async () => {
    const devctl = (...a: string[]) => spawnRun(process.execPath, ['--import', 'tsx', 'src/cli/devctl.ts', ...a, '--run', r.run]);
    expect((await devctl('control', '--ping', '-m', '4')).code).toBe(0);
    expect((await status(r.run)).childrenMax).toBe(4);
    expect((await devctl('settle', '-t', '5')).code).toBe(0);
  });
});

describe('udevadm control --exit', () => {
  it('stops the daemon (exit status 0, both sockets removed)', async () => {
    referenceUdev();
    const r = tempRoots('dm-uctl-exit-');
    try {
      const dm = await startDevmaster(r);
      const exited = new Promise<number | null>((res) => dm.proc.once('exit', (c) => res(c)));
      const e = await udevadm(r.run, 'control', '--exit');
      expect(e.code).toBe(0);
      const code = await Promise.race([exited, sleep(15_000).then(() => 'still running')]);
      expect(code).toBe(0);
      expect(readdirSync(r.run)).not.toContain('control');
      expect(readdirSync(r.run)).not.toContain('devmaster.control');
      await dm.stop();
    } finally {
      r.cleanup();
    }
  });
});
