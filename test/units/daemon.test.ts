// The unit layer inside the real daemon (src/daemon/daemon.ts) on the real kernel: the daemon's own netlink
// socket, queue and afterEvent hook, with a stand-in rules engine whose "rule" tags our zram device and sets
// SYSMASTER_WANTS / SYSMASTER_BINDS_TO, and which writes the database the way udev does (only this event's
// properties; the old entry is loaded on remove, then deleted).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig, type Config } from '../../src/config/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { Engine, EventResult } from '../../src/daemon/engine.js';
import { dbPath, deleteDb, writeDb } from '../../src/device/db.js';
import type { Device } from '../../src/device/device.js';
import { UnitActivator } from '../../src/units/activator.js';
import { UnitsHook } from '../../src/units/hook.js';
import { PROP_BOUND, PROP_STARTED } from '../../src/units/record.js';
import { FakeSysmaster } from './fake-sysmaster.js';
import { zramHotAdd, zramHotRemove } from './kernel.js';
import { captureLogger } from './log-capture.js';
import { recordedRuns, recorderScript } from './script.js';

const WANTS = 'devmaster-test-wants.service';
const BOUND = 'devmaster-test-bound.service';

/**
 * Devpaths the stand-in rule applies to: only ours (other tests hot-plug zram devices too, and numbers are reused),
 * only events after the kernel seqnum read just before our hot_add, and up to our device's removal.
 */
const ours = new Map<string, { afterSeqnum: number; added: boolean }>();

function isOurs(device: Device): boolean {
  const o = ours.get(device.devpath);
  if (!o || (device.seqnum ?? 0) <= o.afterSeqnum) return false;
  if (device.action === 'add') o.added = true;
  if (device.action === 'remove') {
    if (!o.added) return false;
    ours.delete(device.devpath);
  }
  return true;
}

const engine: Engine = {
  compileFile: () => ({}),
  makeRuleSet: () => ({}),
  async processEvent(ctx, device: Device): Promise<EventResult> {
    const result: EventResult = { device, runList: [], failed: false, errors: [] };
    if (!isOurs(device)) return result;
    if (device.action === 'remove') {
      device.loadDb();
      deleteDb(ctx.roots.run, device.id);
      return result;
    }
    // TAG+="sysmaster", ENV{SYSMASTER_WANTS}="...", ENV{SYSMASTER_BINDS_TO}="..."
    device.tags.add('sysmaster');
    device.currentTags.add('sysmaster');
    device.setProperty('SYSMASTER_WANTS', WANTS);
    device.setProperty('SYSMASTER_BINDS_TO', 'devmaster-test-bound');
    writeDb(ctx.roots.run, device.id, {
      hasDevnode: true, links: [], linkPriority: 0, usecInitialized: 1, properties: device.dbProperties, tags: device.tags, currentTags: device.currentTags,
    }, { keepEmpty: true });
    return result;
  },
  async runProgramList() {},
};

let dir: string;
let config: Config;
const added: number[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'devmaster-units-daemon-'));
  mkdirSync(join(dir, 'rules'));
  mkdirSync(join(dir, 'dev'));
  config = { ...defaultConfig(), dev: join(dir, 'dev'), run: join(dir, 'run'), rulesDirs: [join(dir, 'rules')], mknod: false, configFile: join(dir, 'none.toml') };
});
/** Daemons and activators still running when a test failed half-way. */
const running: { daemon: Daemon; activator: UnitActivator }[] = [];

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.daemon.stop().catch(() => {});
    await r.activator.close().catch(() => {});
  }
  for (const n of added.splice(0)) await zramHotRemove(n).catch(() => {});
  ours.clear();
  rmSync(dir, { recursive: true, force: true });
});

async function startDaemon(cfg: Config) {
  const { logger, lines } = captureLogger();
  const activator = new UnitActivator(cfg, logger, { backoffMs: 20, maxAttempts: 3, requestTimeoutMs: 2000 });
  // created before the daemon so that the records of the database are loaded before any event
  const hook = new UnitsHook(activator, cfg.run, logger);
  const daemon = await Daemon.start({ config: cfg, engine, logger, watch: false, hooks: { afterEvent: (ev) => hook.afterEvent(ev) } });
  running.push({ daemon, activator });
  return { daemon, activator, hook, lines };
}

async function settle(s: Awaited<ReturnType<typeof startDaemon>>) {
  expect(await s.daemon.settle(10_000)).toBe(true);
  await s.activator.drain();
}

