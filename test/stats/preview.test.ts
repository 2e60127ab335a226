// The rules preview and the reload bound on the real daemon and kernel. A daemon with temp roots gives zram disks
// a link by a rule; `devctl reload --dry-run` with a candidate that edits that one rule lists exactly the zram
// disks (every one has its link change), and nothing else; the daemon with reload_max_impact = 1 refuses to put
// that edit in force and keeps its rules, and accepts an edit that changes no device.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import type { ImpactReport } from '../../src/preview/impact.js';
import { devctl } from '../helpers/cli.js';
import { tempRoots, startDevmaster, until, BroadcastListener, addProcessedZram, type TempRoots, type RunningDevmaster, stopAll } from '../daemon/helpers.js';

const LINK_RULE = 'SUBSYSTEM=="block", KERNEL=="zram*", SYMLINK+="pv/%k-link", MODE="0640"';

/** The zram disks in sysfs now. */
const zramDevpaths = () =>
  readdirSync('/sys/block')
    .filter((n) => /^zram\d+$/.test(n))
    .map((n) => `/devices/virtual/block/${n}`)
    .sort();

describe('rules preview and the reload bound', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let cand: string;
  let port: number;
  const zrams: number[] = [];
  const ours: string[] = [];

  /** Runs the preview while no zram disk comes or goes (other tests make theirs too), then returns it with that set. */
  function preview(args: string[]): { report: ImpactReport; zram: string[]; stdout: string } {
    for (let attempt = 0; ; attempt++) {
      const before = zramDevpaths();
      const res = devctl(['reload', '--dry-run', '--json', '--run', r.run, '--dev', r.dev, '--rules-dir', r.rules, ...args]);
      if (res.status !== 0) throw new Error(`devctl reload --dry-run failed: ${res.stderr}`);
      if (JSON.stringify(zramDevpaths()) === JSON.stringify(before) || attempt >= 5) return { report: JSON.parse(res.stdout) as ImpactReport, zram: before, stdout: res.stdout };
    }
  }

  beforeAll(async () => {
    r = tempRoots('dm-preview-');
    cand = join(r.base, 'candidate');
    mkdirSync(cand);
    writeFileSync(join(r.rules, '50-link.rules'), LINK_RULE + '\n');
    writeFileSync(join(r.rules, '60-other.rules'), 'SUBSYSTEM=="block", KERNEL=="loop*", ENV{DM_PREVIEW_LOOP}="1"\n');
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r, ['--reload-max-impact', '1']);
    port = ((await controlRequest(r.run, { command: 'status' })).broadcaster as { port: number }).port;
    for (let i = 0; i < 2; i++) ours.push(`/devices/virtual/block/${(await addProcessedZram(listener, port, r.dev, zrams)).name}`);
    await dm.settle();
  });

  afterAll(async () => {
    expect(await stopAll(zrams, dm, listener, r)).toBe(0);
  });

  it('the rules in force as candidate change nothing', () => {
    writeFileSync(join(cand, '50-link.rules'), LINK_RULE + '\n');
    const { report } = preview([join(cand, '50-link.rules')]);
    expect(report.changed).toEqual([]);
    for (const e of report.errors) expect(existsSync(`/sys${e.devpath}`), `${e.devpath}: ${e.error}`).toBe(false); // gone meanwhile
    expect(report.devices).toBeGreaterThan(50);
    // devices this daemon never processed (loop devices, other tests' zram disks) have no record: drift, with
    // what the rules give them
    for (const d of report.drift) {
      expect(existsSync(join(r.run, 'data', d.id))).toBe(false);
      if (d.sysname.startsWith('zram')) expect(d.changes).toEqual([{ what: 'link', after: `/dev/pv/${d.sysname}-link` }]);
      else expect(d.changes).toEqual([{ what: 'property', key: 'DM_PREVIEW_LOOP', after: '1' }]);
    }
    expect(report.drift.map((d) => d.devpath)).not.toContain(ours[0]);
  });

  it('a candidate that edits the link rule lists exactly the devices whose links change', () => {
    writeFileSync(join(cand, '50-link.rules'), LINK_RULE.replace('pv/', 'pv2/') + '\n');
    const { report, zram } = preview([join(cand, '50-link.rules')]);
    expect(report.changed.map((d) => d.devpath)).toEqual(zram);
    for (const d of report.changed) {
      expect(d.changes.every((c) => c.what === 'link')).toBe(true);
      expect(d.changes).toContainEqual({ what: 'link', after: `/dev/pv2/${d.sysname}-link` });
    }
    for (const p of ours) {
      const d = report.changed.find((x) => x.devpath === p)!;
      expect(d.changes).toEqual([
        { what: 'link', before: `/dev/pv/${d.sysname}-link` },
        { what: 'link', after: `/dev/pv2/${d.sysname}-link` },
      ]);
    }
    expect(report.drift.every((d) => d.sysname.startsWith('loop'))).toBe(true);
  });

  it('text output: per device, what would change; owner/group/mode against the nodes', () => {
    writeFileSync(join(cand, '50-link.rules'), LINK_RULE.replace('0640', '0660').replace('"pv/', '"pv/x-') + '\n');
    const res = devctl(['reload', '--dry-run', '--run', r.run, '--dev', r.dev, '--rules-dir', r.rules, join(cand, '50-link.rules')]);
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/^Rules preview: \d+ of \d+ devices would change \(action "add", 2 rules files, compared with /);
    const name = ours[0]!.split('/').pop()!;
    const block = res.stdout.split('\n\n').find((b) => b.startsWith(`${ours[0]} (block ${name})`))!;
    expect(block.split('\n').slice(1)).toEqual([`  link      -/dev/pv/${name}-link`, `  link      +/dev/pv/x-${name}-link`, '  mode      0640 → 0660']);
  });

  it('a candidate with errors is refused with file:line:col', () => {
    writeFileSync(join(cand, '50-link.rules'), 'KERNEL=="zram*", SYMLNK+="x"\n');
    const res = devctl(['reload', '--dry-run', '--run', r.run, '--dev', r.dev, '--rules-dir', r.rules, join(cand, '50-link.rules')]);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain(`${join(cand, '50-link.rules')}:1:`);
    expect(res.stderr).toContain('no preview');
  });

  it('the daemon refuses a reload that would change more devices than reload_max_impact, and keeps its rules', async () => {
    const logBefore = dm.log().length;
    const gen = ((await controlRequest(r.run, { command: 'status' })).rules as { generation: number }).generation;
    writeFileSync(join(r.rules, '50-link.rules'), LINK_RULE.replace('pv/', 'pv3/') + '\n'); // the watcher reloads
    await until(() => /rules reload refused/.test(dm.log().slice(logBefore)), 20_000, 'the refusal');
    const rules = (await controlRequest(r.run, { command: 'status' })).rules as { generation: number; refused: { count: number; last: { impact: number; bound: number; reason: string } } };
    expect(rules.generation).toBe(gen);
    expect(rules.refused.count).toBe(1);
    expect(rules.refused.last.bound).toBe(1);
    expect(rules.refused.last.impact).toBeGreaterThanOrEqual(2);
    expect(rules.refused.last.reason).toMatch(/^it would change (at least )?\d+ devices \(reload_max_impact = 1\), e\.g\. \/devices\/virtual\/block\/zram/);
    // the rules in force stay: a new event of our disk still gets the old link
    const name = ours[0]!.split('/').pop()!;
    listener.clear();
    writeFileSync(`/sys${ours[0]}/uevent`, 'change');
    await listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVPATH') === ours[0] && b.properties.get('ACTION') === 'change', 15_000, 'change');
    await dm.settle();
    const db = readFileSync(join(r.run, 'data', `b${readFileSync(`/sys${ours[0]}/dev`, 'utf8').trim()}`), 'utf8');
    expect(db).toContain(`S:pv/${name}-link\n`);
    expect(db).not.toContain('pv3/');
    // devctl reload says so too
    const res = devctl(['reload', '--run', r.run]);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/refused by the daemon, the current rules stay in force: it would change (at least )?\d+ devices/);
    expect(((await controlRequest(r.run, { command: 'status' })).rules as { refused: { count: number } }).refused.count).toBe(2);
  });

  it('and accepts a reload that changes no device', async () => {
    const gen = ((await controlRequest(r.run, { command: 'status' })).rules as { generation: number }).generation;
    writeFileSync(join(r.rules, '50-link.rules'), LINK_RULE + '\n# a comment changes nothing\n');
    await until(() => ((dm.log().match(/"generation":\d+/g) ?? []).pop() ?? '') === `"generation":${gen + 1}`, 20_000, 'the accepted reload');
    const res = devctl(['reload', '--run', r.run]);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toBe(`rules generation ${gen + 2}, 2 files\n`);
  });
});
