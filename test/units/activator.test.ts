import { describe, expect, it } from 'vitest';
import { UnitActivator, createBackend, type UnitDevice } from '../../src/units/activator.js';
import { PROP_BOUND, PROP_STARTED, applyRecord, readRecord, type RecordedUnits } from '../../src/units/record.js';
import { UnitBackendError, type UnitBackendImpl, type UnitRequest } from '../../src/units/types.js';
import { captureLogger } from '../helpers/log-capture.js';

const CONFIG = { unitBackend: 'sysmaster' as const, sysmasterSocket: '/nonexistent/devmaster-test', unitExec: '' };

/** A backend that records requests; `fail(req, attempt)` decides failures; `gate` holds requests until released. */
class FakeBackend implements UnitBackendImpl {
  readonly name = 'fake';
  readonly calls: UnitRequest[] = [];
  fail: (req: UnitRequest, attempt: number) => Error | undefined = () => undefined;
  gate: Promise<void> | undefined;
  private attempts = new Map<string, number>();
  async run(req: UnitRequest): Promise<void> {
    this.calls.push(req);
    const key = `${req.devpath} ${req.action} ${req.units.join(' ')}`;
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    if (this.gate) await this.gate;
    const err = this.fail(req, n);
    if (err) throw err;
  }
  summary(): string[] {
    return this.calls.map((c) => `${c.devpath} ${c.action} ${c.units.join(' ')}`);
  }
}

function dev(props: Record<string, string>, tags = ['sysmaster'], devpath = '/devices/virtual/block/zram7'): UnitDevice {
  return { devpath, id: 'b251:7', tags: new Set(tags), properties: new Map(Object.entries(props)) };
}

function setup(opts: Partial<ConstructorParameters<typeof UnitActivator>[2]> = {}) {
  const backend = new FakeBackend();
  const { logger, lines } = captureLogger();
  const act = new UnitActivator(CONFIG, logger, { backend, backoffMs: 5, ...opts });
  return { backend, act, lines };
}

const D = '/devices/virtual/block/zram7';

