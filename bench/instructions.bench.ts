// `npm run bench -- instructions`: the user-mode instructions each daemon spends on one coldplug, counted by
// valgrind's cachegrind (Debian's `valgrind` package): devMaster and udevd 252, each started fresh under valgrind in
// the daemon bench's namespace (Debian's rules without the renaming ones, Debian's hwdb, a tmpfs copy of /dev, the
// reference programs), every process of its tree counted (udevd's workers, the programs either runs).
//
// A run: start, wait until ready and then idle (its tree's CPU time still for a while), then in a loaded run
// `udevadm trigger --action=change` and the wait for its broadcasts (`udevadm monitor --udev`) and for idleness
// again, SIGTERM. The coldplug's instructions are a loaded run's
// minus an unloaded run's, each daemon's runs alternating. Everything the coldplug makes the daemon do after it is
// counted too (devMaster's records and heap upkeep, udevd's idle workers' exit).
//
// DM_BENCH_INSTR_RUNS (default 2) pairs per daemon; DM_BENCH_ALT_SCRIPT: another build's dist/cli/devmaster.js too.
//
// What it is for: these counts repeat to about a percent, where the timed bench's spread on this virtual machine is
// tens of percent; a change of an event's path shows here before it shows in a timing. What it is not: what a user
// waits for. It counts no kernel time, and nothing of how the work is spread over the CPUs (udevd's workers run on
// both): the daemon bench measures that.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev, REPO } from '../test/helpers/reference.js';
import { sleep, spawnInNamespace, ueventPorts, type NamespaceOptions } from '../test/helpers/udevd.js';
import { referenceSetup } from './reference-setup.js';
import { median } from './summary.js';
import { treeCpuMs } from './tree-cpu.js';

const RUNS = Number(process.env.DM_BENCH_INSTR_RUNS ?? 2);
/** A daemon is idle once its tree used at most IDLE_CPU_MS of CPU over IDLE_MS, after SETTLE_MS at least. */
const SETTLE_MS = 2000;
const IDLE_MS = 1500;
const IDLE_CPU_MS = 20;
const IDLE_TIMEOUT_MS = 120_000;
const LOAD_TIMEOUT_MS = 180_000;

