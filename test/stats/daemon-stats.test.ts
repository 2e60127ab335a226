// The cost accounting on the real daemon: a rules file whose PROGRAM is slow, a real zram hot_add. The slow program
// is logged with file:line and device while its event still runs (before the event's broadcast), and
// `devctl stats` puts that line at the top.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import type { StatsSnapshot } from '../../src/stats/recorder.js';
import { devctl } from '../helpers/cli.js';
import { parseWithPython } from '../helpers/peers.js';
import { tempRoots, startDevmaster, zramAdd, until, BroadcastListener, type TempRoots, type RunningDevmaster, stopAll } from '../daemon/helpers.js';

interface LogLine {
  msg: string;
  rule?: string;
  devpath?: string;
  ms?: number;
  running?: boolean;
}

const logLines = (dm: RunningDevmaster): LogLine[] =>
  dm
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

describe('stats on the daemon: which rule is slow', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let port: number;
  let rulesFile: string;
  const zrams: number[] = [];

  beforeAll(async () => {
    r = tempRoots('dm-stats-');
    rulesFile = join(r.rules, '50-slow.rules');
    writeFileSync(
      rulesFile,
      [
        '# a slow program for zram disks',
        `SUBSYSTEM=="block", KERNEL=="zram*", ACTION=="add", PROGRAM="/bin/sh -c 'sleep 1.5; echo slow'", SYMLINK+="slowtest/%k"`,
        'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_STATS_TEST}="1", RUN+="/bin/true"',
        '',
      ].join('\n'),
    );
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r, ['--stats', '--stats-slow-ms', '400']);
    port = ((await controlRequest(r.run, { command: 'status' })).broadcaster as { port: number }).port;
  });

  afterAll(async () => {
    expect(await stopAll(zrams, dm, listener, r)).toBe(0);
  });

  it('logs the slow program with file:line, device and time while its event is still running', async () => {
    listener.clear();
    const n = zramAdd();
    zrams.push(n);
    const devpath = `/devices/virtual/block/zram${n}`;
    const ours = (l: LogLine) => l.devpath === devpath && l.rule === `${rulesFile}:2`;
    await until(() => logLines(dm).some((l) => ours(l) && l.running === true), 10_000, 'the "still running" log line');
    // the event has not been broadcast yet: it is still running
    const broadcast = listener.events.filter((b) => b.senderPort === port && b.properties.get('DEVPATH') === devpath && b.properties.get('ACTION') === 'add');
    expect(broadcast).toEqual([]);
    const running = logLines(dm).find((l) => ours(l) && l.running === true)!;
    expect(running.msg).toMatch(new RegExp(`^slow rule ${rulesFile}:2: program "/bin/sh -c 'sleep 1.5; echo slow'" still running after \\d+ ms \\(${devpath}\\)$`));
    expect(running.ms).toBeGreaterThanOrEqual(400);
    expect(running.ms).toBeLessThan(1500);

    await listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVPATH') === devpath && b.properties.get('ACTION') === 'add', 15_000, `zram${n} add`);
    await until(() => logLines(dm).some((l) => ours(l) && /took \d+ ms/.test(l.msg)), 5000, 'the "took" log line');
    const took = logLines(dm).find((l) => ours(l) && /took \d+ ms/.test(l.msg))!;
    expect(took.ms).toBeGreaterThanOrEqual(1400);
  });

  it('devctl stats shows that line at the top, with its file:line, program time and event latency', async () => {
    await dm.settle();
    const text = devctl(['stats', '--run', r.run]);
    expect(text.stderr).toBe('');
    expect(text.status).toBe(0);
    const lines = text.stdout.split('\n');
    const header = lines.findIndex((l) => /^\s+RULE\s+EVALUATED\s+MATCHED\s+TOTAL ms/.test(l));
    expect(header).toBeGreaterThan(0);
    expect(lines[header + 1]).toMatch(new RegExp(`^\\s+${rulesFile}:2\\s+\\d+\\s+\\d+\\s+\\d+`));
    expect(lines[header + 1]).toMatch(/\d+ programs \d+ ms/);
    expect(text.stdout).toMatch(/Slow rule lines and programs \(>= 400 ms\): [1-9]/);

    const json = devctl(['stats', '--json', '--run', r.run]);
    expect(json.status).toBe(0);
    const s = JSON.parse(json.stdout) as StatsSnapshot & { enabled: boolean };
    expect(s.enabled).toBe(true);
    const top = s.rules.top[0]!;
    expect(top.rule).toBe(`${rulesFile}:2`);
    expect(top.matched).toBeGreaterThanOrEqual(1);
    expect(top.programs.count).toBeGreaterThanOrEqual(1);
    expect(top.programs.ms).toBeGreaterThanOrEqual(1400);
    expect(top.slow).toBeGreaterThanOrEqual(1);
    const run = s.rules.top.find((x) => x.rule === `${rulesFile}:3`)!;
    expect(run.run.count).toBeGreaterThanOrEqual(1); // the RUN item is charged to the line that added it
    expect(s.events.count).toBeGreaterThanOrEqual(1);
    expect(s.stages.rules.maxMs).toBeGreaterThanOrEqual(1400);
    expect(s.stages.total.maxMs).toBeGreaterThanOrEqual(s.stages.rules.maxMs);
    expect(s.slow.recent.some((e) => e.rule === `${rulesFile}:2` && !e.running && e.ms >= 1400)).toBe(true);
  });

  it('devctl stats --openmetrics: the strict OpenMetrics parser reads it, its counters are the daemon status', async () => {
    await dm.settle();
    const om = devctl(['stats', '--openmetrics', '--run', r.run]);
    expect(om.status).toBe(0);
    const fams = parseWithPython(om.stdout);
    const status = await controlRequest(r.run, { command: 'status' });
    const counters = status.counters as { received: number; processed: number };
    // no event may slip in between: compare only when the daemon saw nothing new meanwhile
    const value = (name: string) => fams.find((f) => f.name === name)!.samples[0]!.value;
    expect(value('devmaster_events_processed')).toBeLessThanOrEqual(counters.processed);
    expect(value('devmaster_events_processed')).toBeGreaterThanOrEqual(1);
    expect(value('devmaster_events_received')).toBeLessThanOrEqual(counters.received);
    expect(value('devmaster_stats_enabled')).toBe(1);
    const rule = fams.find((f) => f.name === 'devmaster_rule_seconds')!;
    expect(rule.samples[0]!.labels.rule).toBe(`${rulesFile}:2`);
    expect(rule.samples[0]!.value).toBeGreaterThanOrEqual(1.4);
  });

  it('--sort, --reset, --disable and --enable', async () => {
    const byCount = JSON.parse(devctl(['stats', '--json', '--sort', 'count', '--run', r.run]).stdout) as StatsSnapshot;
    const counts = byCount.rules.top.map((x) => x.evaluated);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(devctl(['stats', '--sort', 'nope', '--run', r.run]).stderr).toContain("invalid --sort value 'nope'");

    const done = async () => {
      const c = (await controlRequest(r.run, { command: 'status' })).counters as { processed: number; failed: number };
      return c.processed + c.failed;
    };
    const before = await done();
    expect(devctl(['stats', '--reset', '--json', '--run', r.run]).status).toBe(0);
    const after = JSON.parse(devctl(['stats', '--json', '--run', r.run]).stdout) as StatsSnapshot;
    // only what finished since the reset is counted (other tests' events may come meanwhile)
    expect(Date.parse(after.since)).toBeGreaterThan(Date.parse(byCount.since));
    expect(after.events.count).toBeLessThanOrEqual((await done()) - before);

    const off = devctl(['stats', '--disable', '--run', r.run]);
    expect(off.status).toBe(0);
    const none = devctl(['stats', '--run', r.run]);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain('the accounting is off');
    expect(((await controlRequest(r.run, { command: 'status' })).stats as { enabled: boolean }).enabled).toBe(false);
    const on = devctl(['stats', '--enable', '--json', '--run', r.run]);
    expect(on.status).toBe(0);
    expect((JSON.parse(on.stdout) as { enabled: boolean }).enabled).toBe(true);
  });
});
