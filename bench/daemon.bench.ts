// Daemon benchmark: devMaster against Debian's udevd, measured as an administrator would measure it.
//
// Method (docs/PERFORMANCE.md has it in prose):
//   - Everything runs in one private network namespace (with its own sysfs mount): the only libudev broadcasts
//     there are those of the daemon under test, whatever other daemons run on the machine, and no interface of
//     the machine is ever touched. The kernel's uevents of every device that is not a network interface reach it.
//   - The probe (bench/probe.py, a process of its own at normal priority, as `udevadm monitor`) takes every timestamp: it stamps each
//     kernel uevent and each broadcast when it arrives (CLOCK_MONOTONIC), and starts the daemons as a service
//     manager does, with $NOTIFY_SOCKET: start to ready is from exec to READY=1.
//   - Each daemon is started fresh for each round, as users start it: udevd 252 (this machine's distribution,
//     Debian 12) and udevd 257 (Debian 13, through its own loader) as systemd-udevd, devMaster through its own
//     executable (dist/cli/devmaster.js, so with its shebang's V8 flags) with `--unit-backend none` and
//     `--cache-dir` (a directory of the bench kept across rounds, as /var/cache/devmaster across boots) as its
//     service unit runs it, and `--no-mknod` (it makes no nodes on the devtmpfs it runs on). Each gets a private
//     mount namespace (test/helpers/udevd.ts) with a tmpfs /run, a tmpfs /dev holding copies of this machine's
//     device nodes, and a /usr/lib/udev holding Debian 12's rules (without the two files that rename interfaces;
//     the same files at every start, bind-mounted, as a machine's from boot to boot), the reference programs
//     (ata_id, scsi_id, ...) and a hwdb.bin compiled from Debian 12's hwdb by its systemd-hwdb. Then 1.5 s to settle.
//   - coldplug: `udevadm trigger --action=change` (Debian 12's); storm: 3000 "change" writes over the mem, vc and
//     misc devices from a separate process; span = first kernel event to last broadcast of those events.
//     hotplug: a zram device added (`hot_add`), kernel "add" of its block device to its broadcast: on a daemon just
//     started (its first event), and after a coldplug (as on a booted machine, where the boot's coldplug came first).
//     A sample whose add and broadcast the probe read in one wake-up (it did not run in between: the machine stalled
//     it) is left out, and said. boot: a coldplug triggered as soon as READY=1 arrives, with no settling (the monitor
//     started before the daemon): its span, and the time from the daemon's exec to the last broadcast.
//   - The probe and all it starts run without NODE_EXTRA_CA_CERTS and NODE_OPTIONS (a service's environment): this
//     machine's shells set the first, and it makes every node, `node -e 0` included, parse a certificate file first.
//   - Rounds alternate the daemons' order; the first round is a warm-up; medians with min-max.
//   - Memory: VmHWM of the daemon's main process and the PSS of its process tree (udevd's workers counted) at the
//     end of the run.
//   - Whole processes: `node -e 0`, `devctl info /dev/null`, `devctl test /dev/null` (where no devMaster runs, with
//     Debian's rules and with none; beside a running devMaster with the same rules and roots, which runs the event
//     for it; there with --local, which takes the rules the daemon compiled from its cache; and there with other
//     rules directories, which the daemon declines and devctl runs with the files its earlier runs added to the
//     cache) and udevadm's, timed by the probe (fork to exit), alternating. Then devMaster's start to READY=1 on a
//     fresh run root with the rules its last start kept, and with none kept (a first boot), alternating.
//   - devMaster with `stats = true` against stats off, coldplug, alternating (the target: within 5 %), three times as
//     many rounds as the other phases (a 5 % difference under this machine's run-to-run noise), with the ratio of
//     the medians and the median of the rounds' ratios (the two runs of a round are next to each other in time).
//   - disk: coldplug of devMaster with its run root on the disk, a directory removed before each start, as
//     ../shared/tools/plain-bench.sh gives it, beside devMaster on its tmpfs /run and udevd 252, alternating.
//
//   - alt (only when asked for): devMaster's executable against another start of a devMaster, coldplug, storm and
//     both hotplugs, alternating: `node DM_BENCH_ALT_NODE dist/cli/devmaster.js` (other V8 or Node flags), or
//     DM_BENCH_ALT_SCRIPT, the executable of another build (a copy of dist/ inside this tree, so that it finds
//     node_modules), for measuring a change against the build before it in one run.
//
// DM_BENCH_ROUNDS (default 5, plus the warm-up) sets the rounds (DM_BENCH_STATS_ROUNDS the stats phase's, default
// three times as many); DM_BENCH_PHASES (coldplug,storm,hotplug,boot,
// stats,disk,processes; alt) a subset; DM_BENCH_ONLY=devmaster skips udevd; DM_BENCH_DEBUG prints every sample.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, readFileSync, mkdirSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { referenceUdev, referenceUdev257, REPO } from '../test/helpers/reference.js';
import { EXCLUDED_RULES, namespaceScript, treeOf } from '../test/helpers/udevd.js';
import { rulesCachePath } from '../src/rules/cache.js';
import { referenceSetup } from './reference-setup.js';
import { treeCpuMs } from './tree-cpu.js';
import { median, spread } from './summary.js';