function haveValgrind(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Sum of the `summary:` lines of cachegrind's output files in `dir` (one per process). */
function instructionsIn(dir: string): number {
  let sum = 0;
  for (const f of readdirSync(dir)) {
    if (!f.startsWith('ir.')) continue;
    const m = /^summary: (\d+)$/m.exec(readFileSync(join(dir, f), 'utf8'));
    if (m) sum += Number(m[1]);
  }
  return sum;
}

/**
 * Waits until the daemon under valgrind is idle: what it does after READY=1 or after a load (devMaster's loads after
 * READY=1, its records and heap upkeep; udevd's workers) takes seconds under valgrind, and an unloaded run stopped
 * before that work is done would leave it to the loaded run's count.
 */
async function settle(name: string, pid: number): Promise<void> {
  await sleep(SETTLE_MS);
  const end = Date.now() + IDLE_TIMEOUT_MS;
  for (let before = treeCpuMs(pid); ; ) {
    await sleep(IDLE_MS);
    const now = treeCpuMs(pid);
    if (now - before <= IDLE_CPU_MS) return;
    if (Date.now() > end) throw new Error(`${name} was still busy under valgrind after ${IDLE_TIMEOUT_MS / 1000} s`);
    before = now;
  }
}

/** How many devices `udevadm trigger --action=change` writes to now. */
function devicesTriggered(udevadm: string): number {
  return execFileSync(udevadm, ['trigger', '--action=change', '--dry-run', '--verbose'], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
}

interface Daemon {
  name: string;
  command: string[];
  /** Resolves once the daemon started under valgrind answers. */
  ready: (pid: number, output: () => string) => Promise<void>;
}

/** One run under valgrind: its instructions, all processes summed. */
async function run(d: Daemon, ns: NamespaceOptions, work: string, loaded: boolean): Promise<number> {
  const ref = referenceUdev();
  const out = mkdtempSync(join(work, 'ir-'));
  const vg = ['valgrind', '--tool=cachegrind', '--cache-sim=no', '--trace-children=yes', `--cachegrind-out-file=${out}/ir.%p`, `--log-file=${out}/log.%p`, ...d.command];
  const p = spawnInNamespace(ns, vg, { ...process.env, SYSTEMD_LOG_LEVEL: 'err' });
  try {
    await p.nsReady();
    await d.ready(p.proc.pid!, p.output);
    await settle(d.name, p.proc.pid!);
    if (loaded) {
      const n = devicesTriggered(ref.udevadm);
      const monitor = spawn(ref.udevadm, ['monitor', '--udev'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let seen = 0;
      monitor.stdout.on('data', (c: Buffer) => (seen += c.toString().split('\n').filter((l) => l.startsWith('UDEV ')).length));
      await sleep(500);
      execFileSync(ref.udevadm, ['trigger', '--action=change'], { stdio: 'ignore' });
      const end = Date.now() + LOAD_TIMEOUT_MS;
      while (seen < n && Date.now() < end) await sleep(50);
      monitor.kill();
      if (seen < n) throw new Error(`${d.name}: ${seen} of ${n} events broadcast in ${LOAD_TIMEOUT_MS / 1000} s`);
    }
    await settle(d.name, p.proc.pid!);
  } finally {
    await p.stop();
  }
  // valgrind writes each process's file as it exits
  await sleep(500);
  const ir = instructionsIn(out);
  if (ir === 0) throw new Error(`${d.name}: no instructions counted:\n${p.output().slice(-2000)}`);
  return ir;
}

export async function main(): Promise<void> {
  if (!haveValgrind()) {
    // as npm test's prerequisites are got: Debian's package, with apt-get, as root
    console.log("installing Debian's valgrind package (apt-get) for the instructions bench");
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'valgrind'], { stdio: 'ignore' });
    } catch {
      /* said below */
    }
    if (!haveValgrind()) throw new Error("the instructions bench needs valgrind: Debian's valgrind package could not be installed (apt-get, as root)");
  }
  const ref = referenceUdev();
  const work = mkdtempSync(join(tmpdir(), 'dm-bench-instr-'));
  try {
    const { rules, nRules, hwdbBin, stage } = referenceSetup(work);
    const ns: NamespaceOptions = { rules, bindRules: true, programs: true, hwdbBin, reference: 252, dev: stage, devTmpfs: true };
    const udevd = join(work, 'systemd-udevd');
    symlinkSync(ref.udevadm, udevd); // udevadm is multi-call: as systemd-udevd it is the daemon
    const dm = join(REPO, 'dist', 'cli', 'devmaster.js');
    const daemons: Daemon[] = [
      {
        // its executable, so with its shebang's V8 flags; info logs say when it is ready
        name: 'devMaster',
        command: [dm, '--unit-backend', 'none', '--no-mknod', '--log-level', 'info'],
        async ready(_pid, output) {
          for (let i = 0; !output().includes('devmaster ready in'); i++) {
            if (i > 2400) throw new Error(`devMaster did not start under valgrind:\n${output().slice(-2000)}`);
            await sleep(50);
          }
        },
      },
      {
        name: 'udevd 252',
        command: [udevd],
        async ready(pid, output) {
          for (let i = 0; ; i++) {
            try {
              if (ueventPorts(pid).size >= 1) {
                execFileSync('nsenter', ['-t', String(pid), '-m', ref.udevadm, 'control', '--ping', '-t', '1'], { stdio: 'ignore' });
                return;
              }
            } catch {
              /* not yet */
            }
            if (i > 2400) throw new Error(`udevd did not start under valgrind:\n${output().slice(-2000)}`);
            await sleep(50);
          }
        },
      },
    ];
    // another build's executable (a copy of dist/ inside the tree, as the daemon bench's alt phase takes it): a
    // change's instructions against the build before it
    const alt = process.env.DM_BENCH_ALT_SCRIPT;
    if (alt) daemons.push({ ...daemons[0]!, name: 'devMaster alt', command: [alt, ...daemons[0]!.command.slice(1)] });
    const per: Record<string, number[]> = {};
    let events = 0;
    for (let r = 0; r < RUNS; r++) {
      for (const d of daemons) {
        const idle = await run(d, ns, work, false);
        events = devicesTriggered(ref.udevadm);
        const loaded = await run(d, ns, work, true);
        (per[d.name] ??= []).push(loaded - idle);
      }
    }
    const M = (n: number) => `${(n / 1e6).toFixed(1)}M`;
    console.log(`udevd ${ref.version}; ${nRules} Debian rules files, Debian's hwdb; ${RUNS} pairs of runs (loaded, unloaded) per daemon, alternating; a coldplug of ${events} devices`);
    console.log('user-mode instructions of a coldplug, every process of the daemon counted (valgrind --tool=cachegrind)');
    const dmIr = median(per['devMaster']!);
    const udIr = median(per['udevd 252']!);
    for (const [name, xs] of Object.entries(per)) console.log(`  ${name.padEnd(10)} ${M(median(xs)).padStart(8)} (${xs.map(M).join(', ')}), ${Math.round(median(xs) / events / 1000)}k per event`);
    console.log(`  devMaster / udevd 252: ${(dmIr / udIr).toFixed(2)}x`);
    if (alt) console.log(`  devMaster / devMaster alt (${alt}): ${(dmIr / median(per['devMaster alt']!)).toFixed(3)}x`);
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (existsSync('/run/udev') && readdirSync('/run/udev').length === 0) rmSync('/run/udev', { recursive: true, force: true });
  }
}
