// The daemon's own machinery on the real kernel with a stand-in rules engine: receive, order, broadcast,
// control socket, settle, forged uevents, reload semantics.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Daemon } from '../../src/daemon/daemon.js';
import type { Engine, EventOutcome } from '../../src/daemon/engine.js';
import { makeNode } from '../../src/event/process.js';
import { RuleSet } from '../../src/rules/load.js';
import { controlRequest, controlSocketPath } from '../../src/daemon/control.js';
import { UeventNetlink, GROUP_KERNEL } from '../../src/netlink/socket.js';
import { createLogger } from '../../src/log.js';
import { tempRoots, testConfig, BroadcastListener, zramAdd, zramRemove, until, type TempRoots } from './helpers.js';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');

/** A stand-in "rules file": KEY=VALUE lines. */
interface FakeFile {
  path: string;
  props: [string, string][];
}
type FakeRules = readonly FakeFile[];

/** A stand-in engine: a "rules file" is lines KEY=VALUE; a line starting with "!" is a syntax error. */
function fakeEngine(seen: string[]): Engine<FakeFile, FakeRules, EventOutcome> {
  return {
    async compileFile(path) {
      const text = readFileSync(path, 'utf8');
      const errors: string[] = [];
      const props: [string, string][] = [];
      text.split('\n').forEach((l, i) => {
        if (l.startsWith('!')) errors.push(`${path}:${i + 1}:1: syntax error`);
        else if (l.includes('=')) props.push(l.split('=', 2) as [string, string]);
      });
      return errors.length ? { ok: false, errors } : { ok: true, file: { path, props } };
    },
    makeRuleSet: (files) => files,
    async processEvent(_ctx, rules, device) {
      seen.push(device.devpath);
      for (const f of rules) for (const [k, v] of f.props) device.setProperty(k, v);
      return { device, runList: [], failed: false, errors: [], state: { watch: undefined } };
    },
    async runProgramList() {},
    applyStaticNodes() {},
    // the pipeline's own node maker, with no static_node= rules
    makeNode: (ctx, _rules, device) => makeNode({ ...ctx, ruleSet: RuleSet.empty() }, device) !== undefined,
    async builtins() {
      return [];
    },
  };
}

