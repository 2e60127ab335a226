// kmod: argument handling against Debian's `udevadm test-builtin kmod` (this machine has no kernel modules,
// so udevadm finds nothing to load either), and module resolution through libkmod with a modprobe.d made
// for the test: aliases resolve, nothing is inserted in test mode, a deny-listed module is reported, and a
// module that cannot be found fails quietly without anything reaching the kernel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger, type LogLine } from '../helpers/log-capture.js';
import type { Logger } from '../../src/log.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import kmod, { configureKmod, loadModule } from '../../src/builtins/kmod.js';
import { getBuiltin } from '../../src/builtins/registry.js';
import { Device } from '../../src/device/device.js';
import { compareBuiltin } from './compare.js';
import { tempSysfs } from './tree.js';

/** A logger that keeps its lines. */
function capture(): { log: Logger; lines: LogLine[] } {
  const { logger, lines } = captureLogger();
  return { log: logger, lines };
}

describe('kmod against udevadm test-builtin', () => {
  let t: ReturnType<typeof tempSysfs>;
  beforeAll(() => {
    t = tempSysfs([
      { devpath: '/devices/platform/dmtest.0', subsystem: 'platform', uevent: { MODALIAS: 'platform:devmaster-test-no-such-driver' } },
      { devpath: '/devices/virtual/misc/dmtest', subsystem: 'misc', uevent: { MAJOR: '10', MINOR: '250', DEVNAME: 'dmtest' } },
    ]);
  });
  afterAll(() => t?.cleanup());

  it('fails and succeeds on the same arguments (nothing to load here)', async () => {
    const devs = ['/devices/platform/dmtest.0', '/devices/virtual/misc/dmtest'];
    const results: Record<string, unknown[]> = {};
    for (const cmd of ['kmod', 'kmod foo x', 'kmod load', 'kmod load devmaster-test-no-such-alias', 'kmod load pci:v0000FFFFd0000FFFFsv*sd*bc*sc*i* devmaster_no_such_module', 'kmod unload x']) {
      const { ours, diffs } = await compareBuiltin(t.roots, cmd, devs);
      expect(diffs, cmd).toEqual([]);
      results[cmd] = devs.map((d) => (ours.get(d) === null ? 'fail' : ours.get(d)?.size));
    }
    expect(results).toEqual({
      kmod: ['fail', 'fail'],
      'kmod foo x': ['fail', 'fail'],
      'kmod load': [0, 'fail'], // the MODALIAS default; the misc device has none
      'kmod load devmaster-test-no-such-alias': [0, 0],
      'kmod load pci:v0000FFFFd0000FFFFsv*sd*bc*sc*i* devmaster_no_such_module': [0, 0],
      'kmod unload x': ['fail', 'fail'],
    });
  }, 60_000);

  it('says what is wrong with the arguments', async () => {
    const { log, lines } = capture();
    const dev = Device.fromDevpath(t.roots, '/devices/virtual/misc/dmtest');
    const ctx = { device: dev, action: 'add', roots: t.roots, test: true, log, setProperty: () => {} };
    expect(await kmod.run(ctx, ['kmod', 'unload', 'x'])).toBe(false);
    expect(await kmod.run(ctx, ['kmod', 'load'])).toBe(false);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [50, 'dmtest: kmod: expected: load [module…]'],
      [40, 'dmtest: kmod: failed to read property "MODALIAS"'],
    ]);
  });
});

