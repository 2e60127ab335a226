// Start-up with --coldplug, and `devctl trigger --settle` against the running daemon (real kernel, temp roots).
import { describe, it, expect } from 'vitest';
import { writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';
import { REPO_ROOT, BroadcastListener, tempRoots, startDevmaster, zramAdd, zramRemove, until, sleep as sleep2 } from './helpers.js';

describe('a stuck event', () => {
  it('never blocks unrelated devices; the program is killed at exec_timeout and logged with file:line', async () => {
    const r = tempRoots('dm-stuck-');
    const rules = join(r.rules, '50-stuck.rules');
    const sleep = `/bin/sleep 30.${process.pid}`; // unique: other tests' daemons may run programs too
    const dm = await startDevmaster(r, ['--exec-timeout', '3']);
    const a = zramAdd();
    let b: number | undefined;
    try {
      // only this test's device gets the slow program (other tests trigger "change" on their zram devices)
      writeFileSync(rules, `SUBSYSTEM=="block", KERNEL=="zram${a}", ACTION=="change", PROGRAM="${sleep}"\nSUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_DONE}="yes"\n`);
      await controlRequest(r.run, { command: 'reload' });
      await dm.settle();
      const t0 = Date.now();
      writeFileSync(`/sys/block/zram${a}/uevent`, 'change');
      b = zramAdd();
      const idB = readFileSync(`/sys/block/zram${b}/dev`, 'utf8').trim();
      await until(() => existsSync(join(r.run, 'data', `b${idB}`)) && readFileSync(join(r.run, 'data', `b${idB}`), 'utf8').includes('E:DM_DONE=yes'), 10_000, 'the unrelated device processed');
      expect(Date.now() - t0).toBeLessThan(2500);
      const st = (await controlRequest(r.run, { command: 'status' })) as { queue: { running: number } };
      expect(st.queue.running).toBeGreaterThanOrEqual(1); // zram a is still in its PROGRAM
      expect(spawnSync('pgrep', ['-f', `^${sleep}$`]).stdout.toString().trim()).not.toBe('');
      await until(() => dm.log().includes('timed out'), 15_000, 'timeout in the log');
      // the log is JSON lines: quotes inside the message are escaped
      expect(dm.log()).toContain(`${rules}:1 command \\"${sleep}\\" timed out after 3000 ms, killed`);
      await dm.settle();
      expect(spawnSync('pgrep', ['-f', `^${sleep}$`]).stdout.toString().trim()).toBe('');
    } finally {
      zramRemove(a);
      if (b !== undefined) zramRemove(b);
      expect(await dm.stop()).toBe(0);
      r.cleanup();
    }
  });
});

describe('an event given up at event_timeout', () => {
  it('is broadcast as failed; its program is killed at once and the rest of its rules never run', async () => {
    const r = tempRoots('dm-giveup-');
    const sleep = `/bin/sleep 40.${process.pid}`;
    const dm = await startDevmaster(r, ['--event-timeout', '2', '--exec-timeout', '60']);
    const listener = await BroadcastListener.open();
    const a = zramAdd();
    try {
      const name = `zram${a}`;
      writeFileSync(join(r.rules, '50-giveup.rules'), `SUBSYSTEM=="block", KERNEL=="${name}", ACTION=="change", PROGRAM="${sleep}"\nSUBSYSTEM=="block", KERNEL=="${name}", ACTION=="change", ENV{DM_AFTER}="ran"\n`);
      await controlRequest(r.run, { command: 'reload' });
      await dm.settle();
      const port = ((await controlRequest(r.run, { command: 'status' })) as { broadcaster: { port: number } }).broadcaster.port;
      listener.clear();
      writeFileSync(`/sys/block/${name}/uevent`, 'change');
      const b = await listener.waitFor((x) => x.senderPort === port && x.properties.get('DEVNAME') === `/dev/${name}` && x.properties.get('ACTION') === 'change', 10_000, 'the failed change');
      expect(b.properties.get('UDEV_WORKER_FAILED')).toBe('1');
      expect(b.properties.get('UDEV_WORKER_ERRNO_NAME')).toBe('ETIMEDOUT');
      await until(() => spawnSync('pgrep', ['-f', `^${sleep}$`]).stdout.toString().trim() === '', 3000, 'the program killed');
      await sleep2(500);
      const db = join(r.run, 'data', `b${readFileSync(`/sys/block/${name}/dev`, 'utf8').trim()}`);
      expect(existsSync(db) ? readFileSync(db, 'utf8') : '').not.toContain('DM_AFTER');
    } finally {
      listener.close();
      zramRemove(a);
      expect(await dm.stop()).toBe(0);
      r.cleanup();
    }
  });
});

describe('coldplug and trigger --settle', () => {
  it('--coldplug triggers "add" for every device, waits for the queue and logs it', async () => {
    const r = tempRoots('dm-cold-');
    writeFileSync(join(r.rules, '50-cold.rules'), 'SUBSYSTEM=="mem", KERNEL=="null", ENV{DM_COLD}="seen"\nSUBSYSTEM=="block", ENV{DM_COLD}="block"\n');
    const dm = await startDevmaster(r, ['--coldplug']);
    try {
      await until(() => /coldplug: \d+ devices triggered, queue drained in \d+ ms/.test(dm.log()), 120_000, 'coldplug log line');
      const m = /coldplug: (\d+) devices triggered/.exec(dm.log())!;
      expect(Number(m[1])).toBeGreaterThan(50);
      // /dev/null is c1:3 everywhere
      expect(readFileSync(join(r.run, 'data', 'c1:3'), 'utf8')).toContain('E:DM_COLD=seen\n');
      expect(readdirSync(join(r.run, 'data')).length).toBeGreaterThan(20);
      const st = (await controlRequest(r.run, { command: 'status' })) as { queue: { processed: number } };
      expect(st.queue.processed).toBeGreaterThanOrEqual(Number(m[1]) / 2);
    } finally {
      expect(await dm.stop()).toBe(0);
      r.cleanup();
    }
  });

  it('`devctl trigger --settle` returns once the daemon processed its events', async () => {
    const r = tempRoots('dm-trig-');
    writeFileSync(join(r.rules, '50-trig.rules'), 'SUBSYSTEM=="block", KERNEL=="zram*", ACTION=="change", ENV{DM_TRIGGERED}="yes"\n');
    const dm = await startDevmaster(r);
    const n = zramAdd();
    try {
      await dm.settle();
      const id = readFileSync(`/sys/block/zram${n}/dev`, 'utf8').trim();
      const db = join(r.run, 'data', `b${id}`);
      expect(existsSync(db) ? readFileSync(db, 'utf8') : '').not.toContain('DM_TRIGGERED');
      const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/devctl.ts', 'trigger', '--settle', '--timeout', '20', '-c', 'change', `/sys/block/zram${n}`, '--run', r.run], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      expect(res.stderr).not.toMatch(/timed out|never answered/);
      expect(res.status).toBe(0);
      // no extra wait: when trigger returns, the daemon has written the result
      expect(readFileSync(db, 'utf8')).toContain('E:DM_TRIGGERED=yes\n');
    } finally {
      zramRemove(n);
      expect(await dm.stop()).toBe(0);
      r.cleanup();
    }
  });
});
