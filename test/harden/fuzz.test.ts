// Protocol fuzzing, seeded (mutate.ts; FUZZ_ITERATIONS inputs per target, 20,000 by default): the kernel uevent
// parser and the libudev wire decoder never throw past their boundary (an input is a result or a typed error), and
// what the parser accepts is fed to a live daemon (temp roots), which processes it and keeps running; udev's binary
// control protocol and devMaster's JSON control protocol are fuzzed against a running devmaster executable, which
// answers a valid request afterwards and exits cleanly. The malformed inputs are counted where the daemon shows
// them: `status` → udevControl.refused / unknownType, control.malformed / closed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { controlRequest, controlSocketPath, MAX_LINE } from '../../src/daemon/control.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { decode, encode, LibudevFormatError } from '../../src/netlink/libudev-format.js';
import { formatUevent, parseUevent, UEVENT_ACTIONS, UeventError } from '../../src/netlink/uevent.js';
import { encodeUdevCtrlMessage, UDEV_CTRL_MAGIC, UDEV_CTRL_MSG_SIZE, UdevCtrlType } from '../../src/daemon/udev-ctrl.js';
import { captureLogger } from '../helpers/log-capture.js';
import { startDevmaster, tempRoots, testConfig, type RunningDevmaster, type TempRoots } from '../daemon/helpers.js';
import { FUZZ_ITERATIONS, mutator } from './mutate.js';

const N = FUZZ_ITERATIONS;

const kernelSeeds = [
  formatUevent('add', '/devices/virtual/block/zram7', [['ACTION', 'add'], ['DEVPATH', '/devices/virtual/block/zram7'], ['SUBSYSTEM', 'block'], ['MAJOR', '252'], ['MINOR', '7'], ['DEVNAME', 'zram7'], ['DEVTYPE', 'disk'], ['DISKSEQ', '40'], ['SEQNUM', '4711']]),
  formatUevent('change', '/devices/virtual/mem/null', [['ACTION', 'change'], ['DEVPATH', '/devices/virtual/mem/null'], ['SUBSYSTEM', 'mem'], ['MAJOR', '1'], ['MINOR', '3'], ['DEVNAME', 'null'], ['DEVMODE', '0666'], ['SEQNUM', '12']]),
  formatUevent('move', '/devices/virtual/net/dmfz1', [['ACTION', 'move'], ['DEVPATH', '/devices/virtual/net/dmfz1'], ['DEVPATH_OLD', '/devices/virtual/net/dmfz0'], ['SUBSYSTEM', 'net'], ['INTERFACE', 'dmfz1'], ['IFINDEX', '99998'], ['SEQNUM', '99']]),
  formatUevent('bind', '/devices/pci0000:00/0000:00:1f.2', [['ACTION', 'bind'], ['DEVPATH', '/devices/pci0000:00/0000:00:1f.2'], ['SUBSYSTEM', 'pci'], ['DRIVER', 'ahci'], ['SYNTH_UUID', '0'], ['SEQNUM', '5']]),
];

describe('kernel uevent parser', () => {
  it(`returns a uevent or a UeventError for ${N} mutated datagrams; a live daemon processes what it accepts`, async () => {
    const m = mutator(0x0e7e47);
    const accepted = [];
    const codes = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      const b = m.next(kernelSeeds, 9000);
      const r = parseUevent(b);
      if (r instanceof UeventError) {
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        continue;
      }
      expect(UEVENT_ACTIONS).toContain(r.action);
      expect(r.devpath.startsWith('/')).toBe(true);
      expect(Number.isSafeInteger(r.seqnum) && r.seqnum > 0).toBe(true);
      expect(r.properties.get('DEVPATH')).toBe(r.devpath);
      accepted.push(r);
    }
    // the mutations reach both sides, and several kinds of error
    expect(accepted.length).toBeGreaterThan(N / 50);
    expect(codes.size).toBeGreaterThan(4);
    // what passes the parser is what the daemon is fed from the kernel socket: it must take it and go on
    const r = tempRoots('dm-fuzz-kernel-');
    const { logger, lines } = captureLogger();
    const d = await Daemon.start({ config: testConfig(r, { mknod: true, logLevel: 'error' }), logger, netlink: false, watch: false });
    try {
      const fed = accepted.slice(0, 2000);
      for (const ev of fed) d.inject(ev);
      expect(await d.queue.whenIdle(60_000)).toBe(true);
      expect(d.counters.received).toBe(fed.length);
      // every event accounted for: processed, or failed as an event (none escaped its handling)
      expect(d.counters.processed + d.counters.failed).toBe(fed.length);
      expect(lines.filter((l) => l.msg === 'event failed')).toEqual([]);
    } finally {
      await d.stop();
      r.cleanup();
    }
  }, 120_000);
});

