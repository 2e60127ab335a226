// Rules engine benchmark: loading Debian's 32 rules files plus this machine's 9, and running them on every
// device of this machine (test mode: nothing is changed). Next to it, the reference: Debian's `udevadm test`
// against `devctl test` for the same devices and the same 41 files (both as whole processes, since udevadm
// has no in-process mode), udevadm inside a private mount namespace with the merged rules over its rules dir.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadRules } from '../src/rules/load.js';
import { mergeConfFiles } from '../src/config/rules-path.js';
import { Device } from '../src/device/device.js';
import { processEvent, type EventContext } from '../src/event/process.js';
import { loadAllBuiltins } from '../src/builtins/registry.js';
import { referenceUdev, REPO } from '../test/helpers/reference.js';
import { devicesOfThisMachine } from './devices.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(): Promise<void> {
  const ref = referenceUdev();
  const merged = mkdtempSync(join(tmpdir(), 'dm-bench-rules-'));
  for (const f of mergeConfFiles([ref.rulesDir, '/usr/lib/udev/rules.d'], '.rules')) symlinkSync(f, join(merged, f.slice(f.lastIndexOf('/') + 1)));
  const nfiles = readdirSync(merged).length;
  try {
    // ---- load
    const loads: number[] = [];
    let load = await loadRules([merged]);
    for (let i = 0; i < 15; i++) {
      const t = performance.now();
      load = await loadRules([merged]);
      loads.push(performance.now() - t);
    }
    const lines = load.ruleSet.lineCount;

    // ---- execute on every device
    const roots = { sysfs: '/sys', dev: '/dev', run: mkdtempSync(join(tmpdir(), 'dm-bench-run-')) };
    const builtins = new Map((await loadAllBuiltins()).map((b) => [b.name, b]));
    const ctx: EventContext = { roots, ruleSet: load.ruleSet, log: pino({ level: 'silent' }), test: true, mknod: false, execTimeoutMs: 10_000, builtins };
    const devices = devicesOfThisMachine();
    const runAll = async () => {
      const t = performance.now();
      for (const p of devices) {
        const d = Device.fromSyspath(roots, p);
        d.action = 'add';
        await processEvent(ctx, d);
      }
      return performance.now() - t;
    };
    await runAll();
    const execs: number[] = [];
    for (let i = 0; i < 3; i++) execs.push(await runAll());
    rmSync(roots.run, { recursive: true, force: true });

    // ---- whole processes: udevadm test vs devctl test on a sample of devices
    const sample = devices.filter((_, i) => i % Math.max(1, Math.floor(devices.length / 12)) === 0).slice(0, 12);
    const devctlJs = join(REPO, 'dist', 'cli', 'devctl.js');
    const timeProc = (cmd: string, args: string[]) => {
      const t = performance.now();
      const r = spawnSync(cmd, args, { stdio: 'ignore' });
      if (r.status !== 0 && r.status !== null) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
      return performance.now() - t;
    };
    const ours = sample.map((p) => timeProc(process.execPath, [devctlJs, 'test', '--rules-dir', merged, '--run', join(tmpdir(), 'dm-bench-none'), p]));
    const script = `mount --bind ${merged} /usr/lib/udev/rules.d && mount -t tmpfs tmpfs /etc/udev/rules.d 2>/dev/null; mkdir -p /run/udev && mount -t tmpfs tmpfs /run/udev; ` +
      sample.map((p) => `s=$(date +%s%N); ${ref.udevadm} test --action=add ${p} >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e-s)/1000 ))`).join('; ');
    const theirs = execFileSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' }).trim().split('\n').map((us) => Number(us) / 1000);

    const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
    console.log(`rules: ${nfiles} files (Debian's udev ${ref.version} rules.d + this machine's /usr/lib/udev/rules.d), ${lines} compiled lines`);
    console.log(`devMaster load (parse + compile), median of 15: ${fmt(median(loads))}`);
    console.log(`devMaster execute on all ${devices.length} devices of this machine, median of 3: ${fmt(median(execs))} (${((median(execs) * 1000) / devices.length).toFixed(0)} µs/device)`);
    console.log(`whole process, load + one event, median over ${sample.length} devices:`);
    console.log(`  devctl test:  ${fmt(median(ours))}`);
    console.log(`  udevadm test: ${fmt(median(theirs))}`);
    console.log(`  ratio devMaster/udevadm: ${(median(ours) / median(theirs)).toFixed(2)}×`);
  } finally {
    rmSync(merged, { recursive: true, force: true });
  }
}