const ROUNDS = Number(process.env.DM_BENCH_ROUNDS ?? 5);
const STATS_ROUNDS = Number(process.env.DM_BENCH_STATS_ROUNDS ?? 3 * ROUNDS);
const PHASES = (process.env.DM_BENCH_PHASES ?? 'coldplug,storm,hotplug,boot,stats,disk,processes').split(',');
const DEBUG = !!process.env.DM_BENCH_DEBUG;
const STORM = 3000;
const SETTLE_MS = 1500;
const PROCESS_RUNS = 20;
/** Starts of devMaster timed each way in the processes phase (with and without its kept rules). */
const START_RUNS = 10;

/** How the alt phase starts its devMaster (its other flags or build), before the daemon's own options. */
function altCommand(dmScript: string): string {
  const script = process.env.DM_BENCH_ALT_SCRIPT ?? dmScript;
  return process.env.DM_BENCH_ALT_NODE !== undefined ? `${process.execPath} ${process.env.DM_BENCH_ALT_NODE} ${script}` : script;
}

/**
 * Round by round, a[i] / b[i] (the two daemons of a round run seconds apart, so a slow spell of the machine reaches
 * both): median (min-max).
 */
function roundRatios(a: number[], b: number[]): string {
  const r = a.map((x, i) => x / b[i]!).filter(Number.isFinite);
  return r.length ? `${median(r).toFixed(2)}x (${Math.min(...r).toFixed(2)}x-${Math.max(...r).toFixed(2)}x)` : 'n/a';
}