describe('libudev wire decoder', () => {
  it(`returns a message or a typed error for ${N} mutated broadcasts`, () => {
    const seeds = kernelSeeds.map((k) => {
      const ev = parseUevent(k) as Exclude<ReturnType<typeof parseUevent>, UeventError>;
      return encode(new Map([...ev.properties, ['TAGS', ':systemd:uaccess:'], ['CURRENT_TAGS', ':systemd:'], ['USEC_INITIALIZED', '123456']]), { subsystem: ev.subsystem, devtype: ev.properties.get('DEVTYPE') });
    });
    const m = mutator(0x11bde7);
    let ok = 0;
    let bad = 0;
    for (let i = 0; i < N; i++) {
      const b = m.next(seeds, 9000);
      const r = decode(b);
      if (r instanceof LibudevFormatError || r instanceof UeventError) {
        bad++;
        continue;
      }
      ok++;
      expect(r.properties.get('ACTION')).toBe(r.action);
      expect(r.propertiesOff + r.propertiesLen).toBeLessThanOrEqual(b.length);
    }
    expect(ok).toBeGreaterThan(N / 50);
    expect(bad).toBeGreaterThan(N / 2);
  });
});

interface FuzzStatus {
  control: { requests: number; malformed: number; closed: { tooLong: number; tooMany: number } };
  udevControl: { connections: number; messages: number; refused: { length: number; magic: number; credentials: number; count: number }; unknownType: number };
  counters: { received: number };
}