describe('unit activation semantics', () => {
  it('starts WANTS and BINDS_TO once, ignores repeated changes, stops only bound units on remove', async () => {
    const { backend, act } = setup();
    const props = { SYSMASTER_WANTS: 'a.service', SYSMASTER_BINDS_TO: 'b' };
    let rec = act.onEvent('add', dev(props), undefined);
    expect(rec).toEqual({ started: ['a.service', 'b.service'], bound: ['b.service'] });
    for (let i = 0; i < 3; i++) rec = act.onEvent('change', dev(props), rec);
    expect(rec).toEqual({ started: ['a.service', 'b.service'], bound: ['b.service'] });
    rec = act.onEvent('remove', dev(props), rec);
    expect(rec).toBeUndefined();
    await act.drain();
    expect(backend.summary()).toEqual([`${D} start a.service b.service`, `${D} stop b.service`]);
    expect(act.stats()).toMatchObject({ backend: 'fake', requested: 2, succeeded: 2, failed: 0, retries: 0, pending: 0, inFlight: 0 });
  });

  it('starts a unit a change event adds, and again after it was dropped and re-added', async () => {
    const { backend, act } = setup();
    let rec = act.onEvent('add', dev({ SYSMASTER_WANTS: 'a' }), undefined);
    rec = act.onEvent('change', dev({ SYSMASTER_WANTS: 'a c' }), rec);
    rec = act.onEvent('change', dev({ SYSMASTER_WANTS: 'a' }), rec);
    rec = act.onEvent('change', dev({ SYSMASTER_WANTS: 'a c' }), rec);
    await act.drain();
    expect(backend.summary()).toEqual([`${D} start a.service`, `${D} start c.service`, `${D} start c.service`]);
    expect(rec).toEqual({ started: ['a.service', 'c.service'], bound: [] });
  });

  it('honours SYSTEMD_WANTS and the systemd tag; untagged devices start nothing', async () => {
    const { backend, act } = setup();
    expect(act.onEvent('add', dev({ SYSMASTER_WANTS: 'x' }, []), undefined)).toBeUndefined();
    expect(act.onEvent('add', dev({ SYSMASTER_WANTS: 'x' }, ['uaccess']), undefined)).toBeUndefined();
    const rec = act.onEvent('add', dev({ SYSTEMD_WANTS: 'y', SYSMASTER_WANTS: 'x y' }, ['systemd']), undefined);
    expect(rec).toEqual({ started: ['x.service', 'y.service'], bound: [] });
    // tagged but nothing listed: nothing to record
    expect(act.onEvent('add', dev({}, ['sysmaster']), undefined)).toBeUndefined();
    await act.drain();
    expect(backend.summary()).toEqual([`${D} start x.service y.service`]);
  });

  it('current tags win over sticky tags', () => {
    const { act } = setup();
    const d = { ...dev({ SYSMASTER_WANTS: 'x' }), currentTags: new Set<string>() };
    expect(UnitActivator.isPlugged(d)).toBe(false);
    expect(UnitActivator.isPlugged({ ...d, currentTags: new Set(['systemd']) })).toBe(true);
    expect(act.onEvent('add', d, undefined)).toBeUndefined();
  });

  it('a device that loses its tag or becomes not ready is unplugged: bound units stop', async () => {
    const { backend, act } = setup();
    let rec = act.onEvent('add', dev({ SYSMASTER_BINDS_TO: 'b' }), undefined);
    rec = act.onEvent('change', dev({ SYSMASTER_BINDS_TO: 'b', SYSTEMD_READY: '0' }), rec);
    expect(rec).toBeUndefined();
    rec = act.onEvent('change', dev({ SYSMASTER_BINDS_TO: 'b' }), rec);
    rec = act.onEvent('change', dev({ SYSMASTER_BINDS_TO: 'b' }, []), rec);
    expect(rec).toBeUndefined();
    rec = act.onEvent('change', dev({ SYSMASTER_BINDS_TO: 'b', SYSMASTER_READY: '0' }), rec);
    await act.drain();
    expect(backend.summary()).toEqual([`${D} start b.service`, `${D} stop b.service`, `${D} start b.service`, `${D} stop b.service`]);
  });

  it('a unit dropped from BINDS_TO stays bound until removal', async () => {
    const { backend, act } = setup();
    let rec = act.onEvent('add', dev({ SYSMASTER_BINDS_TO: 'b' }), undefined);
    rec = act.onEvent('change', dev({ SYSMASTER_WANTS: 'w' }), rec);
    expect(rec).toEqual({ started: ['w.service'], bound: ['b.service'] });
    act.onEvent('remove', dev({}), rec);
    await act.drain();
    expect(backend.summary()).toEqual([`${D} start b.service`, `${D} start w.service`, `${D} stop b.service`]);
  });

  it('"add" with a stale record (missed removal) starts everything and stops units no longer bound', async () => {
    const { backend, act } = setup();
    const stale: RecordedUnits = { started: ['a.service', 'old.service'], bound: ['old.service'] };
    const rec = act.onEvent('add', dev({ SYSMASTER_WANTS: 'a', SYSMASTER_BINDS_TO: 'b' }), stale);
    expect(rec).toEqual({ started: ['a.service', 'b.service'], bound: ['b.service'] });
    await act.drain();
    expect(backend.summary()).toEqual([`${D} stop old.service`, `${D} start a.service b.service`]);
  });

  it('instantiates templates with the device path and logs invalid names', async () => {
    const { backend, act, lines } = setup();
    act.onEvent('add', dev({ SYSMASTER_WANTS: 't@.service bad/name' }), undefined);
    await act.drain();
    expect(backend.calls[0]!.units).toEqual(['t@sys-devices-virtual-block-zram7.service']);
    expect(act.stats().invalidNames).toBe(1);
    expect(lines.find((l) => l.unit === 'bad/name')).toMatchObject({ devpath: D, property: 'SYSMASTER_WANTS', level: 40 });
  });

  it('the record survives a daemon restart through the database properties', async () => {
    const first = setup();
    const props = new Map<string, string>([['SYSMASTER_WANTS', 'a'], ['SYSMASTER_BINDS_TO', 'b c']]);
    const rec = first.act.onEvent('add', { ...dev({}), properties: props }, undefined);
    const db = new Map(props);
    applyRecord(db, rec);
    expect(db.get(PROP_STARTED)).toBe('a.service b.service c.service');
    expect(db.get(PROP_BOUND)).toBe('b.service c.service');
    await first.act.close();
    // a new daemon: the record comes back from the db
    const second = setup();
    expect(second.act.onEvent('change', { ...dev({}), properties: props }, readRecord(db))).toEqual(rec);
    expect(second.act.onEvent('remove', dev({}), readRecord(db))).toBeUndefined();
    await second.act.drain();
    expect(second.backend.summary()).toEqual([`${D} stop b.service c.service`]);
    applyRecord(db, undefined);
    expect(db.has(PROP_STARTED) || db.has(PROP_BOUND)).toBe(false);
    expect(readRecord(db)).toBeUndefined();
  });
});

