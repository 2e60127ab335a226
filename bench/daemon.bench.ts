// Daemon benchmark: devMaster against Debian's systemd-udevd (unpacked, never installed), same rules set.
//
//   coldplug: "change" written to every device's uevent file; time from the first kernel event to the last
//             broadcast of those events by the daemon under test.
//   storm:    3000 "change" events (cycling over the devices); same measure.
//   RSS:      idle (after start and a settle) and peak (sampled every 20 ms over the process tree: udevd's
//             workers count too), both daemons with Debian's rules loaded.
//
// Safety: udevd runs ONLY inside a private mount namespace (unshare --mount --propagation private) with tmpfs
// on /run (so its /run/udev is private), a tmpfs /dev populated with copies of the device nodes, and an empty
// tmpfs over /usr/lib/udev/rules.d; its rules are a copy of Debian's rules.d in the private /run/udev/rules.d
// without 80-net-setup-link.rules and 73-special-net-names.rules (the only files with NAME=), so it can never
// rename this machine's interfaces or write the real /dev or /run/udev. It is killed (process group) afterwards.
// devMaster runs on temp --dev/--run roots on a tmpfs (/dev/shm), its dev root holding the same node copies, with
// the same rules copy.
//
// DM_BENCH_STATS=on runs devMaster with its cost accounting on (--stats); DM_BENCH_STATS=compare runs it twice,
// stats off then on, and prints the ratio (the target for stats on: coldplug within 5% of stats off).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev, REPO } from '../test/helpers/reference.js';
import { UeventNetlink, GROUP_KERNEL, GROUP_UDEV } from '../src/netlink/socket.js';
import { parseUevent } from '../src/netlink/uevent.js';
import { decode } from '../src/netlink/libudev-format.js';
import { listDevices } from '../src/daemon/coldplug.js';
import { controlRequest } from '../src/daemon/control.js';
import { EXCLUDED_RULES, rulesCopy, treeOf, ueventPorts, stopTree, kernelSeqnum, sleep, namespaceScript } from '../test/helpers/udevd.js';

const STORM = 3000;
const COLDPLUG_ROUNDS = 3;
const STORM_ROUNDS = 3;

interface Measure {
  ms: number;
  events: number;
  missing: number;
}