describe('kmod through libkmod', () => {
  let conf: string;
  beforeAll(() => {
    conf = mkdtempSync(join(tmpdir(), 'dm-modprobe-'));
    writeFileSync(
      join(conf, 'devmaster-test.conf'),
      [
        'alias devmaster-test-alias devmaster_test_module',
        'alias devmaster-test-two devmaster_test_module',
        'alias devmaster-test-two devmaster_other_module',
        'alias devmaster-test-blocked devmaster_blocked_module',
        'blacklist devmaster_blocked_module',
      ].join('\n') + '\n',
    );
    configureKmod({ configPaths: [conf] });
  });
  afterAll(() => {
    kmod.exit?.();
    configureKmod();
    if (conf) rmSync(conf, { recursive: true, force: true });
  });

  it('resolves aliases to modules without inserting anything in test mode', () => {
    expect(loadModule('devmaster-test-alias', true)).toEqual([{ name: 'devmaster_test_module', outcome: 'skipped' }]);
    expect(loadModule('devmaster-test-two', true)).toEqual([
      { name: 'devmaster_test_module', outcome: 'skipped' },
      { name: 'devmaster_other_module', outcome: 'skipped' },
    ]);
    // a modalias nothing claims: nothing to do
    expect(loadModule('pci:v0000FFFFd0000FFFFsv0000FFFFsd0000FFFFbcFFscFFiFF', true)).toEqual([]);
  });

  it('applies the deny-list and reports modules it cannot find, without failing', () => {
    expect(loadModule('devmaster-test-blocked', false)).toEqual([{ name: 'devmaster_blocked_module', outcome: 'deny-listed' }]);
    // not in any modules.dep: libkmod finds no file to load and never calls into the kernel
    expect(loadModule('devmaster-test-alias', false)).toEqual([{ name: 'devmaster_test_module', outcome: 'failed', error: 'ENOENT' }]);
  });

  it('the builtin logs what it would load in test mode and what failed otherwise, and succeeds', async () => {
    const b = (await getBuiltin('kmod'))!;
    expect(b).toBe(kmod);
    const roots = { sysfs: '/sys', dev: '/dev', run: '/nonexistent' };
    const dev = Device.fromDevpath(roots, '/devices/virtual/mem/null');
    const run = async (test: boolean, argv: string[]) => {
      const { log, lines } = capture();
      const ok = await b.run({ device: dev, action: 'add', roots, test, log, setProperty: () => {} }, argv);
      return { ok, msgs: lines.map((l) => l.msg).filter((m) => !m.startsWith('libkmod:')) };
    };
    const t1 = await run(true, ['kmod', 'load', 'devmaster-test-alias', 'devmaster-no-such-thing']);
    expect(t1.ok).toBe(true);
    expect(t1.msgs).toEqual([
      'kmod: loading module: devmaster-test-alias',
      "kmod: test mode, not inserting module 'devmaster_test_module'",
      'kmod: loading module: devmaster-no-such-thing',
      "kmod: failed to find module 'devmaster-no-such-thing'",
    ]);
    const t2 = await run(false, ['kmod', 'load', 'devmaster-test-alias', 'devmaster-test-blocked']);
    expect(t2.ok).toBe(true);
    expect(t2.msgs).toEqual([
      'kmod: loading module: devmaster-test-alias',
      "kmod: failed to insert module 'devmaster_test_module': ENOENT",
      'kmod: loading module: devmaster-test-blocked',
      "kmod: module 'devmaster_blocked_module' is deny-listed",
    ]);
  });

  it('keeps one context across init, reload checks and exit', async () => {
    await kmod.init?.({ sysfs: '/sys', dev: '/dev', run: '/nonexistent' });
    expect(kmod.shouldReload?.()).toBe(false);
    await kmod.init?.({ sysfs: '/sys', dev: '/dev', run: '/nonexistent' }); // a reload: starts afresh
    expect(loadModule('devmaster-test-alias', true)).toEqual([{ name: 'devmaster_test_module', outcome: 'skipped' }]);
    kmod.exit?.();
    expect(kmod.shouldReload?.()).toBe(false); // no context, nothing to validate
    // used again after exit: a new context is made on demand
    expect(loadModule('devmaster-test-alias', true)).toEqual([{ name: 'devmaster_test_module', outcome: 'skipped' }]);
  });
});