/** add, 2 changes, daemon restart, 1 change, remove. */
async function zramLifeInDaemon(
  cfg: Config,
  after: { add: (id: string) => void; changes: () => void; beforeRestart?: (s: Awaited<ReturnType<typeof startDaemon>>) => void },
) {
  let s = await startDaemon(cfg);
  const afterSeqnum = Number(readFileSync('/sys/kernel/uevent_seqnum', 'utf8'));
  const n = zramHotAdd();
  added.push(n);
  const devpath = `/devices/virtual/block/zram${n}`;
  ours.set(devpath, { afterSeqnum, added: false });
  const id = `b${readFileSync(`/sys${devpath}/dev`, 'utf8').trim()}`;
  await settle(s);
  after.add(id);
  const change = () => writeFileSync(`/sys${devpath}/uevent`, 'change');
  change();
  change();
  await settle(s);
  after.changes();
  after.beforeRestart?.(s);
  await s.daemon.stop();
  await s.activator.close();
  s = await startDaemon(cfg);
  expect(s.hook.counters.loaded).toBeGreaterThanOrEqual(1);
  change();
  await settle(s);
  after.changes();
  await zramHotRemove(n);
  added.splice(added.indexOf(n), 1);
  await settle(s);
  await s.daemon.stop();
  return { s, id, devpath };
}

describe('units in the daemon (real kernel, zram)', () => {
  it('sysmaster backend: START once, nothing for changes (also after a restart), STOP for the bound unit', async () => {
    const server = new FakeSysmaster(join(dir, 'private'));
    await server.listen();
    try {
      const cfg = { ...config, unitBackend: 'sysmaster' as const, sysmasterSocket: server.path };
      const { id, s } = await zramLifeInDaemon(cfg, {
        add: (devId) => {
          expect(server.received).toEqual([{ action: 'START', units: [WANTS, BOUND] }]);
          const db = readFileSync(dbPath(cfg.run, devId), 'utf8');
          expect(db).toContain(`E:${PROP_STARTED}=${WANTS} ${BOUND}\n`);
          expect(db).toContain(`E:${PROP_BOUND}=${BOUND}\n`);
          expect(db).toContain('G:sysmaster\n');
        },
        changes: () => expect(server.received).toHaveLength(1),
      });
      expect(server.received).toEqual([
        { action: 'START', units: [WANTS, BOUND] },
        { action: 'STOP', units: [BOUND] },
      ]);
      expect(s.hook.record(id)).toBeUndefined();
      expect(s.activator.stats()).toMatchObject({ requested: 1, succeeded: 1, failed: 0 });
      expect(s.daemon.counters.hookErrors).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('exec backend through the daemon: arguments checked', async () => {
    const log = join(dir, 'runs');
    const script = recorderScript(dir, 'unit-cmd', log);
    const cfg = { ...config, unitBackend: 'exec' as const, unitExec: `${script} {action} {units} {devpath}` };
    const { devpath } = await zramLifeInDaemon(cfg, {
      add: () => {},
      changes: () => expect(recordedRuns(log)).toHaveLength(1),
    });
    expect(recordedRuns(log)).toEqual([
      ['start', WANTS, BOUND, devpath],
      ['stop', BOUND, devpath],
    ]);
  });

  it('absent service manager: the daemon processes every event, the failures are logged and counted', async () => {
    const cfg = { ...config, unitBackend: 'sysmaster' as const, sysmasterSocket: join(dir, 'absent') };
    const { s, devpath } = await zramLifeInDaemon(cfg, {
      add: () => {},
      changes: () => {},
      beforeRestart: (first) => {
        // first daemon: add + 2 changes processed; the START failed after 3 attempts and was logged
        expect(first.daemon.counters.failed).toBe(0);
        expect(first.activator.stats()).toMatchObject({ requested: 1, failed: 1, retries: 2 });
        expect(first.daemon.counters.processed).toBeGreaterThanOrEqual(3);
        const err = first.lines.find((l) => l.level === 50 && Array.isArray(l.units) && (l.units as string[]).includes(WANTS));
        expect(err).toMatchObject({ action: 'start', units: [WANTS, BOUND], attempts: 3, devpath: expect.stringMatching(/^\/devices\/virtual\/block\/zram\d+$/) });
        expect(String(err!.msg)).toContain(join(dir, 'absent'));
      },
    });
    // second daemon: the change (nothing to do) and the remove (STOP, failing)
    expect(s.daemon.counters.failed).toBe(0);
    expect(s.daemon.counters.processed).toBeGreaterThanOrEqual(2);
    expect(s.activator.stats()).toMatchObject({ requested: 1, failed: 1, retries: 2 });
    const err = s.lines.find((l) => l.level === 50 && l.devpath === devpath);
    expect(err).toMatchObject({ action: 'stop', units: [BOUND], attempts: 3 });
  });
});