/** The storm's writer, a separate process (as ../shared/tools/plain-bench.sh). */
const STORM_PY = `
import glob
ds = sorted(glob.glob('/sys/class/mem/*/uevent') + glob.glob('/sys/class/vc/*/uevent') + glob.glob('/sys/class/misc/*/uevent'))
n = 0
while n < ${STORM}:
    for d in ds:
        if n >= ${STORM}: break
        try: open(d, 'w').write('change'); n += 1
        except OSError: pass
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the probe

interface WaitReply {
  events: number;
  missing: number;
  span_ms: number | null;
  drops: number;
  /** The first kernel event and the last broadcast came in one wake-up of the probe: their stamps mean nothing. */
  read_together: boolean;
  /** CLOCK_MONOTONIC of the load's last broadcast, as stamped. */
  last_broadcast_ns: number | null;
}

/**
 * Variables that change how Node itself starts, whatever script it runs. NODE_EXTRA_CA_CERTS makes every node parse
 * that certificate file before the first line of any script (this machine's sandbox sets it for every shell; it
 * added ~40 ms to each start here, more than half of `node -e 0`); NODE_OPTIONS adds flags. Neither is in a service's
 * environment (systemd starts units with a clean one) nor in a plain shell's. The probe, and so every process the
 * bench times or starts, runs without them; the processes phase also times `node -e 0` with this shell's values, to
 * show what they cost.
 */
const NODE_START_VARS = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];
const SHELL_NODE_VARS: Record<string, string> = Object.fromEntries(NODE_START_VARS.flatMap((k) => (process.env[k] !== undefined ? [[k, process.env[k]!]] : [])));

class Probe {
  #proc: ChildProcess;
  #lines: string[] = [];
  #waiting: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  #exited: Error | undefined;

  constructor(script: string, notifyAddress: string) {
    this.#proc = spawn('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', `${script}exec /usr/bin/python3 ${join(REPO, 'bench', 'probe.py')} ${notifyAddress}\n`], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !NODE_START_VARS.includes(k))),
    });
    createInterface({ input: this.#proc.stdout! }).on('line', (l) => {
      if (l === 'ready-ns') return;
      if (this.#waiting) {
        const w = this.#waiting;
        this.#waiting = undefined;
        w.resolve(l);
      } else this.#lines.push(l);
    });
    this.#proc.once('exit', (c) => {
      this.#exited = new Error(`the probe exited (${c})`);
      this.#waiting?.reject(this.#exited);
      this.#waiting = undefined;
    });
  }

  #next(): Promise<string> {
    const l = this.#lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  async open(): Promise<void> {
    await this.#next(); // {"ready": true}
  }

  async request<T>(cmd: Record<string, unknown>): Promise<T> {
    this.#proc.stdin!.write(JSON.stringify(cmd) + '\n');
    const r = JSON.parse(await this.#next()) as T & { error?: string };
    if (r.error) throw new Error(`probe ${String(cmd.cmd)}: ${r.error}`);
    return r;
  }

  /** The namespace's processes run as the probe's children: PIDs are the machine's (no PID namespace). */
  async close(): Promise<void> {
    this.#proc.stdin!.end(JSON.stringify({ cmd: 'quit' }) + '\n');
    await new Promise((r) => this.#proc.once('exit', r));
  }
}

// ------------------------------------------------------------------ daemons

interface DaemonSpec {
  name: string;
  /** The namespace script (up to its "read" of the go line) and the daemon's command. */
  script: string;
}

interface Sample {
  readyMs: number;
  /** devMaster's: a `node -e 0` run timed right before its start (start to ready is measured in node's own start). */
  nodeMs?: number;
  span?: number;
  events?: number;
  /** The boot phase's: from the daemon's exec to its last broadcast of the coldplug that READY=1 set off. */
  bootMs?: number;
  hwmKb: number;
  /** CPU time the daemon's process tree spent during the phase (after settling): its threads' run time, its children's. */
  cpuMs: number;
  pssKb: number;
  treeHwmKb: number;
}

function statusKb(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}


/** Proportional set size of the whole process tree, and the sum of its processes' VmHWM. */
function treeMemory(pid: number): { pssKb: number; treeHwmKb: number } {
  let pssKb = 0;
  let treeHwmKb = 0;
  for (const p of treeOf(pid)) {
    try {
      pssKb += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      treeHwmKb += statusKb(p, 'VmHWM');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }
  return { pssKb, treeHwmKb };
}

/**
 * boot: a coldplug triggered as soon as READY=1 arrives, with no time to settle (the monitor started before the
 * daemon), as on a booting machine, where the trigger service follows the daemon's readiness: what the daemon
 * does after READY=1 competes with the load.
 */
type Phase = 'coldplug' | 'storm' | 'hotplug' | 'hotplug-warm' | 'boot';
/** After a hotplug's remove, the time the CPU time still counts: devMaster's heap upkeep runs 250 ms after its queue drained. */
const HOTPLUG_AFTER_MS = 500;

/** Starts `d` fresh, lets it settle (but for the boot phase), runs one phase and measures it; stops it. */
async function runOnce(probe: Probe, d: DaemonSpec, phase: Phase, log: string, devpathsOf: (seqBefore: number) => string[] | null): Promise<Sample> {
  const nodeMs = d.name.startsWith('devMaster') ? (await probe.request<{ ms: number[] }>({ cmd: 'time', argv: [process.execPath, '-e', '0'], n: 1 })).ms[0] : undefined;
  if (phase === 'boot') await probe.request({ cmd: 'monitor', udevadm: referenceUdev().udevadm });
  const started = await probe.request<{ pid: number; ready_ms: number; exec_ns: number }>({ cmd: 'start', argv: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', d.script], log });
  try {
    if (phase !== 'boot') await sleep(SETTLE_MS);
    let cpuBase = treeCpuMs(started.pid);
    let span: number | undefined;
    let events: number | undefined;
    let bootMs: number | undefined;
    /**
     * A load from a separate process (udevadm trigger, the storm's writer), waited for to its last broadcast; stamped
     * by `udevadm monitor --kernel --udev` (Debian 12's), as plain-bench stamps it, not by the probe (see probe.py).
     */
    const load = async (argv: string[]) => {
      const r = await probe.request<{ code: number; out: string; seq_before: number; seq_after: number }>({ cmd: 'run', argv, monitor: referenceUdev().udevadm });
      const w = await probe.request<WaitReply>({ cmd: 'wait', from: r.seq_before, to: r.seq_after, action: 'change', devpaths: devpathsOf(r.seq_before), timeout_ms: 120_000 });
      if (w.missing) console.log(`  ${d.name} ${phase}: ${w.missing} of ${w.events} events never broadcast${w.drops ? ` (probe overflowed ${w.drops} times)` : ''}`);
      return w;
    };
    const coldplug = [referenceUdev().udevadm, 'trigger', '--action=change'];
    if (phase === 'hotplug' || phase === 'hotplug-warm') {
      // hotplug-warm: as on a booted machine, where the boot's coldplug came first
      if (phase === 'hotplug-warm') {
        await load(coldplug);
        await sleep(SETTLE_MS);
      }
      cpuBase = treeCpuMs(started.pid); // the hotplug's CPU time, not the coldplug's before it
      // the probe at real-time priority for the add (the command it runs at normal priority): it stamps the kernel's
      // add when it comes, not once a busy daemon lets it run
      await probe.request({ cmd: 'priority', realtime: true });
      let w: WaitReply;
      let id: string;
      try {
        const add = await probe.request<{ out: string; seq_before: number; seq_after: number }>({ cmd: 'run', argv: ['chrt', '--other', '0', 'sh', '-c', 'cat /sys/class/zram-control/hot_add'] });
        id = add.out.trim();
        if (!/^\d+$/.test(id)) throw new Error(`zram hot_add answered '${add.out}'`);
        w = await probe.request<WaitReply>({ cmd: 'wait', from: add.seq_before, to: add.seq_after + 5, action: 'add', devpaths: [`/devices/virtual/block/zram${id}`], timeout_ms: 10_000 });
      } finally {
        await probe.request({ cmd: 'priority', realtime: false });
      }
      const rm = await probe.request<{ seq_before: number; seq_after: number }>({ cmd: 'run', argv: ['sh', '-c', `echo ${id} > /sys/class/zram-control/hot_remove`] });
      await probe.request<WaitReply>({ cmd: 'wait', from: rm.seq_before, to: rm.seq_after, action: 'remove', devpaths: null, timeout_ms: 10_000 });
      await sleep(HOTPLUG_AFTER_MS); // what a daemon does once its queue drained counts too
      // a stalled machine: the probe did not run between the kernel's add and the broadcast, it read both at once
      if (w.read_together) console.log(`  ${d.name} ${phase}: the kernel's add and the broadcast were read in one wake-up of the probe (the machine stalled it); sample left out`);
      span = w.read_together ? NaN : (w.span_ms ?? NaN);
      events = w.events;
    } else {
      const w = await load(phase === 'storm' ? ['/usr/bin/python3', '-c', STORM_PY] : coldplug);
      span = w.span_ms ?? NaN;
      events = w.events;
      if (phase === 'boot') bootMs = w.span_ms !== null && w.last_broadcast_ns !== null ? (w.last_broadcast_ns - started.exec_ns) / 1e6 : NaN;
    }
    const hwmKb = statusKb(started.pid, 'VmHWM');
    return { readyMs: started.ready_ms, nodeMs, span, events, bootMs, hwmKb, cpuMs: treeCpuMs(started.pid) - cpuBase, ...treeMemory(started.pid) };
  } finally {
    await probe.request({ cmd: 'stop' });
  }
}