function median(ms: Measure[]): Measure {
  const sorted = [...ms].sort((a, b) => (Number.isNaN(a.ms) ? 1 : Number.isNaN(b.ms) ? -1 : a.ms - b.ms));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

// ------------------------------------------------------------------ process tree memory

function statusKb(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size of the whole process tree (shared pages split between the processes sharing them). */
function treePssKb(pid: number): number {
  let n = 0;
  for (const p of treeOf(pid)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      if (m) n += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return n;
}

class PssSampler {
  peakKb = 0;
  #timer: NodeJS.Timeout;
  constructor(private pid: number) {
    this.#timer = setInterval(() => {
      this.peakKb = Math.max(this.peakKb, treePssKb(this.pid));
    }, 50);
  }
  stop(): number {
    clearInterval(this.#timer);
    this.peakKb = Math.max(this.peakKb, treePssKb(this.pid));
    return this.peakKb;
  }
}

// ------------------------------------------------------------------ measuring

interface Pending {
  port: number;
  seqnum: number;
  t: number;
}

class Monitor {
  kernel = new Map<number, number>(); // seqnum -> time
  udev = new Map<number, number>();
  ports = new Set<number>();
  seenPorts = new Set<number>();
  raw = 0;
  bad: string[] = [];
  #k!: UeventNetlink;
  #u!: UeventNetlink;
  async open(): Promise<void> {
    this.#k = await UeventNetlink.open({ groups: [GROUP_KERNEL], recvBufferSize: 64 << 20 });
    this.#u = await UeventNetlink.open({ groups: [GROUP_UDEV], recvBufferSize: 64 << 20 });
    this.#k.raw.on('message', (msg, rinfo) => {
      this.raw++;
      if (rinfo.port !== 0) return;
      const ev = parseUevent(msg);
      if (!(ev instanceof Error)) this.kernel.set(ev.seqnum, performance.now());
      else this.bad.push(ev.message);
    });
    this.#u.raw.on('message', (msg, rinfo) => {
      this.seenPorts.add(rinfo.port);
      const d = decode(msg);
      if (d instanceof Error) return;
      if (this.ports.has(rinfo.port)) this.#record(d.seqnum, performance.now());
      else this.#pending.push({ port: rinfo.port, seqnum: d.seqnum, t: performance.now() });
    });
  }

  #pending: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #pid = 0;

  #record(seqnum: number, t: number): void {
    const prev = this.udev.get(seqnum);
    if (prev === undefined || t < prev) this.udev.set(seqnum, t);
  }

  /** Broadcasts count only when sent from a socket of this process tree (udevd broadcasts from its workers). */
  follow(pid: number): void {
    this.#pid = pid;
    this.ports = new Set();
    this.#pending = [];
    this.udev.clear();
    if (!process.env.DM_NO_RESOLVE) this.#timer ??= setInterval(() => this.resolve(), 100);
  }

  resolve(): void {
    if (!this.#pid) return;
    for (const p of ueventPorts(this.#pid)) this.ports.add(p);
    const keep: Pending[] = [];
    for (const m of this.#pending) {
      if (this.ports.has(m.port)) this.#record(m.seqnum, m.t);
      else keep.push(m);
    }
    this.#pending = keep.filter((m) => performance.now() - m.t < 60_000);
  }
  info(): unknown {
    return [this.#k, this.#u].map((s) => ({ port: s.port, fd: s.fd, hardened: s.hardened, rcvbuf: s.recvBufferSize }));
  }
  drops(): [number | undefined, number | undefined] {
    return [this.#k.drops(), this.#u.drops()];
  }
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#k.close();
    this.#u.close();
  }
  /**
   * Waits until every kernel event with seqnum in (from, to] that reaches us was broadcast (events of other
   * network namespaces never reach us: the window closes after 1 s without a new one); returns ms or NaN.
   */
  async measure(from: number, to: number, timeoutMs: number): Promise<{ ms: number; events: number; missing: number }> {
    const end = performance.now() + timeoutMs;
    let lastCount = -1;
    let lastChange = performance.now();
    for (;;) {
      await sleep(20);
      this.resolve();
      const ours = [...this.kernel.keys()].filter((s) => s > from && s <= to);
      if (ours.length !== lastCount) {
        lastCount = ours.length;
        lastChange = performance.now();
      }
      const allKernel = ours.length === to - from || performance.now() - lastChange > 1000;
      const missing = ours.filter((s) => !this.udev.has(s));
      if ((allKernel && missing.length === 0) || performance.now() > end) {
        const first = Math.min(...ours.map((s) => this.kernel.get(s)!));
        const last = Math.max(...ours.filter((s) => this.udev.has(s)).map((s) => this.udev.get(s)!));
        return { ms: missing.length ? NaN : last - first, events: ours.length, missing: missing.length };
      }
    }
  }

}

function trigger(paths: string[], count: number): number {
  let ok = 0;
  for (let i = 0; i < count; i++) {
    try {
      writeFileSync(join(paths[i % paths.length]!, 'uevent'), 'change');
      ok++;
    } catch {
      /* some devices refuse */
    }
  }
  if (process.env.DM_BENCH_DEBUG) console.log(`triggered ${ok}/${count}`);
  return ok;
}

interface Result {
  name: string;
  startMs: number;
  /** Main process RSS at idle, and its high-water mark (VmHWM) at the end. */
  idleKb: number;
  peakKb: number;
  /** Whole process tree (udevd's workers included), PSS. */
  idlePssKb: number;
  peakPssKb: number;
  coldplug: Measure;
  storm: Measure;
}

async function runOne(name: string, proc: ChildProcess, ready: () => Promise<void>, mon: Monitor, devices: string[]): Promise<Result> {
  const t0 = performance.now();
  await ready();
  const startMs = performance.now() - t0;
  await sleep(1500); // let start-up work settle
  const idleKb = statusKb(proc.pid!, 'VmRSS');
  const idlePssKb = treePssKb(proc.pid!);
  mon.follow(proc.pid!);
  const sampler = new PssSampler(proc.pid!);
  // several rounds each (the machine is shared): the median is reported
  const coldplugs: Measure[] = [];
  for (let i = 0; i < COLDPLUG_ROUNDS; i++) {
    const s0 = kernelSeqnum();
    trigger(devices, devices.length);
    coldplugs.push(await mon.measure(s0, kernelSeqnum(), 120_000));
    await sleep(500);
  }
  const storms: Measure[] = [];
  for (let i = 0; i < STORM_ROUNDS; i++) {
    const s0 = kernelSeqnum();
    trigger(devices, STORM);
    storms.push(await mon.measure(s0, kernelSeqnum(), 300_000));
    await sleep(500);
  }
  const coldplug = median(coldplugs);
  const storm = median(storms);
  if (process.env.DM_BENCH_DEBUG) console.log(name, 'coldplug rounds', coldplugs.map((m) => Math.round(m.ms)), 'storm rounds', storms.map((m) => Math.round(m.ms)));
  const peakPssKb = sampler.stop();
  const peakKb = statusKb(proc.pid!, 'VmHWM');
  if (process.env.DM_BENCH_DEBUG) console.log(name, 'monitor', mon.info(), 'kernel events', mon.raw, 'unparsable', mon.bad.length, 'drops', mon.drops(), 'ports', mon.ports.size);
  return { name, startMs, idleKb, peakKb, idlePssKb, peakPssKb, coldplug, storm };
}

async function benchDevmaster(rules: string, mon: Monitor, devices: string[], extra: string[] = []): Promise<Result> {
  // The same conditions as udevd's namespace: dev and run roots on a tmpfs (/dev/shm), the dev root holding
  // copies of this machine's device nodes (as a devtmpfs would), so neither daemon makes nodes.
  const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dm-bench-'));
  const dev = join(base, 'dev');
  const run = join(base, 'run');
  mkdirSync(dev);
  execFileSync('sh', ['-c', `cd /dev && find . -xdev \\( -type b -o -type c \\) -print0 | xargs -0 cp -a --parents -t '${dev}' 2>/dev/null || true`]);
  const dist = join(REPO, 'dist', 'cli', 'devmaster.js');
  const args = ['--sysfs', '/sys', '--dev', dev, '--run', run, '--rules-dir', rules, '--mknod', '--log-level', 'error', '--config', join(base, 'none.toml'), ...extra];
  writeFileSync(join(base, 'none.toml'), '');
  // the executable's own V8 flags (its "#!/usr/bin/env -S node ..." line), or DM_NODE_FLAGS
  const shebang = readFileSync(join(REPO, 'src', 'cli', 'devmaster.ts'), 'utf8').split('\n')[0]!;
  const flags = (process.env.DM_NODE_FLAGS ?? shebang.replace(/^#!.*?\bnode\b\s*/, '')).split(' ').filter(Boolean);
  const cmd = existsSync(dist) ? [process.execPath, ...flags, dist, ...args] : [process.execPath, ...flags, '--import', 'tsx', join(REPO, 'src', 'cli', 'devmaster.ts'), ...args];
  const proc = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    return await runOne('devMaster', proc, async () => {
      for (let i = 0; i < 600; i++) {
        try {
          await controlRequest(run, { command: 'ping' }, 1000);
          return;
        } catch {
          await sleep(50);
        }
      }
      throw new Error('devmaster did not start');
    }, mon, devices);
  } finally {
    await stopTree(proc);
    rmSync(base, { recursive: true, force: true });
  }
}

async function benchUdevd(rulesSrc: string, mon: Monitor, devices: string[]): Promise<Result> {
  const ref = referenceUdev();
  const base = mkdtempSync(join(tmpdir(), 'udevd-bench-'));
  const stage = join(base, 'devstage');
  mkdirSync(stage);
  // Everything below runs inside the private mount namespace only (test/helpers/udevd.ts): tmpfs /run and
  // /usr/lib/udev with the rules copy, a tmpfs /dev with copies of the device nodes.
  const script = namespaceScript({ rules: rulesSrc, dev: stage, devTmpfs: true }) + `exec ${join(base, 'systemd-udevd')}\n`;
  symlinkSync(ref.udevadm, join(base, 'systemd-udevd'));
  const proc = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SYSTEMD_LOG_LEVEL: 'err' },
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  try {
    return await runOne('udevd', proc, async () => {
      // ready = its control socket answers inside the namespace: ask udevadm there
      for (let i = 0; i < 600; i++) {
        if (out.includes('ready-ns') && ueventPorts(proc.pid!).size >= 1) {
          try {
            execFileSync('nsenter', ['-t', String(proc.pid), '-m', ref.udevadm, 'control', '--ping', '-t', '1'], { stdio: 'ignore' });
            return;
          } catch {
            /* not yet */
          }
        }
        if (proc.exitCode !== null) throw new Error(`udevd exited (${proc.exitCode})`);
        await sleep(50);
      }
      throw new Error(`udevd did not start (namespace ${out.includes('ready-ns') ? 'ready' : 'not ready'}, ${ueventPorts(proc.pid!).size} uevent sockets)`);
    }, mon, devices);
  } finally {
    await stopTree(proc);
    rmSync(base, { recursive: true, force: true });
  }
}

const fmtMs = (n: number) => (Number.isFinite(n) ? `${n.toFixed(0)} ms` : 'incomplete');
const fmtMb = (kb: number) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(1)} MB` : 'n/a');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

export async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('daemon bench: needs root (netlink groups, mount namespace); skipped');
    return;
  }
  const ref = referenceUdev();
  const work = mkdtempSync(join(tmpdir(), 'dm-bench-rules-'));
  try {
    const rules = join(work, 'rules.d');
    const n = rulesCopy(ref.rulesDir, rules);
    const devices = listDevices({ sysfs: '/sys', dev: '/dev', run: '/run/udev' });
    console.log(`udev ${ref.version}; ${n} Debian rules files (without ${EXCLUDED_RULES.join(', ')}); ${devices.length} devices; storm ${STORM} events`);
    const mon = new Monitor();
    await mon.open();
    try {
      // DM_BENCH_ONLY=udevd|devmaster runs one side (the other is reported as not run)
      const only = process.env.DM_BENCH_ONLY;
      const none: Result = { name: '-', startMs: NaN, idleKb: NaN, peakKb: NaN, idlePssKb: NaN, peakPssKb: NaN, coldplug: { ms: NaN, events: 0, missing: 0 }, storm: { ms: NaN, events: 0, missing: 0 } };
      const u = only === 'devmaster' ? none : await benchUdevd(rules, mon, devices);
      await sleep(1000);
      const statsMode = process.env.DM_BENCH_STATS;
      const d = only === 'udevd' ? none : await benchDevmaster(rules, mon, devices, statsMode === 'on' ? ['--stats'] : []);
      const rows: [string, string, string, string][] = [
        ['', 'devMaster', 'udevd', 'ratio'],
        ['start to ready', fmtMs(d.startMs), fmtMs(u.startMs), ratio(d.startMs, u.startMs)],
        [`coldplug change (${d.coldplug.events}/${u.coldplug.events} ev)`, fmtMs(d.coldplug.ms), fmtMs(u.coldplug.ms), ratio(d.coldplug.ms, u.coldplug.ms)],
        [`storm (${d.storm.events}/${u.storm.events} ev)`, fmtMs(d.storm.ms), fmtMs(u.storm.ms), ratio(d.storm.ms, u.storm.ms)],
        ['idle RSS (main process)', fmtMb(d.idleKb), fmtMb(u.idleKb), ratio(d.idleKb, u.idleKb)],
        ['peak RSS (main, VmHWM)', fmtMb(d.peakKb), fmtMb(u.peakKb), ratio(d.peakKb, u.peakKb)],
        ['idle PSS (process tree)', fmtMb(d.idlePssKb), fmtMb(u.idlePssKb), ratio(d.idlePssKb, u.idlePssKb)],
        ['peak PSS (tree, with workers)', fmtMb(d.peakPssKb), fmtMb(u.peakPssKb), ratio(d.peakPssKb, u.peakPssKb)],
      ];
      for (const r of rows) console.log(`${r[0].padEnd(34)}${r[1].padStart(14)}${r[2].padStart(14)}${r[3].padStart(9)}`);
      if (d.coldplug.missing || d.storm.missing) console.log(`devMaster: ${d.coldplug.missing + d.storm.missing} events never broadcast`);
      if (u.coldplug.missing || u.storm.missing) console.log(`udevd: ${u.coldplug.missing + u.storm.missing} events never broadcast`);
      console.log('targets: coldplug and storm <= 0.5x udevd; RSS <= 64 MB');
      if (statsMode === 'on') console.log('devMaster ran with --stats');
      if (statsMode === 'compare') {
        await sleep(1000);
        const s = await benchDevmaster(rules, mon, devices, ['--stats']);
        console.log(`\n${''.padEnd(34)}${'stats off'.padStart(14)}${'stats on'.padStart(14)}${'ratio'.padStart(9)}`);
        for (const [what, off, on] of [['coldplug change', d.coldplug.ms, s.coldplug.ms], ['storm', d.storm.ms, s.storm.ms], ['peak PSS (tree)', d.peakPssKb, s.peakPssKb]] as const) {
          const f = what.startsWith('peak') ? fmtMb : fmtMs;
          console.log(`${what.padEnd(34)}${f(off).padStart(14)}${f(on).padStart(14)}${ratio(on, off).padStart(9)}`);
        }
        console.log('target: coldplug with stats on <= 1.05x stats off');
      }
    } finally {
      mon.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
