// The daemon's metrics in Prometheus's text exposition format (version 0.0.4: what node_exporter's textfile
// collector reads) and in OpenMetrics 1.0 (`devctl stats --openmetrics`). Pure: the input is the daemon's status
// (as `devctl control --status` shows it) and, when stats are on, the cost accounting's snapshot.
import type { StatsSnapshot } from '../stats/recorder.js';
import { STAGES } from '../stats/recorder.js';

export type MetricsFormat = 'prometheus' | 'openmetrics';

/** The parts of the daemon's status the metrics are made of (every field may be missing). */
export interface StatusView {
  counters?: { received?: number; processed?: number; failed?: number; timedOut?: number; broadcast?: number; lockSkipped?: number; renamed?: number; renameFailed?: number };
  netlink?: { dropped?: number; malformed?: number; forged?: number; overflows?: number };
  queue?: { size?: number; running?: number };
  resync?: { runs?: number };
  rules?: { generation?: number; files?: number; errors?: unknown[]; rejected?: unknown[]; refused?: { count?: number } };
}

export interface MetricsInput {
  status: StatusView;
  /** The cost accounting's snapshot; without it the latency and rule metrics are left out. */
  stats?: StatsSnapshot;
}

/** How many rule lines (the slowest by total time) get their own series. */
export const TOP_RULES = 10;

interface Sample {
  /** Appended to the family name: '', '_total', '_bucket', '_sum', '_count'. */
  suffix: string;
  labels: [string, string][];
  value: number;
}

interface Family {
  /** The family name (counters without _total). */
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  unit?: string;
  samples: Sample[];
}

const n = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function counter(name: string, help: string, value: number | undefined, labels: [string, string][] = []): Family {
  return { name, type: 'counter', help, samples: [{ suffix: '_total', labels, value: n(value) }] };
}

function gauge(name: string, help: string, value: number | undefined): Family {
  return { name, type: 'gauge', help, samples: [{ suffix: '', labels: [], value: n(value) }] };
}

/** The metric families, in output order. */
function metricFamilies(input: MetricsInput): Family[] {
  const { status, stats } = input;
  const c = status.counters ?? {};
  const nl = status.netlink ?? {};
  const rules = status.rules ?? {};
  const fams: Family[] = [
    counter('devmaster_events_received', 'Kernel uevents received.', c.received),
    counter('devmaster_events_processed', 'Events processed successfully.', c.processed),
    counter('devmaster_events_failed', 'Events whose processing failed.', c.failed),
    counter('devmaster_events_timed_out', 'Events given up at event_timeout.', c.timedOut),
    {
      name: 'devmaster_events_dropped',
      type: 'counter',
      help: 'Events lost or refused: kernel receive queue overflow, malformed or forged messages, whole disk locked too long.',
      samples: [
        { suffix: '_total', labels: [['reason', 'overflow']], value: n(nl.dropped) },
        { suffix: '_total', labels: [['reason', 'malformed']], value: n(nl.malformed) },
        { suffix: '_total', labels: [['reason', 'forged']], value: n(nl.forged) },
        { suffix: '_total', labels: [['reason', 'lock_timeout']], value: n(c.lockSkipped) },
      ],
    },
    counter('devmaster_broadcasts', 'Processed events broadcast to libudev clients.', c.broadcast),
    counter('devmaster_interface_renames', 'Network interfaces renamed by NAME=.', c.renamed),
    counter('devmaster_interface_rename_failures', 'Network interface renames that failed.', c.renameFailed),
    gauge('devmaster_queue_length', 'Events queued or running.', status.queue?.size),
    gauge('devmaster_queue_running', 'Events running.', status.queue?.running),
    counter('devmaster_resyncs', 'Resynchronizations with sysfs after lost events.', status.resync?.runs),
    gauge('devmaster_rules_generation', 'Rules sets loaded since start (1 = the first load).', rules.generation),
    gauge('devmaster_rules_files', 'Rules files in the search path.', rules.files),
    gauge('devmaster_rules_errors', 'Errors in the rules files on disk (a file with errors keeps its previous version).', rules.errors?.length),
    gauge('devmaster_rules_rejected_files', 'Rules files whose version on disk was rejected for errors.', rules.rejected?.length),
    counter('devmaster_rules_reloads_refused', 'Rules reloads refused because their impact exceeded reload_max_impact.', rules.refused?.count),
    gauge('devmaster_stats_enabled', 'Whether the cost accounting (stats) is on.', stats ? 1 : 0),
  ];
  if (!stats) return fams;
  const hist: Family = { name: 'devmaster_event_duration_seconds', type: 'histogram', unit: 'seconds', help: 'Time of an event per stage: queue, rules, apply, run, total.', samples: [] };
  for (const stage of STAGES) {
    const s = stats.stages[stage];
    for (const b of s.buckets) hist.samples.push({ suffix: '_bucket', labels: [['stage', stage], ['le', b.leMs === null ? '+Inf' : String(b.leMs / 1000)]], value: b.count });
    hist.samples.push({ suffix: '_sum', labels: [['stage', stage]], value: s.sumMs / 1000 });
    hist.samples.push({ suffix: '_count', labels: [['stage', stage]], value: s.count });
  }
  fams.push(hist);
  const top = stats.rules.top.slice(0, TOP_RULES);
  const perRule = (name: string, help: string, v: (r: (typeof top)[number]) => number, unit?: string): Family => ({
    name,
    type: 'counter',
    help,
    unit,
    samples: top.map((r) => ({ suffix: '_total', labels: [['rule', r.rule]], value: v(r) })),
  });
  fams.push(
    perRule('devmaster_rule_seconds', `Time in a rule line, its programs and builtins and the RUN items it added (the ${TOP_RULES} slowest lines).`, (r) => r.totalMs / 1000, 'seconds'),
    perRule('devmaster_rule_evaluations', 'Times a rule line was evaluated (the same lines).', (r) => r.evaluated),
    perRule('devmaster_rule_matches', 'Times a rule line matched (the same lines).', (r) => r.matched),
    perRule('devmaster_rule_slow', 'Times a rule line or its program took stats_slow_ms or longer (the same lines).', (r) => r.slow),
  );
  return fams;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string, om: boolean): string {
  const s = v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return om ? s.replace(/"/g, '\\"') : s;
}

/** A number as both formats write it; OpenMetrics wants bucket bounds in canonical float form ("1.0"). */
function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

function leValue(le: string, om: boolean): string {
  if (!om || le === '+Inf') return le;
  return /^-?\d+$/.test(le) ? `${le}.0` : le;
}

/** Renders the metrics; OpenMetrics output ends with "# EOF". */
export function renderMetrics(input: MetricsInput, format: MetricsFormat): string {
  const om = format === 'openmetrics';
  const out: string[] = [];
  for (const f of metricFamilies(input)) {
    // text format 0.0.4 names a counter family by its sample name (…_total); OpenMetrics by its base name
    const family = !om && f.type === 'counter' ? `${f.name}_total` : f.name;
    out.push(`# HELP ${family} ${escapeHelp(f.help, om)}`);
    out.push(`# TYPE ${family} ${f.type}`);
    if (om && f.unit) out.push(`# UNIT ${family} ${f.unit}`);
    for (const s of f.samples) {
      const labels = s.labels.map(([k, v]) => `${k}="${escapeLabel(k === 'le' ? leValue(v, om) : v)}"`).join(',');
      out.push(`${f.name}${s.suffix}${labels ? `{${labels}}` : ''} ${num(s.value)}`);
    }
  }
  if (om) out.push('# EOF');
  return out.join('\n') + '\n';
}