// ------------------------------------------------------------------ statistics and output

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 20 ? 1 : 0) : 'n/a');
const mb = (kb: number) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : 'n/a');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

function cell(xs: number[], f: (n: number) => string, unit: string): string {
  return `${f(median(xs))} ${unit} (${spread(xs, f)})`;
}

// ------------------------------------------------------------------ main

export async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the daemon bench needs root (network and mount namespaces, netlink, zram)');
  const ref = referenceUdev();
  const ref257 = referenceUdev257();
  const work = mkdtempSync(join(tmpdir(), 'dm-bench-'));
  let probe: Probe | undefined;
  try {
    const { rules, nRules, hwdbBin, stage } = referenceSetup(work);

    // the rules bound, not copied: the same files at every start, as on a machine from boot to boot
    const common = { rules, bindRules: true, programs: true, hwdbBin };
    const ns = (reference: 252 | 257, command: string) =>
      namespaceScript({ ...common, reference, dev: stage, devTmpfs: true }) + `read go\nexec ${command}\n`;
    const dmScript = join(REPO, 'dist', 'cli', 'devmaster.js');
    const dm = process.env.DM_BENCH_NODE !== undefined ? `${process.execPath} ${process.env.DM_BENCH_NODE} ${dmScript}` : dmScript;
    const diskRun = join(work, 'disk-run');
    const udevd252 = join(work, 'systemd-udevd');
    execFileSync('ln', ['-s', ref.udevadm, udevd252]); // udevadm is multi-call: as systemd-udevd it is the daemon
    // the directory that outlives a boot, as the shipped unit's --cache-dir /var/cache/devmaster: each round's daemon
    // (a fresh run root: a boot) takes the rules the round before compiled; the warm-up round fills it
    const kept = `--cache-dir ${join(work, 'dm-cache')}`;
    const specs: Record<string, DaemonSpec> = {
      // --no-mknod: the daemons run on a tmpfs copy of /dev; on the devtmpfs users run it on, devMaster makes no nodes
      devMaster: { name: 'devMaster', script: ns(252, `${dm} --unit-backend none --no-mknod ${kept}`) },
      'udevd 252': { name: 'udevd 252', script: ns(252, udevd252) },
      'udevd 257': { name: 'udevd 257', script: ns(257, ref257.systemdUdevd) },
      'devMaster stats': { name: 'devMaster stats', script: ns(252, `${dm} --unit-backend none --no-mknod --stats ${kept}`) },
      // as ../shared/tools/plain-bench.sh runs it: the run root a directory on the disk (/tmp), removed before each start
      'devMaster disk run': { name: 'devMaster disk run', script: ns(252, `sh -c 'rm -rf ${diskRun} && exec ${dm} --unit-backend none --no-mknod --run ${diskRun} ${kept}'`) },
      'devMaster alt': { name: 'devMaster alt', script: ns(252, `${altCommand(dmScript)} --unit-backend none --no-mknod ${kept}`) },
    };

    // the probe's own namespace: the machine's /dev, Debian's rules, programs and hwdb.bin where udevadm and
    // devctl look (for the whole-process timings), a sysfs of its network namespace
    probe = new Probe(namespaceScript({ ...common, dev: 'keep', net: true }), `@dm-bench-${process.pid}`);
    await probe.open();

    const load = readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');
    console.log(`Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}, node ${process.version}, load average ${load}`);
    console.log(`udevd ${ref.version} and ${ref257.version}; ${nRules} Debian rules files (without ${EXCLUDED_RULES.join(', ')}), Debian's hwdb; ${ROUNDS} rounds after a warm-up, alternating; medians (min-max)`);

    const names = process.env.DM_BENCH_ONLY === 'devmaster' ? ['devMaster'] : ['devMaster', 'udevd 252', 'udevd 257'];
    const samples = new Map<string, Sample[]>();
    const add = (key: string, s: Sample) => samples.set(key, [...(samples.get(key) ?? []), s]);
    // coldplug: every kernel "change" of the window; storm: those of the storm's devices
    const stormDevpaths = (['mem', 'vc', 'misc'] as const).flatMap((c) => execFileSync('sh', ['-c', `for d in /sys/class/${c}/*; do readlink -f $d; done`], { encoding: 'utf8' }).split('\n').filter(Boolean).map((p) => p.slice('/sys'.length)));
    const phases: [Phase, string[]][] = [];
    if (PHASES.includes('coldplug')) phases.push(['coldplug', names]);
    if (PHASES.includes('storm')) phases.push(['storm', names]);
    if (PHASES.includes('hotplug')) phases.push(['hotplug', names], ['hotplug-warm', names]);
    if (PHASES.includes('boot')) phases.push(['boot', names]);
    if (PHASES.includes('stats')) phases.push(['coldplug', ['devMaster', 'devMaster stats']]);
    if (PHASES.includes('disk')) phases.push(['coldplug', ['devMaster', 'devMaster disk run', 'udevd 252']]);
    if (PHASES.includes('alt')) for (const p of ['coldplug', 'storm', 'hotplug', 'hotplug-warm', 'boot'] as const) phases.push([p, ['devMaster', 'devMaster alt']]);
    for (const [phase, who] of phases) {
      const statsPhase = who.includes('devMaster stats');
      const diskPhase = who.includes('devMaster disk run');
      const altPhase = who.includes('devMaster alt');
      for (let round = 0; round <= (statsPhase ? STATS_ROUNDS : ROUNDS); round++) {
        const order = who.map((_, i) => who[(i + round) % who.length]!);
        for (const name of order) {
          const s = await runOnce(probe, specs[name]!, phase, join(work, `${name.replace(/ /g, '-')}.log`), () => (phase === 'storm' ? stormDevpaths : null));
          if (DEBUG) console.log(`  ${phase} round ${round} ${name}: ${JSON.stringify(s)}`);
          if (round > 0) add(`${statsPhase ? 'stats-' : diskPhase ? 'disk-' : altPhase ? 'alt-' : ''}${phase}/${name}`, s);
        }
      }
    }

    const get = (key: string) => samples.get(key) ?? [];
    const col = (phase: string, name: string, f: (s: Sample) => number) => get(`${phase}/${name}`).map(f);
    const all = (name: string, f: (s: Sample) => number) => (['coldplug', 'storm', 'hotplug'] as const).flatMap((p) => col(p, name, f));
    const rows: string[][] = [['', 'devMaster', 'udevd 252', 'ratio', 'udevd 257', 'ratio']];
    const row = (label: string, xs: (name: string) => number[], f: (n: number) => string, unit: string) => {
      const d = xs('devMaster');
      const u = xs('udevd 252');
      const v = xs('udevd 257');
      rows.push([label, cell(d, f, unit), cell(u, f, unit), ratio(median(d), median(u)), cell(v, f, unit), ratio(median(d), median(v))]);
    };
    for (const phase of ['coldplug', 'storm', 'hotplug', 'hotplug-warm', 'boot'] as const) {
      if (!get(`${phase}/devMaster`).length) continue;
      const n = median(col(phase, 'devMaster', (s) => s.events ?? NaN));
      const label =
        phase === 'hotplug' ? 'hotplug, fresh daemon: zram add to broadcast' : phase === 'hotplug-warm' ? 'hotplug after a coldplug: zram add to broadcast' : phase === 'boot' ? `boot: coldplug triggered at READY=1 (${n} events)` : `${phase} (${n} events)`;
      row(label, (name) => col(phase, name, (s) => s.span ?? NaN), ms, 'ms');
      if (phase === 'boot') row("boot: exec to the coldplug's last broadcast", (name) => col(phase, name, (s) => s.bootMs ?? NaN), ms, 'ms');
    }
    for (const phase of ['coldplug', 'storm'] as const) {
      if (get(`${phase}/devMaster`).length) row(`CPU time, ${phase} (tree)`, (name) => col(phase, name, (s) => s.cpuMs), ms, 'ms');
    }
    if (get('hotplug-warm/devMaster').length) row('CPU time, hotplug after a coldplug (add, remove, 0.5 s after)', (name) => col('hotplug-warm', name, (s) => s.cpuMs), ms, 'ms');
    row('start to ready', (name) => all(name, (s) => s.readyMs), ms, 'ms');
    for (const phase of ['coldplug', 'storm'] as const) {
      if (!get(`${phase}/devMaster`).length) continue;
      row(`peak RSS, ${phase} (VmHWM)`, (name) => col(phase, name, (s) => s.hwmKb), mb, 'MB');
      row(`PSS of the tree after ${phase}`, (name) => col(phase, name, (s) => s.pssKb), mb, 'MB');
      row(`sum of VmHWM, tree, ${phase}`, (name) => col(phase, name, (s) => s.treeHwmKb), mb, 'MB');
    }
    console.log('');
    printTable(rows);
    // The same ratios taken round by round (the daemons of one round run a few seconds apart): a slow spell of the
    // machine that reaches some rounds moves a ratio of medians more than the median of these.
    const perRound: string[][] = [['', 'devMaster / udevd 252, same round', 'devMaster / udevd 257, same round']];
    for (const phase of ['coldplug', 'storm', 'boot'] as const) {
      const span = (name: string) => col(phase, name, (s) => s.span ?? NaN);
      const paired = (other: string) => roundRatios(span('devMaster'), span(other));
      if (get(`${phase}/devMaster`).length) perRound.push([`${phase}, per round`, paired('udevd 252'), paired('udevd 257')]);
    }
    if (get('boot/devMaster').length) {
      const boot = (name: string) => col('boot', name, (s) => s.bootMs ?? NaN);
      perRound.push(["boot, exec to last broadcast, per round", roundRatios(boot('devMaster'), boot('udevd 252')), roundRatios(boot('devMaster'), boot('udevd 257'))]);
    }
    if (perRound.length > 1) {
      console.log('');
      printTable(perRound);
    }
    // the start against node's own, in the same minute: each start over the `node -e 0` run just before it
    const starts = all('devMaster', (s) => s.readyMs);
    const nodes = all('devMaster', (s) => s.nodeMs ?? NaN);
    if (starts.length) console.log(`devMaster start to ready, each over a node -e 0 run just before it: ${roundRatios(starts, nodes)}, ${starts.length} starts`);
    console.log('targets (against udevd 252): coldplug and storm <= 1.0x (goal 0.5x); peak RSS <= 64 MB (goal 48 MB); start to ready <= 2.0x node -e 0 (goal 1.3x)');

    if (PHASES.includes('stats')) {
      const off = get('stats-coldplug/devMaster');
      const on = get('stats-coldplug/devMaster stats');
      const stat = (label: string, f: (s: Sample) => number) => {
        const a = off.map(f);
        const b = on.map(f);
        return [label, cell(a, ms, 'ms'), cell(b, ms, 'ms'), ratio(median(b), median(a)), roundRatios(b, a)];
      };
      console.log('');
      console.log(`stats: ${on.length} rounds after a warm-up`);
      printTable([
        ['', 'stats off', 'stats on', 'ratio', 'per round'],
        stat('coldplug', (s) => s.span ?? NaN),
        // the daemon's own CPU time in the same rounds: less moved by the scheduling noise of a 200 ms span
        stat('CPU time, coldplug (tree)', (s) => s.cpuMs),
      ]);
      console.log('target: coldplug with stats on <= 1.05x stats off');
    }

    if (PHASES.includes('disk')) {
      const span = (name: string) => get(`disk-coldplug/${name}`).map((s) => s.span ?? NaN);
      const u = median(span('udevd 252'));
      console.log('');
      printTable([
        ['coldplug', 'span', 'against udevd 252'],
        ['devMaster, run root on a tmpfs (/run, as installed)', cell(span('devMaster'), ms, 'ms'), ratio(median(span('devMaster')), u)],
        ['devMaster, run root on the disk, removed before each start (as plain-bench.sh)', cell(span('devMaster disk run'), ms, 'ms'), ratio(median(span('devMaster disk run')), u)],
        ['udevd 252 (/run/udev on a tmpfs)', cell(span('udevd 252'), ms, 'ms'), ''],
      ]);
      console.log("the disk's run root: /tmp's file system; docs/PERFORMANCE.md says what a removed run root costs there");
    }

    if (PHASES.includes('alt')) {
      const alt = (label: string, key: string, f: (s: Sample) => number, fmt: (n: number) => string, unit: string) => {
        const a = get(`${key}/devMaster`).map(f);
        const b = get(`${key}/devMaster alt`).map(f);
        return [label, cell(a, fmt, unit), cell(b, fmt, unit), ratio(median(b), median(a))];
      };
      const perRound = (label: string, key: string, f: (s: Sample) => number) => [label, '', '', roundRatios(get(`${key}/devMaster alt`).map(f), get(`${key}/devMaster`).map(f))];
      console.log('');
      printTable([
        ['', 'executable', altCommand('devmaster.js'), 'ratio'],
        ...(['coldplug', 'storm'] as const).flatMap((p) => [
          alt(p, `alt-${p}`, (s) => s.span ?? NaN, ms, 'ms'),
          alt(`CPU time, ${p}`, `alt-${p}`, (s) => s.cpuMs, ms, 'ms'),
          alt(`peak RSS, ${p}`, `alt-${p}`, (s) => s.hwmKb, mb, 'MB'),
          perRound(`${p}, per round`, `alt-${p}`, (s) => s.span ?? NaN),
        ]),
        ...(['hotplug', 'hotplug-warm'] as const).flatMap((p) => [
          alt(p === 'hotplug' ? 'hotplug, fresh daemon' : 'hotplug after a coldplug', `alt-${p}`, (s) => s.span ?? NaN, ms, 'ms'),
          alt(`CPU time, ${p === 'hotplug' ? 'hotplug, fresh daemon' : 'hotplug after a coldplug'}`, `alt-${p}`, (s) => s.cpuMs, ms, 'ms'),
        ]),
        alt('boot: coldplug triggered at READY=1', 'alt-boot', (s) => s.span ?? NaN, ms, 'ms'),
        alt("boot: exec to the coldplug's last broadcast", 'alt-boot', (s) => s.bootMs ?? NaN, ms, 'ms'),
        perRound("boot: exec to the last broadcast, per round", 'alt-boot', (s) => s.bootMs ?? NaN),
        alt('start to ready', 'alt-coldplug', (s) => s.readyMs, ms, 'ms'),
        perRound('start to ready, per round', 'alt-coldplug', (s) => s.readyMs),
      ]);
    }

    if (PHASES.includes('processes')) await processes(probe, median(all('devMaster', (s) => s.readyMs)), median(all('udevd 252', (s) => s.readyMs)), rules, work, dm);
  } finally {
    await probe?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Whole processes, fork to exit, alternating: node's own start-up, devctl's one-shot verbs and udevadm's. `devctl
 * test` five ways: where no devMaster runs (a run directory where devMaster never ran: every rules file is parsed
 * and compiled, and nothing is kept), and there with an empty rules directory (devctl's start, the device and the
 * event without the rules' parse and compile); beside a running devMaster with the same rules and roots (temporary
 * ones), which runs the event for it (the control socket's test request); there with --local, the files taken from
 * the rules it compiled (src/rules/cache.ts); and there with a copy of the rules in another directory, a test the
 * daemon declines, which devctl runs with the files an earlier test of it compiled and added to the cache.
 */
async function processes(probe: Probe, dmReady: number, udevdReady: number, rules: string, work: string, dm: string): Promise<void> {
  const devctl = join(REPO, 'dist', 'cli', 'devctl.js');
  const ref = referenceUdev();
  const ref257 = referenceUdev257();
  const dmRun = join(work, 'processes-run');
  const dmDev = join(work, 'processes-dev');
  mkdirSync(dmDev, { recursive: true });
  // a run directory where devMaster never ran (no devmaster directory: devctl test keeps nothing there)
  const neverRan = join(work, 'processes-never-ran');
  mkdirSync(neverRan);
  // no rules at all: what devctl test costs where no devMaster runs, without the rules' parse and compile
  const noRules = join(work, 'processes-no-rules');
  mkdirSync(noRules);
  const otherRules = join(work, 'processes-other-rules');
  cpSync(rules, otherRules, { recursive: true });
  // its dev root holds /dev/null, so that `devctl test --dev dmDev /dev/null` names the same device
  execFileSync('mknod', ['-m', '0666', join(dmDev, 'null'), 'c', '1', '3']);
  const starts = await timeStarts(probe, work, `${dm} --unit-backend none --no-mknod --dev ${dmDev} --rules-dir ${rules}`);
  await probe.request({ cmd: 'start', argv: ['sh', '-c', `echo ready-ns; read go; exec ${dm} --unit-backend none --no-mknod --run ${dmRun} --dev ${dmDev} --rules-dir ${rules}`], log: join(work, 'processes-devmaster.log') });
  try {
    const cache = rulesCachePath(dmRun);
    for (let i = 0; i < 100 && !existsSync(cache); i++) await sleep(50);
    if (!existsSync(cache)) throw new Error(`the devMaster of the processes phase wrote no ${cache}`);
    await timeProcesses(probe, dmReady, udevdReady, starts, [
      ['node -e 0', [process.execPath, '-e', '0']],
      ...(Object.keys(SHELL_NODE_VARS).length ? [[`node -e 0, with this shell's ${Object.keys(SHELL_NODE_VARS).join(' and ')} (not in the ratios)`, [process.execPath, '-e', '0'], SHELL_NODE_VARS] as [string, string[], Record<string, string>]] : []),
      ['devctl info /dev/null', [devctl, 'info', '/dev/null']],
      ['devctl test /dev/null, no devMaster running', [devctl, 'test', '--run', neverRan, '--rules-dir', rules, '/dev/null']],
      ['devctl test /dev/null, no devMaster running, no rules', [devctl, 'test', '--run', neverRan, '--rules-dir', noRules, '/dev/null']],
      ['devctl test /dev/null, devMaster running (it runs the event)', [devctl, 'test', '--run', dmRun, '--dev', dmDev, '--rules-dir', rules, '/dev/null']],
      ['devctl test --local /dev/null, devMaster running (its rules cache)', [devctl, 'test', '--local', '--run', dmRun, '--dev', dmDev, '--rules-dir', rules, '/dev/null']],
      ['devctl test /dev/null, other rules, devMaster running (declines; devctl\'s cache)', [devctl, 'test', '--run', dmRun, '--dev', dmDev, '--rules-dir', otherRules, '/dev/null']],
      ['udevadm 252 info /dev/null', [ref.udevadm, 'info', '/dev/null']],
      ['udevadm 252 test /dev/null', [ref.udevadm, 'test', '/dev/null']],
      ['udevadm 252 --version', [ref.udevadm, '--version']],
      ['udevadm 257 --version (its loader)', [ref257.udevadm, '--version']],
    ]);
  } finally {
    await probe.request({ cmd: 'stop' });
  }
}

