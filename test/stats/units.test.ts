// The pure parts of the cost accounting and the exports: latency percentiles and buckets, the recorder's per-line
// accounting and slow logging, the metrics in both formats (read back by real parsers), NFD label rules.
import { describe, it, expect } from 'vitest';
import { Latency, LATENCY_BOUNDS_MS } from '../../src/stats/latency.js';
import { StatsRecorder } from '../../src/stats/recorder.js';
import { nowMs } from '../../src/util/clock.js';
import { EventCancelled } from '../../src/util/cancel.js';
import { loadRules, RuleSet } from '../../src/rules/load.js';
import { compileRulesText } from '../../src/rules/compile-text.js';
import { rehearsalEvents } from '../../src/daemon/rehearsal.js';
import { referenceUdev, REPO } from '../helpers/reference.js';
import { processEvent, runProgramList, type EventContext } from '../../src/event/process.js';
import { renderMetrics, type StatusView } from '../../src/export/metrics.js';
import { deviceFacts, FeatureExport, isLabelValue, labelName, mergeFacts, propertyLabel, renderFeatures } from '../../src/export/nfd.js';
import { Device } from '../../src/device/device.js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureLogger } from '../helpers/log-capture.js';
import { parseWithPython, parsePrometheusText } from '../helpers/peers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('latency distribution', () => {
  it('counts into cumulative buckets and takes percentiles of the recent values', () => {
    const l = new Latency();
    for (let i = 1; i <= 100; i++) l.add(i); // 1..100 ms
    const s = l.snapshot();
    expect(s.count).toBe(100);
    expect(s.sumMs).toBe(5050);
    expect(s.maxMs).toBe(100);
    expect([s.p50Ms, s.p90Ms, s.p99Ms]).toEqual([50, 90, 99]);
    const at = (le: number | null) => s.buckets.find((b) => b.leMs === le)!.count;
    expect(at(1)).toBe(1); // "le" is inclusive
    expect(at(10)).toBe(10);
    expect(at(100)).toBe(100);
    expect(at(null)).toBe(100);
    expect(s.buckets).toHaveLength(LATENCY_BOUNDS_MS.length + 1);
  });
});

