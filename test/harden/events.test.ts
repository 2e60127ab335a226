// An event's work, hardened (docs/SECURITY.md), on a daemon with temp roots fed injected uevents: a program that
// leaves a background job holding its output is done when it exits; an event given up at event_timeout while a
// stage awaits (the interface rename) applies nothing, and the device's next event waits until that work stopped;
// a full run root fails the event whole (what was changed is put back) and the next event works.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadEngine } from '../../src/daemon/engine.js';
import { EventCancelled } from '../../src/util/cancel.js';
import type { Uevent } from '../../src/netlink/uevent.js';
import { captureLogger } from '../helpers/log-capture.js';
import { sleep, tempRoots, testConfig, until } from '../daemon/helpers.js';

let seqnum = 100;
function nullEvent(action = 'change'): Uevent {
  const s = seqnum++;
  return {
    action,
    devpath: '/devices/virtual/mem/null',
    subsystem: 'mem',
    seqnum: s,
    properties: new Map([['ACTION', action], ['DEVPATH', '/devices/virtual/mem/null'], ['SUBSYSTEM', 'mem'], ['SEQNUM', String(s)], ['MAJOR', '1'], ['MINOR', '3'], ['DEVNAME', 'null']]),
  } as Uevent;
}

/** The processes whose command line is exactly `cmd`. */
const pgrep = (cmd: string) => spawnSync('pgrep', ['-xf', cmd]).stdout.toString().split('\n').filter(Boolean);

describe('a program that leaves a background job holding its output', () => {
  it('is done when it exits: PROGRAM and RUN complete at once, the job is killed once the queue is idle', async () => {
    const r = tempRoots('dm-bgjob-');
    const job = `sleep 59.${process.pid}`;
    // the job inherits stdout and stderr: its pipes stay open for a minute
    writeFileSync(join(r.rules, '50-bg.rules'), [`KERNEL=="null", PROGRAM=="/bin/sh -c '${job} & echo found'", ENV{DM_P}="%c"`, `KERNEL=="null", RUN+="/bin/sh -c '${job} & echo run'"`, ''].join('\n'));
    const { logger, lines } = captureLogger();
    const d = await Daemon.start({ config: testConfig(r, { execTimeout: 60, eventTimeout: 120 }), logger, netlink: false, watch: false });
    try {
      const t0 = performance.now();
      d.inject(nullEvent());
      expect(await d.queue.whenIdle(20_000)).toBe(true);
      const ms = performance.now() - t0;
      // without completion on exit this takes the 60 s exec_timeout and fails; a bound far below it, not a measurement
      expect(ms).toBeLessThan(10_000);
      expect(d.counters.processed).toBe(1);
      expect(d.counters.failed + d.counters.timedOut).toBe(0);
      expect(readFileSync(join(r.run, 'data', 'c1:3'), 'utf8')).toMatch(/^E:DM_P=found$/m);
      expect(pgrep(job).length).toBe(2);
      // the daemon kills what the programs left once it has been idle a few seconds (as udevd its cgroup)
      await until(() => pgrep(job).length === 0, 15_000, 'the background jobs killed');
      expect(lines.some((l) => /killed processes that programs of past events left running/.test(l.msg))).toBe(true);
    } finally {
      await d.stop();
      for (const pid of pgrep(job)) process.kill(Number(pid), 'SIGKILL');
      r.cleanup();
    }
  }, 60_000);
});