describe('control protocols against a running devmaster', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  beforeAll(async () => {
    r = tempRoots('dm-fuzz-ctl-');
    dm = await startDevmaster(r, ['--log-level', 'error']);
  }, 60_000);
  afterAll(async () => {
    // still the same process, and it stops cleanly
    expect(dm.proc.exitCode).toBeNull();
    expect(await dm?.stop()).toBe(0);
    r?.cleanup();
  });

  it(`udev's binary protocol: ${N} mutated messages, then a valid PING is served`, async () => {
    const m = mutator(0xdead1dea);
    const seeds = [
      encodeUdevCtrlMessage(UdevCtrlType.PING),
      encodeUdevCtrlMessage(UdevCtrlType.SET_CHILDREN_MAX, 7),
      encodeUdevCtrlMessage(UdevCtrlType.SET_ENV, 'DM_FUZZ=1'),
      encodeUdevCtrlMessage(UdevCtrlType.START_EXEC_QUEUE),
      encodeUdevCtrlMessage(UdevCtrlType.END_MESSAGES),
    ];
    const lines: string[] = [];
    for (let i = 0; i < N; i++) {
      const b = m.next(seeds, 600);
      // a well-formed exit, stop, log level or reload would do what it says: made a ping
      if (b.length === UDEV_CTRL_MSG_SIZE && b.readUInt32LE(16) === UDEV_CTRL_MAGIC && [UdevCtrlType.EXIT, UdevCtrlType.STOP_EXEC_QUEUE, UdevCtrlType.SET_LOG_LEVEL, UdevCtrlType.RELOAD].includes(b.readInt32LE(20) as 1)) b.writeInt32LE(UdevCtrlType.PING, 20);
      lines.push(b.toString('hex'));
    }
    const before = (await controlRequest(r.run, { command: 'status' })) as unknown as FuzzStatus;
    // root's client (SCM_CREDENTIALS say uid 0), up to 16 messages a connection, a new one when the daemon closes it
    const out = execFileSync('/usr/bin/python3', ['-c', UDEV_CLIENT, join(r.run, 'control')], { input: lines.join('\n'), encoding: 'utf8', timeout: 110_000, maxBuffer: 1 << 20 });
    const sent = JSON.parse(out) as { sent: number; connections: number; final: string };
    expect(sent.sent).toBeGreaterThan(N / 2);
    expect(sent.final).toBe('closed');
    const st = (await controlRequest(r.run, { command: 'status' })) as unknown as FuzzStatus;
    const u = st.udevControl;
    expect(u.connections - before.udevControl.connections).toBeGreaterThan(N / 32);
    expect(u.messages).toBeGreaterThan(before.udevControl.messages);
    expect(u.refused.length + u.refused.magic + u.unknownType).toBeGreaterThan(N / 20);
    expect(u.refused.credentials).toBe(0);
  }, 120_000);

  it(`devMaster's JSON protocol: ${N} mutated requests, answered in order, then ping works`, async () => {
    const m = mutator(0x150);
    const seeds = [
      { command: 'ping', id: 1 },
      { command: 'status' },
      { command: 'settle', timeout: 0 },
      { command: 'stats', top: 3, sort: 'count' },
      { command: 'children-max', value: 4 },
      { command: 'set-env', value: 'DM_FUZZ=1' },
      { command: 'log-level', value: 'error' },
    ].map((o) => Buffer.from(JSON.stringify(o)));
    let sent = 0;
    let answered = 0;
    let reconnects = 0;
    let sock = createConnection(controlSocketPath(r.run));
    let buf = '';
    let waiting: ((line: string) => void) | undefined;
    const attach = () => {
      sock.setEncoding('utf8');
      sock.on('data', (c: string) => {
        buf += c;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          answered++;
          waiting?.(line);
        }
      });
      sock.on('error', () => {});
    };
    attach();
    for (let i = 0; i < N; ) {
      // a batch of up to 16 lines, then a marker whose answer says the batch was read
      const batch: string[] = [];
      for (let k = 0; k < 16 && i < N; k++, i++) {
        let line = m.next(seeds, 300).toString('latin1').replace(/\n/g, ' ');
        // a well-formed exit, reload or stop would do what it says: made a ping
        if (/"(exit|reload|stop-exec-queue)"/.test(line)) line = line.replace(/"(exit|reload|stop-exec-queue)"/g, '"ping"');
        if (m.int(500) === 0) line = 'x'.repeat(MAX_LINE + 10); // too long: the connection is closed
        batch.push(line);
      }
      const marker = `mark-${i}`;
      const done = new Promise<string>((resolve) => {
        const closed = () => resolve('closed');
        // answered: its close listener goes, or the connection's listeners would pile up batch after batch
        waiting = (line) => {
          if (!line.includes(marker)) return;
          sock.off('close', closed);
          resolve(line);
        };
        sock.once('close', closed);
      });
      sock.write(batch.join('\n') + '\n' + JSON.stringify({ command: 'ping', id: marker }) + '\n');
      sent += batch.length;
      const got = await done;
      if (got === 'closed' || sock.destroyed) {
        reconnects++;
        sock.destroy();
        buf = '';
        sock = createConnection(controlSocketPath(r.run));
        attach();
      } else {
        expect(JSON.parse(got)).toMatchObject({ id: marker, ok: true });
      }
    }
    sock.destroy();
    expect(sent).toBe(N);
    expect(answered).toBeGreaterThan(N / 2);
    const st = (await controlRequest(r.run, { command: 'status' })) as unknown as FuzzStatus;
    expect(st.control.malformed).toBeGreaterThan(N / 4);
    expect(st.control.closed.tooLong).toBe(reconnects);
    expect(await controlRequest(r.run, { command: 'ping' })).toBeDefined();
  }, 120_000);
});

// Sends hex messages from stdin on SOCK_SEQPACKET connections; prints {sent, connections, final}: final is how a
// last valid PING + END_MESSAGES conversation ended ("closed": the daemon served it and closed the connection).
const UDEV_CLIENT = `
import json, socket, sys
path = sys.argv[1]
msgs = [bytes.fromhex(l) for l in sys.stdin.read().split()]
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    return s
sent = 0; conns = 0; s = None; n = 0
for m in msgs:
    if s is None:
        s = connect(); conns += 1; n = 0
    try:
        s.send(m); sent += 1; n += 1
    except OSError:
        s.close(); s = None; continue
    if n >= 16:
        s.close(); s = None
if s is not None:
    s.close()
s = connect()
ping = bytearray(${UDEV_CTRL_MSG_SIZE}); ping[0:8] = b'udev-257'; ping[16:20] = (${UDEV_CTRL_MAGIC}).to_bytes(4, 'little'); ping[20:24] = (${UdevCtrlType.PING}).to_bytes(4, 'little')
end = bytearray(ping); end[20:24] = (0).to_bytes(4, 'little')
s.send(bytes(ping)); s.send(bytes(end))
try:
    final = 'closed' if s.recv(512) == b'' else 'answered'
except socket.timeout:
    final = 'timeout'
print(json.dumps({'sent': sent, 'connections': conns, 'final': final}))
`;
