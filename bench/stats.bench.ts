// The cost of the rule statistics (`stats`, docs/OBSERVABILITY.md) on the rules alone, without a daemon's start,
// netlink or scheduling in the figure: bench/stats-runner.ts, bundled as the daemon's code is (no names kept) and
// run under the daemon's V8 flags (its executable's #! line), runs Debian 12's rules (without the two files that
// rename interfaces, as the daemon bench) on a "change" of every device of this machine in test mode, with and
// without the accounting, in alternating rounds of one process. The daemon bench's `stats` phase measures the same
// thing on whole coldplugs, where a run's noise is larger than the difference.
//
// DM_BENCH_STATS_PAIRS (default 40) sets the rounds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { shebangFlags } from '../test/helpers/bundle.js';
import { referenceUdev, REPO } from '../test/helpers/reference.js';
import { EXCLUDED_RULES, rulesCopy } from '../test/helpers/udevd.js';
import { median, spread } from './summary.js';

const PAIRS = Number(process.env.DM_BENCH_STATS_PAIRS ?? 40);

export async function main(): Promise<void> {
  const ref = referenceUdev();
  const rules = mkdtempSync(join(tmpdir(), 'dm-bench-stats-rules-'));
  try {
    const nfiles = rulesCopy(ref.rulesDir, rules);
    // inside the tree, so that the bundle finds node_modules
    const outdir = join(REPO, '.cache', 'bench');
    mkdirSync(outdir, { recursive: true });
    const runner = join(outdir, 'stats-runner.mjs');
    await build({
      entryPoints: [join(REPO, 'bench', 'stats-runner.ts')],
      outfile: runner,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minifySyntax: true,
      packages: 'external',
      logLevel: 'warning',
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    });
    const flags = shebangFlags('devmaster');
    const out = JSON.parse(execFileSync(process.execPath, [...flags, runner, rules, String(PAIRS)], { encoding: 'utf8', maxBuffer: 1 << 24 })) as { devices: number; lines: number; off: number[]; on: number[] };
    const ms = (n: number) => n.toFixed(1);
    const ratios = out.on.map((x, i) => x / out.off[i]!);
    const perEvent = ((median(out.on) - median(out.off)) * 1000) / out.devices;
    console.log(`rules: ${nfiles} Debian ${ref.version} files (without ${EXCLUDED_RULES.join(', ')}), ${out.lines} lines; a "change" of each of this machine's ${out.devices} devices, test mode`);
    console.log(`node ${flags.join(' ')} (the daemon's flags); ${PAIRS} rounds after a warm-up, alternating; medians (min-max)`);
    console.log(`  stats off: ${ms(median(out.off))} ms (${spread(out.off, ms)})`);
    console.log(`  stats on:  ${ms(median(out.on))} ms (${spread(out.on, ms)}); ${perEvent.toFixed(1)} µs more per event`);
    console.log(`  ratio ${(median(out.on) / median(out.off)).toFixed(3)}x; per round ${median(ratios).toFixed(3)}x (${spread(ratios, (r) => r.toFixed(3))})`);
    console.log('target: stats on <= 1.05x stats off (docs/OBSERVABILITY.md; the daemon bench measures it on whole coldplugs)');
  } finally {
    rmSync(rules, { recursive: true, force: true });
  }
}
