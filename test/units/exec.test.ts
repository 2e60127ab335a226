import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExecBackend, splitWords } from '../../src/units/exec.js';
import { SystemdBackend } from '../../src/units/systemd.js';
import { UnitBackendError } from '../../src/units/types.js';
import { recordedRuns, recorderScript } from './script.js';

const signal = new AbortController().signal;
const req = { action: 'start' as const, units: ['a.service', 'b.service'], devpath: '/devices/virtual/block/zram3', id: 'b251:3' };

describe('command templates', () => {
  it('splits words like sh', () => {
    expect(splitWords(`cmd  'a b' "c \\"d\\"" e\\ f g""h ''`)).toEqual(['cmd', 'a b', 'c "d"', 'e f', 'gh', '']);
    expect(() => splitWords(`cmd 'open`)).toThrow(/unterminated ' quote/);
    expect(() => splitWords(`cmd "open`)).toThrow(/unterminated " quote/);
    expect(() => splitWords(`cmd \\`)).toThrow(/trailing backslash/);
  });

  it('expands placeholders; {units} alone gives one argument per unit', () => {
    const b = new ExecBackend('/bin/tool --{action} {units} --dev={devpath} --id {id} "all: {units}"', 1000);
    expect(b.commands(req)).toEqual([
      ['/bin/tool', '--start', 'a.service', 'b.service', '--dev=/devices/virtual/block/zram3', '--id', 'b251:3', 'all: a.service b.service'],
    ]);
  });

  it('runs once per unit with {unit}, and appends the units when neither is named', () => {
    expect(new ExecBackend('t {action} {unit}', 1000).commands(req)).toEqual([['t', 'start', 'a.service'], ['t', 'start', 'b.service']]);
    expect(new ExecBackend('t {action}', 1000).commands({ ...req, action: 'stop' })).toEqual([['t', 'stop', 'a.service', 'b.service']]);
  });

  it('refuses empty and malformed templates with clear errors', () => {
    expect(() => new ExecBackend('', 1000)).toThrow(/needs a command template \(--unit-exec\)/);
    expect(() => new ExecBackend('   ', 1000)).toThrow(/needs a command template/);
    expect(() => new ExecBackend('t {nope}', 1000)).toThrow(/unknown placeholder \{nope\}/);
    expect(() => new ExecBackend(`t 'x`, 1000)).toThrow(/unit_exec: unterminated/);
    expect(() => new ExecBackend('{action} x', 1000)).toThrow(/command itself/);
  });
});

describe('exec and systemd backends run real commands', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'devmaster-units-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('exec: passes the arguments and reports a failing status with its stderr', async () => {
    const log = join(dir, 'log');
    const ok = recorderScript(dir, 'ok', log);
    await new ExecBackend(`${ok} {action} {units} {devpath}`, 5000).run(req, signal);
    expect(recordedRuns(log)).toEqual([['start', 'a.service', 'b.service', '/devices/virtual/block/zram3']]);
    const bad = recorderScript(dir, 'bad', log, 3);
    await expect(new ExecBackend(`${bad} {action} {unit}`, 5000).run(req, signal)).rejects.toThrow(/exited with status 3: recorder says no.*; .*status 3/);
    expect(recordedRuns(log).slice(1)).toEqual([['start', 'a.service'], ['start', 'b.service']]);
  });

  it('exec: a missing command is not retryable; a hanging one times out', async () => {
    const err = await new ExecBackend(join(dir, 'missing'), 5000).run(req, signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnitBackendError);
    expect((err as UnitBackendError).message).toMatch(/ENOENT/);
    expect((err as UnitBackendError).retryable).toBe(false);
    const t0 = Date.now();
    await expect(new ExecBackend("/bin/sh -c 'sleep 30' {units}", 200).run(req, signal)).rejects.toThrow(/timed out after 200 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('systemd: systemctl --no-block start|stop UNIT...', async () => {
    const log = join(dir, 'log');
    const b = new SystemdBackend(5000, recorderScript(dir, 'systemctl', log));
    await b.run(req, signal);
    await b.run({ ...req, action: 'stop', units: ['b.service'] }, signal);
    expect(recordedRuns(log)).toEqual([['--no-block', 'start', 'a.service', 'b.service'], ['--no-block', 'stop', 'b.service']]);
    expect(b.argv(req)[0]).toMatch(/systemctl$/);
    expect(new SystemdBackend(5000).argv(req)).toEqual(['systemctl', '--no-block', 'start', 'a.service', 'b.service']);
  });
});