describe('stats recorder', () => {
  const roots = { sysfs: '/nonexistent-sys', dev: '/nonexistent-dev', run: '/nonexistent-run' };
  const A = [
    'SUBSYSTEM=="dmtest", ENV{X}="1"', // 1: evaluated, matches
    'SUBSYSTEM=="dmtest", ENV{NOPE}=="x", ENV{Y}="1"', // 2: evaluated, does not match
    'SUBSYSTEM=="other", ENV{Z}="1"', // 3: skipped on its first key: not counted
    'SUBSYSTEM=="dmtest", RUN+="/bin/true"', // 4: a RUN item
  ].join('\n');
  const B = `SUBSYSTEM=="dmtest", PROGRAM="/bin/sh -c 'sleep 0.15'", ENV{P}="1"`;
  const set = new RuleSet([compileRulesText(A, '/r/10-a.rules'), compileRulesText(B, '/r/20-b.rules')]);
  const device = () => Device.fromUevent(roots, { ACTION: 'add', DEVPATH: '/devices/virtual/dmtest/x', SUBSYSTEM: 'dmtest', SEQNUM: '42' });

  /** One event through the real rules engine in test mode, accounted as the daemon does. */
  async function event(rec: StatsRecorder, rules: RuleSet, during?: () => void): Promise<void> {
    const cost = rec.begin('/devices/virtual/dmtest/x', 42, nowMs() - 5);
    const ctx: EventContext = { roots, ruleSet: rules, log: captureLogger().logger, test: true, mknod: false, execTimeoutMs: 5000, builtins: new Map(), cost };
    const running = processEvent(ctx, device());
    if (during) {
      await sleep(120);
      during();
    }
    const res = await running;
    cost.processed();
    await runProgramList(ctx, res);
    cost.end(res.failed);
  }

  it('counts evaluations and matches, charges programs and RUN items to file:line, logs a slow program while it runs', async () => {
    const { logger, lines } = captureLogger();
    const rec = new StatsRecorder({ slowMs: 50, sample: 1, log: logger });
    let whileRunning: typeof lines = [];
    await event(rec, set, () => (whileRunning = lines.filter((l) => /still running after/.test(l.msg))));

    expect(whileRunning).toHaveLength(1);
    expect(whileRunning[0]).toMatchObject({ rule: '/r/20-b.rules:1', kind: 'program', what: "/bin/sh -c 'sleep 0.15'", devpath: '/devices/virtual/dmtest/x', seqnum: 42, running: true, level: 40 });
    const done = lines.filter((l) => /took \d+ ms/.test(l.msg));
    expect(done).toHaveLength(1); // the program, not the line around it again
    expect(done[0]!.msg).toContain(`slow rule /r/20-b.rules:1: program "/bin/sh -c 'sleep 0.15'" took`);

    const s = rec.snapshot();
    expect(s.events).toEqual({ count: 1, failed: 0 });
    const by = (rule: string) => s.rules.top.find((r) => r.rule === rule);
    expect(s.rules.top[0]!.rule).toBe('/r/20-b.rules:1');
    expect(by('/r/20-b.rules:1')).toMatchObject({ evaluated: 1, matched: 1, sampled: 1, slow: 1, programs: { count: 1 } });
    expect(by('/r/20-b.rules:1')!.programs.ms).toBeGreaterThanOrEqual(140);
    expect(by('/r/20-b.rules:1')!.keysMs).toBeLessThan(50); // the program's time is not the keys'
    expect(by('/r/10-a.rules:1')).toMatchObject({ evaluated: 1, matched: 1 });
    expect(by('/r/10-a.rules:2')).toMatchObject({ evaluated: 1, matched: 0 });
    expect(by('/r/10-a.rules:3')).toBeUndefined();
    expect(by('/r/10-a.rules:4')).toMatchObject({ evaluated: 1, matched: 1, run: { count: 1 } });
    expect(s.slow.total).toBe(1);
    expect(s.slow.recent[0]).toMatchObject({ rule: '/r/20-b.rules:1', running: false });
    expect(s.slow.recent[0]!.ms).toBeGreaterThanOrEqual(140);
    expect(s.stages.rules.count).toBe(1);
    expect(s.stages.rules.maxMs).toBeGreaterThanOrEqual(140);
    expect(s.stages.run.maxMs).toBeGreaterThan(0);
    expect(s.stages.queue.maxMs).toBeGreaterThanOrEqual(5);
    expect(s.stages.total.maxMs).toBeGreaterThanOrEqual(s.stages.rules.maxMs);
    expect(rec.snapshot({ sort: 'matched' }).rules.top.map((r) => r.matched)).toEqual([1, 1, 1, 0]);
    rec.reset();
    expect(rec.snapshot().rules.top).toEqual([]);
    rec.close();
  });

  it('counts a GOTO line of ACTION and SUBSYSTEM keys alone as evaluated and matched, and takes it, as running it would', async () => {
    const text = [
      'ACTION=="remove", GOTO="c_end"', // 1: never reached by an add: not counted
      'SUBSYSTEM!="block", GOTO="c_end"', // 2: always taken by this event: counted, not run nor stepped on
      'ENV{NEVER}="1"', // 3: stepped over by the GOTO
      'LABEL="c_end"',
      'SUBSYSTEM=="dmtest", ENV{AFTER}="1"', // 5: evaluated, matches
    ].join('\n');
    const rules = new RuleSet([compileRulesText(text, '/r/30-c.rules')]);
    const rec = new StatsRecorder({ slowMs: 1000, sample: 1, log: captureLogger().logger });
    const cost = rec.begin('/devices/virtual/dmtest/x', 43, nowMs());
    const ctx: EventContext = { roots, ruleSet: rules, log: captureLogger().logger, test: true, mknod: false, execTimeoutMs: 5000, builtins: new Map(), cost };
    const res = await processEvent(ctx, device());
    cost.processed();
    cost.end(res.failed);
    expect(res.device.properties.get('AFTER')).toBe('1');
    expect(res.device.properties.has('NEVER')).toBe(false);
    const by = (rule: string) => rec.snapshot().rules.top.find((r) => r.rule === rule);
    expect(by('/r/30-c.rules:1')).toBeUndefined();
    // stepped over by the plan, never run: counted, with no time of its own (no timed evaluation)
    expect(by('/r/30-c.rules:2')).toMatchObject({ evaluated: 1, matched: 1, sampled: 0, keysMs: 0 });
    expect(by('/r/30-c.rules:3')).toBeUndefined();
    expect(by('/r/30-c.rules:5')).toMatchObject({ evaluated: 1, matched: 1 });
    rec.close();
  });

  it('counts the GOTO lines at the top of the files an event entered before it was given up, and not those after', async () => {
    // A counting plan counts its events, and the GOTO lines every one of them passes at the top of each file are
    // counted from that (src/rules/plan.ts, heads): an event given up in file 2 must count file 1's and file 2's,
    // not file 3's, as an executor stepping on every line does. A second event, run to its end, counts all three.
    const files = [
      ['/r/10-a.rules', ['SUBSYSTEM!="block", GOTO="a_end"', 'ENV{A}="1"', 'LABEL="a_end"']],
      ['/r/20-b.rules', ['SUBSYSTEM!="block", GOTO="b_end"', 'LABEL="b_end"', 'ENV{SLEEP}=="?*", PROGRAM="/bin/sleep 5"']],
      ['/r/30-c.rules', ['SUBSYSTEM!="block", GOTO="c_end"', 'ENV{C}="1"', 'LABEL="c_end"']],
    ] as const;
    const rules = new RuleSet(files.map(([name, lines]) => compileRulesText(lines.join('\n'), name)));
    const counts = async (stepOnEveryLine: boolean) => {
      const rec = new StatsRecorder({ slowMs: 0, sample: 1, log: captureLogger().logger });
      for (const sleep of [true, false]) {
        const giveUp = new AbortController();
        const cost = rec.begin('/devices/virtual/dmtest/x', 42, nowMs());
        const ctx: EventContext = { roots, ruleSet: rules, log: captureLogger().logger, test: true, mknod: false, execTimeoutMs: 5000, builtins: new Map(), cost, signal: giveUp.signal, trace: stepOnEveryLine ? [] : undefined };
        const dev = Device.fromUevent(roots, { ACTION: 'add', DEVPATH: '/devices/virtual/dmtest/x', SUBSYSTEM: 'dmtest', SEQNUM: '42', ...(sleep ? { SLEEP: '1' } : {}) });
        const timer = setTimeout(() => giveUp.abort(new EventCancelled('given up', 'timeout')), 200);
        const run = processEvent(ctx, dev);
        if (sleep) await expect(run).rejects.toThrow('given up');
        else await run;
        clearTimeout(timer);
        cost.end(sleep);
      }
      const top = rec.snapshot({ top: 100, sort: 'count' }).rules.top;
      rec.close();
      return Object.fromEntries(top.map((r) => [r.rule, [r.evaluated, r.matched]]));
    };
    const planned = await counts(false);
    expect(planned).toEqual({ '/r/10-a.rules:1': [2, 2], '/r/20-b.rules:1': [2, 2], '/r/20-b.rules:3': [1, 0], '/r/30-c.rules:1': [1, 1] });
    expect(planned).toEqual(await counts(true));
  });

  it("counts Debian's rules on every fixture device as an executor stepping on every line would", async () => {
    // The executor steps over the GOTO lines every event of a kind takes (src/rules/plan.ts) and counts them
    // without running them; devctl test's trace makes it step on every line and run them. Both counts must agree.
    const fixture = { sysfs: join(REPO, 'fixtures/sysfs/basic/sys'), dev: '/nonexistent-dev', run: '/nonexistent-run' };
    const debian = await loadRules([referenceUdev().rulesDir]);
    const counts = async (stepOnEveryLine: boolean) => {
      const rec = new StatsRecorder({ slowMs: 0, sample: 3, log: captureLogger().logger });
      let n = 0;
      for (const action of ['add', 'change', 'remove']) {
        for (const ev of rehearsalEvents(fixture, action)) {
          const cost = rec.begin(ev.devpath, ev.seqnum, nowMs());
          const ctx: EventContext = { roots: fixture, ruleSet: debian.ruleSet, log: captureLogger().logger, test: true, mknod: false, execTimeoutMs: 5000, builtins: new Map(), cost, trace: stepOnEveryLine ? [] : undefined };
          const res = await processEvent(ctx, Device.fromUevent(fixture, ev.properties));
          cost.processed();
          cost.end(res.failed);
          n++;
        }
      }
      const top = rec.snapshot({ top: 100_000, sort: 'count' }).rules.top;
      rec.close();
      return { n, lines: Object.fromEntries(top.map((r) => [r.rule, [r.evaluated, r.matched]])) };
    };
    const stepped = await counts(true);
    const planned = await counts(false);
    expect(stepped.n).toBeGreaterThan(40);
    expect(Object.keys(stepped.lines).length).toBeGreaterThan(100);
    expect(planned.lines).toEqual(stepped.lines);
  });

  it('times the lines of one event in `sample`, counts all, scales the key time; counts continue across a reload', async () => {
    const { logger, lines } = captureLogger();
    const rec = new StatsRecorder({ slowMs: 0, sample: 4, log: logger });
    const quick = new RuleSet([compileRulesText(A, '/r/10-a.rules')]);
    const timedFlags: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      timedFlags.push(i % 4 === 0);
      await event(rec, quick);
    }
    expect(timedFlags).toEqual([true, false, false, false, true, false, false, false]);
    let s = rec.snapshot();
    expect(s.sample).toBe(4);
    const r = s.rules.top.find((x) => x.rule === '/r/10-a.rules:1')!;
    expect(r).toMatchObject({ evaluated: 8, matched: 8, sampled: 2 });
    expect(r.meanMs).toBeCloseTo(r.keysMs / 8, 9);
    // a reload: new compiled lines, the same file:line
    const reloaded = new RuleSet([compileRulesText(A, '/r/10-a.rules')]);
    await event(rec, reloaded);
    await event(rec, reloaded);
    s = rec.snapshot();
    expect(s.rules.top.find((x) => x.rule === '/r/10-a.rules:1')).toMatchObject({ evaluated: 10, matched: 10 });
    expect(lines).toEqual([]);
    rec.close();
  });

  it('an event whose lines are not timed and whose rules spent long outside programs is logged with the device', () => {
    const { logger, lines } = captureLogger();
    const rec = new StatsRecorder({ slowMs: 20, sample: 2, log: logger });
    rec.begin('/devices/x', 8, nowMs()).end(false); // the first event is timed
    const c = rec.begin('/devices/y', 9, nowMs());
    expect(c.timeLines).toBe(false);
    c.childStart('builtin', '/r/40-d.rules', 3, 'path_id');
    c.childEnd();
    c.rulesMs = 30;
    c.processed();
    c.end(false);
    expect(lines.filter((x) => x.msg.startsWith('slow rules: 30 ms in rule keys outside programs and builtins (/devices/y)'))).toHaveLength(1);
    expect(rec.snapshot().slow.recent[0]).toMatchObject({ kind: 'keys', devpath: '/devices/y', ms: 30 });
    rec.close();
  });

  it('the stage latencies: every event in each stage, the total the sum of the four, across the 64-event buffer', () => {
    const rec = new StatsRecorder({ slowMs: 0, sample: 10, log: captureLogger().logger });
    const n = 150; // more than two buffers' worth, and not a multiple of one
    for (let i = 0; i < n; i++) {
      const c = rec.begin('/devices/x', i, nowMs() - (i % 7)); // queued up to 6 ms before it starts
      c.rulesMs = i % 3;
      c.processed();
      c.end(false);
    }
    let s = rec.snapshot().stages;
    for (const st of ['queue', 'rules', 'apply', 'run', 'total'] as const) expect(s[st].count).toBe(n);
    expect(s.rules.sumMs).toBe(150); // i % 3 over 0..149
    // i % 7 over 0..149 is 444, and each event starts a little after the clock read that made its queued time
    expect(s.queue.sumMs).toBeGreaterThanOrEqual(444);
    expect(s.queue.sumMs).toBeLessThan(450);
    expect(s.queue.maxMs).toBeGreaterThanOrEqual(6);
    expect(s.total.sumMs).toBeCloseTo(s.queue.sumMs + s.rules.sumMs + s.apply.sumMs + s.run.sumMs, 6);
    // events after a snapshot are still counted; a reset forgets those not yet read
    rec.begin('/devices/x', n, nowMs()).end(false);
    expect(rec.snapshot().stages.total.count).toBe(n + 1);
    rec.begin('/devices/x', n + 1, nowMs()).end(false);
    rec.reset();
    s = rec.snapshot().stages;
    expect(s.total.count).toBe(0);
    rec.close();
  });

  it("the daemon queue's start time, and no run stage for an event without RUN items (no processed())", () => {
    const rec = new StatsRecorder({ slowMs: 0, sample: 10, log: captureLogger().logger });
    const now = nowMs();
    const c = rec.begin('/devices/x', 1, now - 5, now - 3); // queued 5 ms ago, started by the queue 3 ms ago
    c.rulesMs = 1;
    c.end(false);
    const s = rec.snapshot().stages;
    expect(s.queue.sumMs).toBeCloseTo(2, 6);
    expect(s.run.sumMs).toBe(0);
    // from the queue's start to the end, less the rules
    expect(s.apply.sumMs).toBeGreaterThanOrEqual(2);
    expect(s.total.sumMs).toBeGreaterThanOrEqual(5);
    rec.close();
  });

  it('logs a slow rule line that runs no program once it is done (timed events)', () => {
    const { logger, lines } = captureLogger();
    const rec = new StatsRecorder({ slowMs: 20, sample: 1, log: logger });
    const c = rec.begin('/devices/x', 1, nowMs());
    const t0 = nowMs();
    while (nowMs() - t0 < 25); // a line that blocks (a slow sysfs read)
    c.counters(set);
    c.line(0, 1, set.files[0]!.lines[1]!, t0);
    c.end(false);
    expect(lines.filter((l) => l.msg.includes('slow rule /r/10-a.rules:2: the rule line took'))).toHaveLength(1);
    rec.close();
  });
});