/**
 * devMaster's start to READY=1, each on a fresh run root (a boot), with and without the rules its last start kept in
 * its cache directory (the shipped unit's --cache-dir /var/cache/devmaster): after a boot, and at the first boot or
 * after every rules file changed. Alternating, START_RUNS each, each start right after a `node -e 0` of its own.
 * Returns them for the whole-process table.
 */
async function timeStarts(probe: Probe, work: string, command: string): Promise<Timed[]> {
  const kept = join(work, 'starts-kept');
  let n = 0;
  const start = async (cacheDir: string | undefined) => {
    const run = join(work, `starts-run-${n++}`);
    const r = await probe.request<{ ready_ms: number }>({ cmd: 'start', argv: ['sh', '-c', `echo ready-ns; read go; exec ${command} --run ${run}${cacheDir ? ` --cache-dir ${cacheDir}` : ''}`], log: join(work, 'starts.log') });
    return { run, ms: r.ready_ms };
  };
  // the first start fills the kept cache, once idle
  const first = await start(kept);
  for (let i = 0; i < 100 && !existsSync(join(kept, 'rules-cache.json')); i++) await sleep(50);
  await probe.request({ cmd: 'stop' });
  if (!existsSync(join(kept, 'rules-cache.json'))) throw new Error(`the first start of the starts phase kept no rules (${first.run})`);
  const kinds: [string, string | undefined][] = [
    ['devMaster start to ready, its kept rules (after a boot)', kept],
    ['devMaster start to ready, no rules kept (first boot)', undefined],
  ];
  const res = kinds.map(() => ({ times: [] as number[], paired: [] as number[], above: [] as number[] }));
  for (let i = 0; i < START_RUNS; i++) {
    for (const j of i % 2 ? [1, 0] : [0, 1]) {
      const node = await timeOnce(probe, [process.execPath, '-e', '0']);
      const s = await start(kinds[j]![1]);
      await probe.request({ cmd: 'stop' });
      rmSync(s.run, { recursive: true, force: true });
      res[j]!.times.push(s.ms);
      res[j]!.paired.push(s.ms / node);
      res[j]!.above.push(s.ms - node);
    }
  }
  return kinds.map(([name], j) => ({ name, ...res[j]! }));
}

