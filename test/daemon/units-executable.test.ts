// The devmaster executable with the unit layer wired in: a zram device tagged by a rule starts its unit through
// the exec backend, the record is in the database, the counters are in the control socket's status, and the
// bound unit is stopped on removal.
import { describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { tempRoots, startDevmaster, zramAdd, zramRemove, until } from './helpers.js';

describe('devmaster starts units on hotplug', () => {
  it('runs the exec backend for a tagged zram device and reports the counters', async () => {
    const r = tempRoots('dm-units-exe-');
    const log = join(r.base, 'unit-calls');
    const script = join(r.base, 'unit-cmd');
    writeFileSync(script, `#!/bin/sh\necho "$*" >> ${log}\n`);
    chmodSync(script, 0o755);
    const dm = await startDevmaster(r, ['--unit-backend', 'exec', '--unit-exec', `${script} {action} {units}`]);
    let n: number | undefined;
    try {
      // the rule names this test's device only; it is written once the number is known, before any change event
      n = zramAdd();
      writeFileSync(join(r.rules, '90-units.rules'), `SUBSYSTEM=="block", KERNEL=="zram${n}", TAG+="sysmaster", ENV{SYSMASTER_BINDS_TO}="dm-exe-test.service"\n`);
      await controlRequest(r.run, { command: 'reload' });
      writeFileSync(`/sys/block/zram${n}/uevent`, 'change');
      await dm.settle();
      // the shell creates the file before it writes the line: wait for the whole line
      await until(() => existsSync(log) && readFileSync(log, 'utf8').endsWith('\n'), 10_000, 'the unit command ran');
      expect(readFileSync(log, 'utf8')).toBe('start dm-exe-test.service\n');
      const id = readFileSync(`/sys/block/zram${n}/dev`, 'utf8').trim();
      expect(readFileSync(join(r.run, 'data', `b${id}`), 'utf8')).toContain('E:DEVMASTER_UNITS_BOUND=dm-exe-test.service\n');
      // the command wrote its line before it exited; the activator counts the success once it has exited
      const units = async () => ((await controlRequest(r.run, { command: 'status' })) as { units: { requested: number; succeeded: number } }).units;
      for (let i = 0; i < 50 && (await units()).succeeded === 0; i++) await new Promise((res) => setTimeout(res, 100));
      expect(await units()).toMatchObject({ requested: 1, succeeded: 1 });
      zramRemove(n);
      n = undefined;
      await dm.settle();
      await until(() => readFileSync(log, 'utf8').includes('stop'), 10_000, 'the bound unit stopped');
      expect(readFileSync(log, 'utf8')).toBe('start dm-exe-test.service\nstop dm-exe-test.service\n');
    } finally {
      if (n !== undefined) zramRemove(n);
      expect(await dm.stop()).toBe(0);
      r.cleanup();
    }
  });
});