describe('metrics', () => {
  const status: StatusView = {
    counters: { received: 12, processed: 10, failed: 2, timedOut: 1, broadcast: 10, lockSkipped: 3 },
    netlink: { dropped: 4, malformed: 5, forged: 6 },
    queue: { size: 7, running: 2 },
    resync: { runs: 8 },
    rules: { generation: 3, files: 41, errors: ['a', 'b'], rejected: ['x'], refused: { count: 2 } },
  };
  const rec = new StatsRecorder({ slowMs: 0, sample: 1, log: captureLogger().logger });
  // a rules file whose path needs escaping in a label value; its line 9 evaluated and matched once
  const set = new RuleSet([compileRulesText('\n'.repeat(8) + 'ENV{Q}="1"\n', '/etc/udev/rules.d/50-"q"\\.rules')]);
  const c = rec.begin('/devices/x', 1, nowMs() - 2);
  const k = c.counters(set);
  k.outcomes[0]![1]!++;
  c.line(0, 0, set.files[0]!.lines[0]!, nowMs() - 1);
  c.processed();
  c.end(false);
  const stats = rec.snapshot();

  it("Prometheus's text format, read back by parse-prometheus-text-format", () => {
    const fams = parsePrometheusText(renderMetrics({ status, stats }, 'prometheus'));
    const one = (name: string, labels?: Record<string, string>) => {
      const f = fams.find((x) => x.name === name);
      if (!f) throw new Error(`no ${name}`);
      const m = f.metrics.find((x) => JSON.stringify(x.labels ?? {}) === JSON.stringify(labels ?? {}));
      return { type: f.type, value: Number(m?.value) };
    };
    expect(one('devmaster_events_received_total')).toEqual({ type: 'COUNTER', value: 12 });
    expect(one('devmaster_events_failed_total').value).toBe(2);
    expect(one('devmaster_events_dropped_total', { reason: 'overflow' }).value).toBe(4);
    expect(one('devmaster_events_dropped_total', { reason: 'lock_timeout' }).value).toBe(3);
    expect(one('devmaster_queue_length')).toEqual({ type: 'GAUGE', value: 7 });
    expect(one('devmaster_resyncs_total').value).toBe(8);
    expect(one('devmaster_rules_generation').value).toBe(3);
    expect(one('devmaster_rules_errors').value).toBe(2);
    expect(one('devmaster_rules_reloads_refused_total').value).toBe(2);
    expect(one('devmaster_rule_evaluations_total', { rule: '/etc/udev/rules.d/50-"q"\\.rules:9' }).value).toBe(1);
    expect(fams.find((f) => f.name === 'devmaster_event_duration_seconds')!.type).toBe('HISTOGRAM');
    // every name is a valid metric name, every value a number
    for (const f of fams) {
      expect(f.name).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      for (const m of f.metrics) if (m.value !== undefined) expect(Number.isNaN(Number(m.value))).toBe(false);
    }
  });

  it("the latency histogram per stage, read back by Python prometheus_client's text parser", () => {
    const h = parseWithPython(renderMetrics({ status, stats }, 'prometheus'), 'prometheus').find((f) => f.name === 'devmaster_event_duration_seconds')!;
    expect(h.type).toBe('histogram');
    for (const stage of ['queue', 'rules', 'apply', 'run', 'total']) {
      const of = (name: string, le?: string) => h.samples.find((s) => s.name === name && s.labels.stage === stage && s.labels.le === le)!.value;
      expect(of('devmaster_event_duration_seconds_count')).toBe(1);
      expect(of('devmaster_event_duration_seconds_bucket', '+Inf')).toBe(1);
      expect(of('devmaster_event_duration_seconds_sum')).toBeCloseTo(stats.stages[stage as 'total'].sumMs / 1000, 9);
    }
    expect(h.samples.find((s) => s.labels.stage === 'total' && s.labels.le === '30')).toBeDefined();
  });

  it('OpenMetrics, read back by the strict parser of Python prometheus_client', () => {
    const text = renderMetrics({ status, stats }, 'openmetrics');
    expect(text.endsWith('# EOF\n')).toBe(true);
    const fams = parseWithPython(text);
    const f = (name: string) => fams.find((x) => x.name === name)!;
    expect(f('devmaster_events_received')).toMatchObject({ type: 'counter', samples: [{ name: 'devmaster_events_received_total', value: 12 }] });
    expect(f('devmaster_event_duration_seconds')).toMatchObject({ type: 'histogram', unit: 'seconds' });
    expect(f('devmaster_rule_seconds')).toMatchObject({ type: 'counter', unit: 'seconds' });
    expect(f('devmaster_rule_matches').samples[0]).toMatchObject({ labels: { rule: '/etc/udev/rules.d/50-"q"\\.rules:9' }, value: 1 });
    // the peer does reject what is wrong
    expect(() => parseWithPython(text.replace('# EOF\n', ''))).toThrow();
  });

  it('without stats: the counters only', () => {
    const text = renderMetrics({ status }, 'prometheus');
    expect(text).toContain('devmaster_stats_enabled 0\n');
    expect(text).not.toContain('devmaster_event_duration_seconds');
    expect(parseWithPython(renderMetrics({ status }, 'openmetrics')).length).toBeGreaterThan(10);
  });
});

