// The metrics file for node_exporter's textfile collector, written by the real daemon on a period: parsed by the
// npm parser (parse-prometheus-text-format) with counters equal to the daemon's status, and read by a real
// node_exporter (Debian's prometheus-node-exporter, unpacked) without a scrape error.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { parsePrometheusText, parseWithPython, startNodeExporter, type NodeExporter, type PromFamily } from '../helpers/peers.js';
import { tempRoots, startDevmaster, zramRemove, until, sleep, BroadcastListener, addProcessedZram, type TempRoots, type RunningDevmaster } from '../daemon/helpers.js';

interface Status {
  counters: { received: number; processed: number; failed: number; broadcast: number; timedOut: number };
  queue: { size: number; running: number };
  resync: { runs: number };
  rules: { generation: number; files: number; errors: string[] };
  broadcaster: { port: number };
}

function value(fams: PromFamily[], name: string, labels: Record<string, string> = {}): number {
  const f = fams.find((x) => x.name === name);
  if (!f) throw new Error(`metric ${name} missing`);
  const m = f.metrics.find((x) => JSON.stringify(x.labels ?? {}) === JSON.stringify(labels));
  if (!m) throw new Error(`metric ${name}${JSON.stringify(labels)} missing`);
  return Number(m.value);
}

describe('metrics file for node_exporter', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let dir: string;
  let file: string;
  let exporter: NodeExporter | undefined;
  const zrams: number[] = [];

  beforeAll(async () => {
    r = tempRoots('dm-metrics-');
    dir = join(r.base, 'textfile');
    mkdirSync(dir);
    file = join(dir, 'devmaster.prom');
    writeFileSync(join(r.rules, '50-m.rules'), 'SUBSYSTEM=="block", KERNEL=="zram*", SYMLINK+="mtest/%k"\n');
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r, ['--stats', '--metrics-file', file, '--metrics-interval', '1']);
  });

  afterAll(async () => {
    for (const n of zrams) zramRemove(n);
    await exporter?.stop();
    const code = await dm?.stop();
    listener?.close();
    expect(code).toBe(0);
    r?.cleanup();
  });

  it('is written at start and rewritten on its period, through a hidden temporary file', async () => {
    await until(() => existsSync(file), 5000, 'the metrics file');
    const seen = new Set<string>();
    const t0 = statSync(file).mtimeMs;
    const end = Date.now() + 2500;
    while (Date.now() < end) {
      for (const n of readdirSync(dir)) seen.add(n);
      await sleep(2);
    }
    expect(statSync(file).mtimeMs).toBeGreaterThan(t0);
    // node_exporter reads *.prom: nothing else but hidden temporary files ever shows up
    expect([...seen].filter((n) => n !== 'devmaster.prom' && !n.startsWith('.'))).toEqual([]);
    expect((statSync(file).mode & 0o777).toString(8)).toBe('644');
  });

  it("its counters are the daemon's (parse-prometheus-text-format)", async () => {
    const status = await controlRequest(r.run, { command: 'status' }) as unknown as Status;
    await addProcessedZram(listener, status.broadcaster.port, r.dev, zrams);
    // a write between two identical statuses has exactly their counters (events of other tests may slip in: retry)
    for (let attempt = 0; ; attempt++) {
      const before = (await controlRequest(r.run, { command: 'status' })) as unknown as Status;
      const mtime = statSync(file).mtimeMs;
      await until(() => statSync(file).mtimeMs > mtime, 5000, 'a rewrite');
      const text = readFileSync(file, 'utf8');
      const after = (await controlRequest(r.run, { command: 'status' })) as unknown as Status;
      if (JSON.stringify([before.counters, before.queue.size]) !== JSON.stringify([after.counters, after.queue.size]) && attempt < 10) continue;
      const fams = parsePrometheusText(text);
      expect(value(fams, 'devmaster_events_received_total')).toBe(after.counters.received);
      expect(value(fams, 'devmaster_events_processed_total')).toBe(after.counters.processed);
      expect(value(fams, 'devmaster_events_failed_total')).toBe(after.counters.failed);
      expect(value(fams, 'devmaster_events_timed_out_total')).toBe(after.counters.timedOut);
      expect(value(fams, 'devmaster_broadcasts_total')).toBe(after.counters.broadcast);
      expect(value(fams, 'devmaster_queue_length')).toBe(after.queue.size);
      expect(value(fams, 'devmaster_resyncs_total')).toBe(after.resync.runs);
      expect(value(fams, 'devmaster_rules_generation')).toBe(after.rules.generation);
      expect(value(fams, 'devmaster_rules_files')).toBe(1);
      expect(value(fams, 'devmaster_rules_errors')).toBe(0);
      expect(value(fams, 'devmaster_stats_enabled')).toBe(1);
      expect(after.counters.processed).toBeGreaterThanOrEqual(1);
      // the histogram's total count is the events the accounting saw
      const h = parseWithPython(text, 'prometheus').find((f) => f.name === 'devmaster_event_duration_seconds')!;
      const count = h.samples.find((s) => s.name === 'devmaster_event_duration_seconds_count' && s.labels.stage === 'total')!.value;
      expect(count).toBe(after.counters.processed + after.counters.failed);
      const rule = parsePrometheusText(text).find((f) => f.name === 'devmaster_rule_evaluations_total')!;
      expect(rule.metrics[0]!.labels!.rule).toBe(join(r.rules, '50-m.rules') + ':1');
      return;
    }
  });

  it('a real node_exporter reads it with no scrape error, and does report a broken file', async () => {
    exporter = await startNodeExporter(dir);
    const scraped = await exporter.scrape();
    expect(scraped).toMatch(/^node_textfile_scrape_error 0$/m);
    expect(scraped).toMatch(/^devmaster_events_processed_total [1-9]\d*$/m);
    expect(scraped).toMatch(/^devmaster_event_duration_seconds_bucket\{stage="total",le="\+Inf"\} [1-9]\d*$/m);
    expect(scraped).toMatch(/^devmaster_rule_seconds_total\{rule=".*50-m\.rules:1"\} /m);
    expect(scraped).toContain(`node_textfile_mtime_seconds{file="${file}"}`);
    // the peer can fail: a file it cannot parse sets the error
    const broken = join(dir, 'zz-broken.prom');
    writeFileSync(broken, 'devmaster_x{a="b} 1\n');
    try {
      expect(await exporter.scrape()).toMatch(/^node_textfile_scrape_error 1$/m);
    } finally {
      unlinkSync(broken);
    }
  });
});
