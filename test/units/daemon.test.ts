// The unit layer inside the real daemon (src/daemon/daemon.ts) on the real kernel, wired as the devmaster
// executable wires it (unitsAfterRules): the daemon's own netlink socket, queue, the real rules engine with a
// rule that tags our zram device and sets SYSMASTER_WANTS / SYSMASTER_BINDS_TO, and the real database.
// Only our device matches the rule: its marker file is created while the exec queue is stopped, before the
// daemon sees the add event (other tests hot-plug zram devices too, and numbers are reused).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig, type Config } from '../../src/config/config.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { dbPath, readDb } from '../../src/device/db.js';
import { UnitActivator } from '../../src/units/activator.js';
import { unitsAfterRules } from '../../src/units/wire.js';
import { PROP_BOUND, PROP_STARTED } from '../../src/units/record.js';
import { FakeSysmaster } from './fake-sysmaster.js';
import { zramHotAdd, zramHotRemove } from './kernel.js';
import { captureLogger } from '../helpers/log-capture.js';
import { recordedRuns, recorderScript } from './script.js';

const WANTS = 'devmaster-test-wants.service';
const BOUND = 'devmaster-test-bound.service';

let dir: string;
let config: Config;
const added: number[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'devmaster-units-daemon-'));
  mkdirSync(join(dir, 'rules'));
  mkdirSync(join(dir, 'dev'));
  mkdirSync(join(dir, 'ours'));
  writeFileSync(
    join(dir, 'rules', '90-units.rules'),
    `SUBSYSTEM=="block", KERNEL=="zram*", TEST=="${join(dir, 'ours')}/%k", TAG+="sysmaster", ENV{SYSMASTER_WANTS}="${WANTS}", ENV{SYSMASTER_BINDS_TO}="devmaster-test-bound"\n`,
  );
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
  rmSync(dir, { recursive: true, force: true });
});

async function startDaemon(cfg: Config) {
  const { logger, lines } = captureLogger();
  const activator = new UnitActivator(cfg, logger, { backoffMs: 20, maxAttempts: 3, requestTimeoutMs: 2000 });
  const daemon = await Daemon.start({ config: cfg, logger, watch: false, hooks: { afterRules: unitsAfterRules(activator) } });
  running.push({ daemon, activator });
  return { daemon, activator, lines };
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
  // hold events until our device's marker exists, so the rule matches our add event and nobody else's
  s.daemon.queue.stop();
  const n = zramHotAdd();
  added.push(n);
  const devpath = `/devices/virtual/block/zram${n}`;
  writeFileSync(join(dir, 'ours', `zram${n}`), '');
  s.daemon.queue.start();
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
  // the record survived the restart in the database
  expect(readDb(cfg.run, id)?.properties.get(PROP_BOUND)).toBe(BOUND);
  change();
  await settle(s);
  after.changes();
  await zramHotRemove(n);
  added.splice(added.indexOf(n), 1);
  await settle(s);
  unlinkSync(join(dir, 'ours', `zram${n}`));
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
      expect(readDb(cfg.run, id)).toBeUndefined();
      expect(s.activator.stats()).toMatchObject({ requested: 1, succeeded: 1, failed: 0 });
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
