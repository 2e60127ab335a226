// devctl stats: the daemon's cost accounting (which rule lines take the time, event latency per stage, slow
// lines and programs), as text, JSON or OpenMetrics. See docs/OBSERVABILITY.md.
import { parseVerbArgs, UsageError } from './common.js';
import { parseSeconds } from './time.js';
import { controlRequest } from '../daemon/control-client.js';
import { SORT_KEYS, STAGES, type StatsSnapshot } from '../stats/recorder.js';
import { renderMetrics, TOP_RULES, type StatusView } from '../export/metrics.js';

export const summary = 'Show which rule lines take the time, and event latency';

export const help = `devctl stats [OPTIONS]

Shows the running daemon's cost accounting: the rule lines (file:line) that took the most time — their keys,
the programs and builtins they ran, the RUN items they added —, how often each was evaluated and matched, the
latency of events per stage (queue, rules, apply, run, total), and the rule lines and programs that took
stats_slow_ms or longer. The accounting is on with the config key stats = true (devmaster --stats), or from
now on with --enable.

Options:
  -n, --top=N            rule lines to show (default 20)
      --sort=KEY         order of the rule lines: ${SORT_KEYS.join(', ')} (default time)
      --json             print the snapshot as JSON
      --openmetrics      print the daemon's metrics in the OpenMetrics text format (counters, queue, rules, and
                         with stats on the latency histogram and the ${TOP_RULES} slowest rule lines)
      --reset            start counting afresh (after printing)
      --enable           turn the accounting on (until the daemon stops)
      --disable          turn the accounting off
  -t, --timeout=SECONDS  how long to wait for the daemon (default 30)
  -h, --help             show this help

Global options: --run DIR (where the daemon's control socket is), --config FILE.
Exit status: 0 on success; 1 when the daemon does not answer, or the accounting is off (except with --openmetrics).
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, roots } = parseVerbArgs(
    argv,
    {
      top: { type: 'string', short: 'n' },
      sort: { type: 'string' },
      json: { type: 'boolean' },
      openmetrics: { type: 'boolean' },
      reset: { type: 'boolean' },
      enable: { type: 'boolean' },
      disable: { type: 'boolean' },
      timeout: { type: 'string', short: 't' },
    },
  );
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (values.enable && values.disable) throw new UsageError('--enable and --disable exclude each other');
  if (values.json && values.openmetrics) throw new UsageError('--json and --openmetrics exclude each other');
  const top = values.top === undefined ? undefined : Number(values.top);
  if (top !== undefined && !(Number.isInteger(top) && top >= 0)) throw new UsageError(`invalid --top value '${values.top}': expected a non-negative integer`);
  const sort = values.sort as string | undefined;
  if (sort !== undefined && !(SORT_KEYS as readonly string[]).includes(sort)) throw new UsageError(`invalid --sort value '${sort}': expected one of ${SORT_KEYS.join(', ')}`);
  const timeoutMs = parseSeconds((values.timeout as string | undefined) ?? '30', '--timeout') * 1000;
  const enable = values.enable ? true : values.disable ? false : undefined;

  let snap: Record<string, unknown>;
  let status: Record<string, unknown> | undefined;
  try {
    if (values.openmetrics) status = await controlRequest(roots.run, { command: 'status' }, timeoutMs);
    snap = await controlRequest(roots.run, { command: 'stats', top: values.openmetrics ? TOP_RULES : top, sort, reset: values.reset === true, enable }, timeoutMs);
  } catch (e) {
    process.stderr.write(`devctl stats: ${(e as Error).message}\n`);
    return 1;
  }
  const enabled = snap.enabled === true;
  if (values.openmetrics) {
    process.stdout.write(renderMetrics({ status: status as StatusView, stats: enabled ? (snap as unknown as StatsSnapshot) : undefined }, 'openmetrics'));
    return 0;
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(snap, null, 2) + '\n');
    return enabled ? 0 : 1;
  }
  if (!enabled) {
    process.stderr.write(values.disable ? 'devctl stats: the accounting is off now\n' : 'devctl stats: the accounting is off (config key stats = true, devmaster --stats, or devctl stats --enable)\n');
    return values.disable ? 0 : 1;
  }
  process.stdout.write(formatStats(snap as unknown as StatsSnapshot));
  return 0;
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function table(rows: string[][], right: boolean[]): string[] {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => '  ' + r.map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd());
}

/** The text report. */
export function formatStats(s: StatsSnapshot): string {
  const out: string[] = [];
  out.push(`Since ${s.since}: ${s.events.count} events, ${s.events.failed} failed; slow threshold ${s.slowMs > 0 ? `${s.slowMs} ms` : 'off'}.`);
  out.push(
    s.sample > 1
      ? `Time in rule keys measured on 1 event in ${s.sample} and scaled; programs, builtins and RUN timed on every event.`
      : 'Every event timed.',
    '',
  );
  const sortWord: Record<string, string> = { time: 'total time', max: 'longest run', mean: 'mean time', count: 'evaluations', matched: 'matches' };
  out.push(`Rule lines by ${sortWord[s.rules.sort] ?? s.rules.sort} (${s.rules.top.length} of ${s.rules.lines} that ran):`);
  if (s.rules.top.length === 0) out.push('  (none yet)');
  else {
    const rows = [['RULE', 'EVALUATED', 'MATCHED', 'TOTAL ms', 'MEAN ms', 'MAX ms', 'SLOW', 'PROGRAMS, BUILTINS, RUN']];
    for (const r of s.rules.top) {
      const kids = [
        r.programs.count ? `${r.programs.count} programs ${ms(r.programs.ms)} ms` : '',
        r.builtins.count ? `${r.builtins.count} builtins ${ms(r.builtins.ms)} ms` : '',
        r.run.count ? `${r.run.count} RUN ${ms(r.run.ms)} ms` : '',
      ].filter(Boolean);
      rows.push([r.rule, String(r.evaluated), String(r.matched), ms(r.totalMs), ms(r.meanMs), ms(r.maxMs), String(r.slow), kids.join(', ')]);
    }
    out.push(...table(rows, [false, true, true, true, true, true, true, false]));
  }
  out.push('', `Event latency in ms (percentiles of the last ${s.stages.total.recent} events):`);
  const rows = [['STAGE', 'COUNT', 'MEAN', 'P50', 'P90', 'P99', 'MAX']];
  for (const st of STAGES) {
    const l = s.stages[st];
    rows.push([st, String(l.count), ms(l.meanMs), ms(l.p50Ms), ms(l.p90Ms), ms(l.p99Ms), ms(l.maxMs)]);
  }
  out.push(...table(rows, [false, true, true, true, true, true, true]));
  if (s.slowMs > 0) {
    out.push('', `Slow rule lines and programs (>= ${s.slowMs} ms): ${s.slow.total}${s.slow.total > s.slow.recent.length ? `, the last ${s.slow.recent.length}` : ''}`);
    for (const e of s.slow.recent) {
      const what = e.kind === 'line' ? `${e.rule}  rule line` : e.kind === 'keys' ? 'rule keys of an event whose lines were not timed' : `${e.rule}  ${e.kind === 'run' ? 'RUN' : e.kind} "${e.what}"`;
      out.push(`  ${e.at}  ${what}  ${e.running ? `still running after ${e.ms} ms` : `${e.ms} ms`}  ${e.devpath}`);
    }
  }
  return out.join('\n') + '\n';
}