describe('node-feature-discovery labels', () => {
  it('names: bare names are prefixed, prefixed ones checked, bad ones refused with a reason', () => {
    expect(labelName('zram')).toEqual({ label: 'feature.node.kubernetes.io/devmaster-zram' });
    expect(labelName('example.com/gpu.present')).toEqual({ label: 'example.com/gpu.present' });
    expect(labelName('Example.com/x')).toHaveProperty('error');
    expect(labelName('x-')).toHaveProperty('error');
    expect(labelName('example.com/-x')).toHaveProperty('error');
    expect(labelName('a b')).toHaveProperty('error');
    expect(labelName('x'.repeat(60))).toHaveProperty('error'); // devmaster-… is longer than 63
    expect(isLabelValue('')).toBe(true);
    expect(isLabelValue('v1.2_3-x')).toBe(true);
    expect(isLabelValue('-x')).toBe(false);
    expect(isLabelValue('x'.repeat(64))).toBe(false);
  });

  it('property labels: the value made a valid name part', () => {
    expect(propertyLabel('ID_BUS', 'usb')).toBe('feature.node.kubernetes.io/devmaster-id_bus.usb');
    expect(propertyLabel('ID_MODEL', 'QEMU HARDDISK  ')).toBe('feature.node.kubernetes.io/devmaster-id_model.QEMU_HARDDISK');
    expect(propertyLabel('X', '///')).toBeUndefined();
    expect(propertyLabel('ID_SERIAL', 'a'.repeat(100))!.length).toBe('feature.node.kubernetes.io/'.length + 63);
  });

  it('facts of devices merge: the first device by devpath wins a disagreement, property labels are counted', () => {
    const bad: string[] = [];
    const props = (o: Record<string, string>) => new Map(Object.entries(o));
    const a = deviceFacts('/devices/a', props({ DEVMASTER_FEATURE: 'disk example.com/tier=fast bad/x=y', ID_BUS: 'usb' }), ['ID_BUS'], (w) => bad.push(w))!;
    const b = deviceFacts('/devices/b', props({ DEVMASTER_FEATURE: 'example.com/tier=slow', ID_BUS: 'usb' }), ['ID_BUS'], (w) => bad.push(w))!;
    expect(deviceFacts('/devices/c', props({ ID_MODEL: 'x' }), ['ID_BUS'], () => undefined)).toBeUndefined();
    expect(bad).toEqual([]); // "bad" is a valid DNS name: the label bad/x is fine
    const conflicts: string[] = [];
    const labels = mergeFacts([b, a], (l, kept, other) => conflicts.push(`${l} ${kept} ${other}`));
    expect([...labels]).toEqual([
      ['bad/x', 'y'],
      ['example.com/tier', 'fast'],
      ['feature.node.kubernetes.io/devmaster-disk', 'true'],
      ['feature.node.kubernetes.io/devmaster-id_bus.usb', '2'],
    ]);
    expect(conflicts).toEqual(['example.com/tier fast slow']);
    const invalid: string[] = [];
    deviceFacts('/devices/d', props({ DEVMASTER_FEATURE: 'UPPER.case/x ok=-bad' }), [], (w, why) => invalid.push(`${w}: ${why}`));
    expect(invalid).toHaveLength(2);
    expect(invalid[1]).toContain('not a label value');
  });

  it('the file: one label=value line each, "true" values bare, RFC 3339 expiry directive', () => {
    const text = renderFeatures(new Map([['a.io/x', 'true'], ['a.io/y', '3']]), new Date('2030-01-02T03:04:05.678Z'));
    expect(text.split('\n')).toEqual([expect.stringMatching(/^# /), '# +expiry-time=2030-01-02T03:04:05Z', 'a.io/x', 'a.io/y=3', '']);
  });

  it('the exporter follows add, move and remove of a device (a move changes a +subsystem:sysname id)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-nfd-unit-'));
    try {
      const nfd = new FeatureExport({ dir, properties: [], expirySec: 0 }, captureLogger().logger);
      const dev = (action: string, name: string, old?: string) => {
        const d = Device.fromUevent({ sysfs: '/nonexistent', dev: '/nonexistent', run: dir }, { ACTION: action, DEVPATH: `/devices/virtual/dmtest/${name}`, SUBSYSTEM: 'dmtest', SEQNUM: '1', ...(old ? { DEVPATH_OLD: old } : {}) });
        d.setProperty('DEVMASTER_FEATURE', `dmtest-${name}`);
        return d;
      };
      nfd.onEvent('add', dev('add', 'a'));
      nfd.flush();
      expect(readFileSync(join(dir, 'devmaster'), 'utf8')).toContain('feature.node.kubernetes.io/devmaster-dmtest-a\n');
      nfd.onEvent('move', dev('move', 'b', '/devices/virtual/dmtest/a'));
      nfd.flush();
      const text = readFileSync(join(dir, 'devmaster'), 'utf8');
      expect(text).toContain('feature.node.kubernetes.io/devmaster-dmtest-b\n');
      expect(text).not.toContain('dmtest-a');
      nfd.onEvent('remove', dev('remove', 'b'));
      nfd.flush();
      expect(existsSync(join(dir, 'devmaster'))).toBe(false);
      expect(nfd.status()).toMatchObject({ devices: 0, labels: 0, writes: 3 });
      nfd.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