describe('daemon with a stand-in engine (real netlink)', () => {
  let roots: TempRoots;
  let daemon: Daemon<FakeFile, FakeRules, EventOutcome>;
  let listener: BroadcastListener;
  const seen: string[] = [];

  beforeAll(async () => {
    roots = tempRoots();
    writeFileSync(join(roots.rules, '10-a.rules'), 'DM_FAKE=one\n');
    listener = await BroadcastListener.open();
    daemon = await Daemon.startWithEngine(fakeEngine(seen), { config: testConfig(roots), logger: createLogger({ level: 'error', pretty: false }) });
  });

  afterAll(async () => {
    await daemon?.stop();
    listener?.close();
    roots?.cleanup();
  });

  it('creates the control socket with mode 0600 and answers ping and status', async () => {
    expect(statSync(controlSocketPath(roots.run)).mode & 0o777).toBe(0o600);
    expect(await controlRequest(roots.run, { command: 'ping' })).toMatchObject({ pong: true, pid: process.pid });
    const st = await controlRequest(roots.run, { command: 'status' });
    expect(st).toMatchObject({ execQueue: 'running', mknod: true });
  });

  it("collects the start's garbage once the queue has been idle, with no event to drain it", async () => {
    // made, or found made by V8 meanwhile (the test's process is vitest's: its own allocations may bring one on)
    const memory = () => daemon.status().memory as { collections: number; collectionsSkipped: number };
    await until(() => memory().collections + memory().collectionsSkipped >= 1, 5000, 'the collection after the start');
  });

  it('processes a real zram hot_add and broadcasts it with the rules properties', async () => {
    listener.clear();
    listener.clear();
    const n = zramAdd();
    try {
      // other tests' daemons may broadcast the same kernel event: only ours counts
      const b = await listener.waitFor((e) => e.senderPort === daemon.broadcastPort && e.properties.get('DEVPATH')?.endsWith(`/zram${n}`) === true && e.properties.get('ACTION') === 'add', 10_000, `zram${n} add`);
      expect(b.properties.get('DM_FAKE')).toBe('one');
      expect(b.properties.get('SUBSYSTEM')).toBe('block');
      expect(Number(b.properties.get('SEQNUM'))).toBeGreaterThan(0);
      expect(b.senderPort).not.toBe(0);
      expect((daemon.status().broadcaster as { port: number }).port).toBe(b.senderPort);
    } finally {
      zramRemove(n);
    }
  });

  it('settle waits for the queue; stop-exec-queue holds events, start-exec-queue releases them', async () => {
    await controlRequest(roots.run, { command: 'stop-exec-queue' });
    const n = zramAdd();
    try {
      const r1 = await controlRequest(roots.run, { command: 'settle', timeout: 300 });
      expect(r1.settled).toBe(false);
      expect(Number(r1.queued)).toBeGreaterThan(0);
      // devctl settle times out with exit status 1
      const cli = await run('npx', ['tsx', join(REPO, 'src/cli/devctl.ts'), 'settle', '--run', roots.run, '-t', '0.3']).then(() => 0, (e) => e.code as number);
      expect(cli).toBe(1);
      await controlRequest(roots.run, { command: 'start-exec-queue' });
      const { stdout, stderr } = await run('npx', ['tsx', join(REPO, 'src/cli/devctl.ts'), 'settle', '--run', roots.run, '-t', '10']);
      expect(stderr).toBe('');
      expect(stdout).toBe('');
      expect(daemon.queue.size).toBe(0);
      expect(seen.some((p) => p.endsWith(`/zram${n}`))).toBe(true);
    } finally {
      await controlRequest(roots.run, { command: 'start-exec-queue' });
      zramRemove(n);
    }
  });

  it('does not process a forged uevent sent from user space to the kernel group', async () => {
    const forger = await UeventNetlink.open({ groups: [] });
    try {
      const before = (daemon.status().netlink as { forged: number }).forged;
      const msg = Buffer.from('add@/devices/virtual/dm-forged\0ACTION=add\0DEVPATH=/devices/virtual/dm-forged\0SUBSYSTEM=misc\0SEQNUM=999999999\0');
      await forger.send(msg, GROUP_KERNEL);
      await until(() => (daemon.status().netlink as { forged: number }).forged > before, 5000, 'forged counter');
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).not.toContain('/devices/virtual/dm-forged');
      expect(daemon.queue.items().map((i) => i.devpath)).not.toContain('/devices/virtual/dm-forged');
    } finally {
      forger.close();
    }
  });

  it('reload: a changed file takes effect; a broken edit is rejected and its previous version stays', async () => {
    const file = join(roots.rules, '10-a.rules');
    writeFileSync(file, 'DM_FAKE=two\n');
    await until(() => daemon.rules.ruleSet.some((f) => f.props.some(([, v]) => v === 'two')), 5000, 'watcher reload');
    writeFileSync(file, 'DM_FAKE=three\n!broken\n');
    const r = await controlRequest(roots.run, { command: 'reload' });
    expect(r.errors).toEqual([`${file}:2:1: syntax error`]);
    const st = (await controlRequest(roots.run, { command: 'status' })) as { rules: { rejected: string[]; errors: string[] } };
    expect(st.rules.rejected).toEqual([file]);
    listener.clear();
    const n = zramAdd();
    try {
      const b = await listener.waitFor((e) => e.senderPort === daemon.broadcastPort && e.properties.get('DEVPATH')?.endsWith(`/zram${n}`) === true && e.properties.get('ACTION') === 'add', 10_000);
      expect(b.properties.get('DM_FAKE')).toBe('two');
    } finally {
      zramRemove(n);
    }
  });

  it('rejects bad control requests with clear errors', async () => {
    await expect(controlRequest(roots.run, { command: 'children-max', value: -3 })).rejects.toThrow(/children-max needs a non-negative integer/);
    await expect(controlRequest(roots.run, { command: 'nope' as 'ping' })).rejects.toThrow(/unknown command 'nope'/);
    await expect(controlRequest(roots.run, { command: 'log-level', value: 'loud' })).rejects.toThrow(/invalid log level 'loud'/);
    expect(await controlRequest(roots.run, { command: 'children-max', value: 3 })).toEqual({ childrenMax: 3 });
    expect(daemon.queue.childrenMax).toBe(3);
  });
});
