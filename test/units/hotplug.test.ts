// Real kernel: zram devices hot-added and removed, their uevents received from netlink and processed the way the
// daemon does (see kernel.ts), with the unit layer talking to a sysMaster stand-in or running a command.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dbPath, readDb } from '../../src/device/db.js';
import type { Roots } from '../../src/device/roots.js';
import { UnitActivator, type UnitActivatorConfig } from '../../src/units/activator.js';
import { PROP_BOUND, PROP_STARTED } from '../../src/units/record.js';
import { FakeSysmaster } from './fake-sysmaster.js';
import { UeventListener, processEvent, zramHotAdd, zramHotRemove, type KernelEvent } from './kernel.js';
import { captureLogger } from '../helpers/log-capture.js';
import { recordedRuns, recorderScript } from './script.js';

const RULE = { SYSMASTER_WANTS: 'devmaster-test-wants.service', SYSMASTER_BINDS_TO: 'devmaster-test-bound' };
const WANTS = 'devmaster-test-wants.service';
const BOUND = 'devmaster-test-bound.service';
const CHANGES = 3;

let listener: UeventListener;
let dir: string;
let roots: Roots;
const added: number[] = [];

beforeAll(async () => {
  listener = await UeventListener.open();
});
afterAll(async () => {
  for (const n of added.splice(0)) await zramHotRemove(n).catch(() => {});
  listener.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'devmaster-units-hotplug-'));
  roots = { sysfs: '/sys', dev: join(dir, 'dev'), run: join(dir, 'run') };
});
afterEach(async () => {
  for (const n of added.splice(0)) await zramHotRemove(n).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  devpath: string;
  id: string;
  /** onEvent durations in ms. */
  timings: number[];
  /** ms from the kernel's add uevent arriving to the unit request arriving (set by the caller). */
  events: KernelEvent[];
}

/**
 * The whole life of one zram device: hot_add, `CHANGES` change events, a daemon restart (a new activator; the
 * record comes back from the database), hot_remove. `afterAdd` runs once the add event was processed.
 */
async function zramLife(
  config: UnitActivatorConfig,
  checks: { afterAdd: (r: Run, act: UnitActivator) => Promise<void>; afterChanges: (r: Run, act: UnitActivator) => Promise<void> },
  logger = captureLogger().logger,
): Promise<{ run: Run; act: UnitActivator }> {
  const opts = { backoffMs: 20, maxAttempts: 3, requestTimeoutMs: 2000 };
  let act = new UnitActivator(config, logger, opts);
  // other tests hot-plug zram devices too and numbers are reused: only events after our hot_add are ours
  const afterSeqnum = Number(readFileSync('/sys/kernel/uevent_seqnum', 'utf8'));
  const n = zramHotAdd();
  added.push(n);
  const devpath = `/devices/virtual/block/zram${n}`;
  const mine = (action: string) => (e: KernelEvent) => e.devpath === devpath && e.action === action && Number(e.props.get('SEQNUM')) > afterSeqnum;
  const run: Run = { devpath, id: '', timings: [], events: [] };
  const handle = (ev: KernelEvent) => {
    run.events.push(ev);
    run.timings.push(processEvent(roots, act, ev, RULE));
  };
  const add = await listener.next(mine('add'));
  run.id = `b${add.props.get('MAJOR')}:${add.props.get('MINOR')}`;
  handle(add);
  await checks.afterAdd(run, act);
  for (let i = 0; i < CHANGES; i++) {
    writeFileSync(`/sys${devpath}/uevent`, 'change');
    handle(await listener.next(mine('change')));
  }
  await act.drain();
  await checks.afterChanges(run, act);
  // daemon restart: everything in memory is gone, the database stays
  await act.close();
  act = new UnitActivator(config, logger, opts);
  await zramHotRemove(n);
  added.splice(added.indexOf(n), 1);
  handle(await listener.next(mine('remove')));
  await act.drain();
  return { run, act };
}

describe('units on real hotplug (zram)', () => {
  it('sysmaster backend: START for both units once, nothing on changes, STOP for the bound unit after a restart', async () => {
    const server = new FakeSysmaster(join(dir, 'private'));
    await server.listen();
    try {
      let addLatency = 0;
      const { run, act } = await zramLife({ unitBackend: 'sysmaster', sysmasterSocket: server.path, unitExec: '' }, {
        afterAdd: async () => {
          const t0 = performance.now();
          await server.waitFor(1);
          addLatency = performance.now() - t0;
          expect(server.received).toEqual([{ action: 'START', units: [WANTS, BOUND] }]);
        },
        afterChanges: async (r) => {
          expect(server.received).toHaveLength(1);
          const db = readDb(roots.run, r.id)!;
          expect(db.properties.get(PROP_STARTED)).toBe(`${WANTS} ${BOUND}`);
          expect(db.properties.get(PROP_BOUND)).toBe(BOUND);
        },
      });
      expect(server.received).toEqual([
        { action: 'START', units: [WANTS, BOUND] },
        { action: 'STOP', units: [BOUND] },
      ]);
      expect(run.events.map((e) => e.action)).toEqual(['add', ...Array(CHANGES).fill('change'), 'remove']);
      expect(existsSync(dbPath(roots.run, run.id))).toBe(false);
      expect(act.stats()).toMatchObject({ requested: 1, succeeded: 1, failed: 0, retries: 0 });
      console.log(`sysmaster: onEvent max ${Math.max(...run.timings).toFixed(3)} ms; add processed -> START received ${addLatency.toFixed(1)} ms`);
    } finally {
      await server.close();
    }
  });

  it('exec backend: the command gets the action, the units and the devpath', async () => {
    const log = join(dir, 'runs');
    const script = recorderScript(dir, 'unit-cmd', log);
    const { run } = await zramLife({ unitBackend: 'exec', sysmasterSocket: '/unused', unitExec: `${script} {action} {units} --devpath {devpath}` }, {
      afterAdd: async (_r, act) => {
        await act.drain();
      },
      afterChanges: async (r) => {
        expect(recordedRuns(log)).toEqual([['start', WANTS, BOUND, '--devpath', r.devpath]]);
      },
    });
    expect(recordedRuns(log)).toEqual([
      ['start', WANTS, BOUND, '--devpath', run.devpath],
      ['stop', BOUND, '--devpath', run.devpath],
    ]);
  });

  it('absent service manager: every event completes, failures are logged with device and unit and counted', async () => {
    const { logger, lines } = captureLogger();
    const absent = join(dir, 'no-such-socket');
    const { run, act } = await zramLife({ unitBackend: 'sysmaster', sysmasterSocket: absent, unitExec: '' }, {
      afterAdd: async () => {},
      afterChanges: async (_r, a) => {
        expect(a.stats()).toMatchObject({ requested: 1, succeeded: 0, failed: 1, retries: 2 });
      },
    }, logger);
    expect(run.events.map((e) => e.action)).toEqual(['add', ...Array(CHANGES).fill('change'), 'remove']);
    expect(act.stats()).toMatchObject({ requested: 1, failed: 1, retries: 2 });
    const errors = lines.filter((l) => l.level === 50);
    expect(errors.map((e) => [e.action, e.devpath, e.units])).toEqual([
      ['start', run.devpath, [WANTS, BOUND]],
      ['stop', run.devpath, [BOUND]],
    ]);
    expect(errors[1]!.msg).toContain(absent);
    expect(Math.max(...run.timings)).toBeLessThan(50);
  });

  it('service manager answering errors: events complete, the error message is logged and counted', async () => {
    const { logger, lines } = captureLogger();
    const server = new FakeSysmaster(join(dir, 'private'));
    server.behaviour = (r) => ({ status: 200, error_code: 2, message: `Failed to ${r.action.toLowerCase()} ${r.units.join(',')}: No such unit` });
    await server.listen();
    try {
      const { run, act } = await zramLife({ unitBackend: 'sysmaster', sysmasterSocket: server.path, unitExec: '' }, {
        afterAdd: async () => {},
        afterChanges: async () => {
          expect(server.received).toHaveLength(3);
        },
      }, logger);
      expect(run.events.map((e) => e.action)).toEqual(['add', ...Array(CHANGES).fill('change'), 'remove']);
      // 3 attempts of START (given up before the restart), then 3 of STOP
      expect(server.received.map((r) => r.action)).toEqual(['START', 'START', 'START', 'STOP', 'STOP', 'STOP']);
      expect(act.stats()).toMatchObject({ requested: 1, failed: 1, retries: 2 });
      const errors = lines.filter((l) => l.level === 50);
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatchObject({ devpath: run.devpath, units: [WANTS, BOUND], attempts: 3 });
      expect(errors[0]!.msg).toMatch(/error_code 2: Failed to start .*No such unit/);
    } finally {
      await server.close();
    }
  });
});