describe('unit request worker', () => {
  it('never blocks the caller: onEvent returns while the backend hangs', async () => {
    const { backend, act } = setup();
    let release!: () => void;
    backend.gate = new Promise((r) => (release = r));
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) act.onEvent('add', dev({ SYSMASTER_WANTS: 'a' }, ['sysmaster'], `/devices/x/d${i}`), undefined);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(200);
    await new Promise((r) => setTimeout(r, 20));
    expect(act.stats()).toMatchObject({ requested: 200, inFlight: 4, pending: 196, succeeded: 0 });
    release();
    await act.drain();
    expect(act.stats()).toMatchObject({ succeeded: 200, pending: 0, inFlight: 0 });
  });

  it('retries with backoff, then succeeds', async () => {
    const { backend, act, lines } = setup({ maxAttempts: 4, backoffMs: 10 });
    backend.fail = (_r, n) => (n < 3 ? new UnitBackendError('manager busy') : undefined);
    act.onEvent('add', dev({ SYSMASTER_WANTS: 'a' }), undefined);
    await act.drain();
    expect(backend.calls.length).toBe(3);
    expect(act.stats()).toMatchObject({ requested: 1, succeeded: 1, failed: 0, retries: 2 });
    const warns = lines.filter((l) => l.level === 40);
    expect(warns.map((w) => w.attempt)).toEqual([1, 2]);
    expect(warns[0]).toMatchObject({ devpath: D, units: ['a.service'], action: 'start', err: 'manager busy' });
    expect(warns[0]!.msg).toMatch(/retrying in 10 ms/);
    expect(warns[1]!.msg).toMatch(/retrying in 20 ms/);
  });

  it('gives up after maxAttempts, logs device and unit, counts the failure', async () => {
    const { backend, act, lines } = setup({ maxAttempts: 3 });
    backend.fail = () => new Error('connection refused');
    act.onEvent('add', dev({ SYSMASTER_WANTS: 'a', SYSMASTER_BINDS_TO: 'b' }), undefined);
    await act.drain();
    expect(backend.calls.length).toBe(3);
    const s = act.stats();
    expect(s).toMatchObject({ requested: 1, succeeded: 0, failed: 1, retries: 2 });
    expect(s.lastFailure).toMatchObject({ devpath: D, action: 'start', units: ['a.service', 'b.service'], attempts: 3, error: 'connection refused' });
    const err = lines.filter((l) => l.level === 50);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatchObject({ devpath: D, id: 'b251:7', units: ['a.service', 'b.service'], attempts: 3 });
    expect(err[0]!.msg).toContain('a.service b.service');
  });

  it('does not retry errors that retrying cannot fix', async () => {
    const { backend, act } = setup({ maxAttempts: 5 });
    backend.fail = () => new UnitBackendError('cannot run x: ENOENT', false);
    act.onEvent('add', dev({ SYSMASTER_WANTS: 'a' }), undefined);
    await act.drain();
    expect(backend.calls.length).toBe(1);
    expect(act.stats()).toMatchObject({ failed: 1, retries: 0 });
  });

  it('keeps the order of one device\'s requests across retries while other devices proceed', async () => {
    const { backend, act } = setup({ maxAttempts: 3, backoffMs: 30 });
    backend.fail = (r, n) => (r.devpath === D && r.action === 'start' && n === 1 ? new Error('first try fails') : undefined);
    let rec = act.onEvent('add', dev({ SYSMASTER_BINDS_TO: 'b' }), undefined);
    act.onEvent('add', dev({ SYSMASTER_WANTS: 'o' }, ['sysmaster'], '/devices/other'), undefined);
    rec = act.onEvent('remove', dev({}), rec);
    await act.drain();
    expect(backend.summary()).toEqual([`${D} start b.service`, '/devices/other start o.service', `${D} start b.service`, `${D} stop b.service`]);
  });

  it('bounds the queue and drops (and counts) what does not fit; close drops the rest', async () => {
    const { backend, act, lines } = setup({ maxQueue: 3, concurrency: 1 });
    let release!: () => void;
    backend.gate = new Promise((r) => (release = r));
    for (let i = 0; i < 5; i++) act.onEvent('add', dev({ SYSMASTER_WANTS: 'a' }, ['sysmaster'], `/devices/q${i}`), undefined);
    expect(act.stats()).toMatchObject({ requested: 3, dropped: 2 });
    expect(lines.filter((l) => l.level === 50 && /dropped/.test(l.msg))).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 10));
    const closing = act.close();
    release();
    await closing;
    expect(act.stats()).toMatchObject({ requested: 3, dropped: 4, pending: 0, inFlight: 0 });
    act.onEvent('add', dev({ SYSMASTER_WANTS: 'a' }), undefined);
    expect(act.stats().dropped).toBe(5);
  });

  it('the none backend records but sends nothing', async () => {
    const { logger } = captureLogger();
    const act = new UnitActivator({ ...CONFIG, unitBackend: 'none' }, logger);
    expect(act.onEvent('add', dev({ SYSMASTER_BINDS_TO: 'b' }), undefined)).toEqual({ started: ['b.service'], bound: ['b.service'] });
    await act.drain();
    expect(act.stats()).toMatchObject({ backend: 'none', requested: 0 });
  });

  it('createBackend picks the configured backend and reports a bad exec template', () => {
    expect(createBackend(CONFIG).name).toBe('sysmaster');
    expect(createBackend({ ...CONFIG, unitBackend: 'systemd' }).name).toBe('systemd');
    expect(createBackend({ ...CONFIG, unitBackend: 'exec', unitExec: '/bin/true' }).name).toBe('exec');
    expect(() => createBackend({ ...CONFIG, unitBackend: 'exec' })).toThrow(/needs a command template/);
    expect(() => createBackend({ ...CONFIG, unitBackend: 'bogus' as never })).toThrow(/unknown unit backend "bogus"/);
  });
});