/** One run of a whole process, fork to exit, timed by the probe: its ms. */
async function timeOnce(probe: Probe, argv: string[], env?: Record<string, string>): Promise<number> {
  return (await probe.request<{ ms: number[] }>({ cmd: 'time', argv, n: 1, env })).ms[0]!;
}

/** Whole runs of one kind: their times, and each over the `node -e 0` run just before it, as a ratio and in ms. */
interface Timed {
  name: string;
  times: number[];
  paired: number[];
  above: number[];
}

/**
 * Each command timed PROCESS_RUNS times, alternating; each devctl run right after a run of `node -e 0` of its own,
 * and its ratio taken to that one: the machine's speed drifts (a run of slow seconds, a page cache cut back), and a
 * ratio of two runs a moment apart is less moved by it than a ratio of two medians.
 */
async function timeProcesses(probe: Probe, dmReady: number, udevdReady: number, starts: Timed[], cmds: [string, string[], Record<string, string>?][]): Promise<void> {
  const nodeArgv = cmds.find(([k]) => k === 'node -e 0')![1];
  const times = new Map<string, number[]>(cmds.map(([k]) => [k, []]));
  const paired = new Map<string, number[]>(cmds.map(([k]) => [k, []]));
  // the same pairs as differences: what the verb spends above Node's own start, which an environment that slows
  // every node's start (NODE_START_VARS) leaves as it is, where it moves the ratio
  const above = new Map<string, number[]>(cmds.map(([k]) => [k, []]));
  for (const [, argv, env] of cmds) await probe.request({ cmd: 'time', argv, n: 2, env }); // warm the page cache
  for (let i = 0; i < PROCESS_RUNS; i++) {
    for (const [k, argv, env] of cmds) {
      const before = k.startsWith('devctl') ? await timeOnce(probe, nodeArgv) : undefined;
      const t = await timeOnce(probe, argv, env);
      times.get(k)!.push(t);
      if (before !== undefined) {
        paired.get(k)!.push(t / before);
        above.get(k)!.push(t - before);
      }
    }
  }
  const node = median(times.get('node -e 0')!);
  const x = (r: number) => `${r.toFixed(2)}x`;
  console.log('');
  const rows = [['whole process', 'time', 'x node -e 0', 'x the node -e 0 run just before (paired)', 'above it (paired)']];
  const row = ({ name, times: t, paired: p, above: a }: Timed) =>
    rows.push([name, cell(t, ms, 'ms'), ratio(median(t), node), p.length ? `${x(median(p))} (${x(Math.min(...p))}-${x(Math.max(...p))})` : '', a.length ? `+${ms(median(a))} ms` : '']);
  for (const [k] of cmds) row({ name: k, times: times.get(k)!, paired: paired.get(k)!, above: above.get(k)! });
  for (const st of starts) row(st);
  rows.push(['devMaster start to ready (coldplug rounds)', `${ms(dmReady)} ms`, ratio(dmReady, node), '']);
  rows.push(['udevd 252 start to ready', `${ms(udevdReady)} ms`, ratio(udevdReady, node), '']);
  printTable(rows);
  console.log(`targets: devctl info and test <= 1.2x node -e 0 (goal 1.05x); start to ready <= 2.0x (goal 1.3x); ${PROCESS_RUNS} runs each`);
  console.log(`every process ran without ${NODE_START_VARS.join(' and ')} (a service's environment; see NODE_START_VARS)`);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
}
