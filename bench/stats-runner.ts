// The stats bench's runner (bench/stats.bench.ts bundles it and runs it under the daemon's V8 flags): Debian's rules
// on a "change" of every device of this machine, in test mode (nothing is written), round after round, each round
// once with the cost accounting as the daemon keeps it with stats on (src/stats: begin, the rules' hooks, processed,
// end) and once without, in alternating order. Prints {devices, lines, off: ms[], on: ms[]} as JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadAllBuiltins } from '../src/builtins/registry.js';
import { Device } from '../src/device/device.js';
import { processEvent, type EventContext } from '../src/event/process.js';
import { loadRules } from '../src/rules/load.js';
import { StatsRecorder } from '../src/stats/recorder.js';
import { nowMs } from '../src/util/clock.js';
import { devicesOfThisMachine } from './devices.js';

async function main(): Promise<void> {
  const [rulesDir, roundsArg] = process.argv.slice(2);
  const rounds = Number(roundsArg);
  const load = await loadRules([rulesDir!]);
  const run = mkdtempSync(join(tmpdir(), 'dm-bench-stats-'));
  try {
    const log = pino({ level: 'silent' });
    const builtins = new Map((await loadAllBuiltins()).map((b) => [b.name, b]));
    const ctx: EventContext = { roots: { sysfs: '/sys', dev: '/dev', run }, ruleSet: load.ruleSet, log, test: true, mknod: false, execTimeoutMs: 10_000, builtins };
    const devices = devicesOfThisMachine();
    // the daemon's defaults: slow threshold 1000 ms, the lines of one event in 10 timed
    const recorder = new StatsRecorder({ slowMs: 1000, sample: 10, log });
    const runAll = async (stats: boolean): Promise<number> => {
      const t = nowMs();
      for (const p of devices) {
        const d = Device.fromSyspath(ctx.roots, p);
        d.action = 'change';
        // queued and started now: the daemon's queue stamps both, with stats on or off
        const now = nowMs();
        const cost = stats ? recorder.begin(d.devpath, 0, now, now) : undefined;
        const res = await processEvent({ ...ctx, cost }, d);
        // as the daemon: the stage before RUN ends only where RUN items follow (test mode runs none)
        if (res.runList.length) cost?.processed();
        cost?.end(false);
      }
      return nowMs() - t;
    };
    // a warm-up of each
    await runAll(false);
    await runAll(true);
    const off: number[] = [];
    const on: number[] = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        off.push(await runAll(false));
        on.push(await runAll(true));
      } else {
        on.push(await runAll(true));
        off.push(await runAll(false));
      }
    }
    recorder.close();
    process.stdout.write(JSON.stringify({ devices: devices.length, lines: load.ruleSet.lineCount, off, on }));
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