describe('an event given up at event_timeout while its rename awaits', () => {
  // an interface in a sysfs root of the test's own (nothing here reaches a real interface): its rename is a stand-in
  // for the rtnetlink call that takes 4 s the first time, in the real pipeline and daemon
  const ifname = 'dmslow0';
  const ifindex = 99_999;
  function netEvent(action: string): Uevent {
    const s = seqnum++;
    const devpath = `/devices/virtual/net/${ifname}`;
    return {
      action,
      devpath,
      subsystem: 'net',
      seqnum: s,
      properties: new Map([['ACTION', action], ['DEVPATH', devpath], ['SUBSYSTEM', 'net'], ['SEQNUM', String(s)], ['INTERFACE', ifname], ['IFINDEX', String(ifindex)]]),
    } as Uevent;
  }
  async function start(): Promise<{ d: Daemon; r: ReturnType<typeof tempRoots>; slow: { stoppedAt: number; givenUpAt: number; reason: unknown } }> {
    const r = tempRoots('dm-timeout-');
    const sysfs = join(r.base, 'sys');
    const dir = join(sysfs, 'devices', 'virtual', 'net', ifname);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'uevent'), `INTERFACE=${ifname}\nIFINDEX=${ifindex}\n`);
    writeFileSync(join(dir, 'ifindex'), `${ifindex}\n`);
    writeFileSync(join(r.rules, '50-slow.rules'), `SUBSYSTEM=="net", KERNEL=="${ifname}", NAME="dmrenamed0", TAG+="dmtag", ENV{DM_X}="1"\n`);
    const { logger } = captureLogger();
    const real = await loadEngine({ logger });
    const slow = { first: true, stoppedAt: 0, givenUpAt: 0, reason: undefined as unknown };
    const engine = {
      ...real,
      processEvent: ((ctx, rules, device) =>
        real.processEvent(
          {
            ...ctx,
            renameInterface: async (_dev, _name, _alt, signal) => {
              if (!slow.first) return;
              slow.first = false;
              signal?.addEventListener('abort', () => {
                slow.givenUpAt = Date.now();
                slow.reason = signal.reason;
              });
              await sleep(4000);
              slow.stoppedAt = Date.now();
            },
          },
          rules,
          device,
        )) as typeof real.processEvent,
    };
    const d = await Daemon.startWithEngine(engine, { config: testConfig(r, { sysfs, eventTimeout: 2 }), logger, netlink: false, watch: false });
    return { d, r, slow };
  }

  it('applies nothing: no record, no tag index', async () => {
    const { d, r, slow } = await start();
    try {
      d.inject(netEvent('add'));
      await until(() => slow.givenUpAt > 0, 10_000, 'the event given up');
      // given up while the rename still awaited, with the typed cancellation
      expect(slow.stoppedAt).toBe(0);
      expect(slow.reason).toBeInstanceOf(EventCancelled);
      expect((slow.reason as EventCancelled).why).toBe('timeout');
      expect(d.queue.isIdle).toBe(false); // its queue slot is held until the work stopped
      expect(await d.queue.whenIdle(10_000)).toBe(true);
      expect(slow.stoppedAt).toBeGreaterThan(0);
      await sleep(200);
      expect(existsSync(join(r.run, 'data', `n${ifindex}`))).toBe(false);
      expect(existsSync(join(r.run, 'tags', 'dmtag'))).toBe(false);
      expect(d.counters).toMatchObject({ processed: 0, failed: 1, timedOut: 1 });
    } finally {
      await d.stop();
      r.cleanup();
    }
  }, 30_000);

  it('the next event of the device runs only once that work has stopped', async () => {
    const { d, r, slow } = await start();
    try {
      d.inject(netEvent('add'));
      await until(() => slow.givenUpAt > 0, 10_000, 'the event given up');
      d.inject(netEvent('change'));
      expect(await d.queue.whenIdle(20_000)).toBe(true);
      // the record the second event wrote is younger than the end of the first one's work
      expect(statSync(join(r.run, 'data', `n${ifindex}`)).mtimeMs).toBeGreaterThanOrEqual(slow.stoppedAt - 5);
      expect(readFileSync(join(r.run, 'data', `n${ifindex}`), 'utf8')).toMatch(/^E:DM_X=1$/m);
      expect(d.counters).toMatchObject({ processed: 1, failed: 1, timedOut: 1 });
    } finally {
      await d.stop();
      r.cleanup();
    }
  }, 30_000);
});

describe('a full run root', () => {
  it('fails the event cleanly (nothing half applied), and the next event for the device works', async () => {
    const r = tempRoots('dm-full-');
    writeFileSync(join(r.rules, '50-full.rules'), 'KERNEL=="null", MODE="0640", SYMLINK+="dmfull/null", TAG+="dmtag", ENV{DM_BIG}="' + 'x'.repeat(2000) + '"\n');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'dm-full', r.run]);
    const { logger, lines } = captureLogger();
    let d: Daemon | undefined;
    try {
      d = await Daemon.start({ config: testConfig(r, { mknod: true }), logger, netlink: false, watch: false });
      // fill it: a file as large as it gets, then the last blocks and inodes
      const fill = join(r.run, 'fill');
      mkdirSync(fill);
      const chunk = Buffer.alloc(4096);
      for (let i = 0; ; i++) {
        try {
          writeFileSync(join(fill, String(i)), i < 64 ? chunk : '');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
      d.inject(nullEvent('add'));
      expect(await d.queue.whenIdle(10_000)).toBe(true);
      expect(d.counters.failed).toBe(1);
      const node = join(r.dev, 'null');
      expect(lstatSync(node).mode & 0o777).not.toBe(0o640);
      expect(existsSync(join(r.dev, 'dmfull', 'null'))).toBe(false);
      expect(existsSync(join(r.run, 'data', 'c1:3'))).toBe(false);
      expect(existsSync(join(r.run, 'tags', 'dmtag', 'c1:3'))).toBe(false);
      expect(lines.some((l) => /applying the event failed; putting back what it changed/.test(l.msg) && /ENOSPC/.test(String(l.err)))).toBe(true);
      // room again: the next event applies whole
      rmSync(fill, { recursive: true });
      d.inject(nullEvent('change'));
      expect(await d.queue.whenIdle(10_000)).toBe(true);
      expect(d.counters.processed).toBe(1);
      expect(lstatSync(node).mode & 0o777).toBe(0o640);
      expect(lstatSync(join(r.dev, 'dmfull', 'null')).isSymbolicLink()).toBe(true);
      expect(readFileSync(join(r.run, 'data', 'c1:3'), 'utf8')).toMatch(/^G:dmtag$/m);
      expect(existsSync(join(r.run, 'tags', 'dmtag', 'c1:3'))).toBe(true);
    } finally {
      await d?.stop();
      execFileSync('umount', [r.run]);
      r.cleanup();
    }
  }, 60_000);
});
