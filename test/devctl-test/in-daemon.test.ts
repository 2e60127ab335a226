// devctl test run by the running daemon (the control socket's `test` request, docs/DEVCTL.md): the same report as
// devctl's own run, with the rules files changed on disk since the daemon's last load compiled for the test; declined
// (devctl then runs the event itself) for other rules directories or options, and for more changed files than the
// daemon compiles for a test. The built devctl asks without loading node:net.
import { describe, expect, it } from 'vitest';
import { appendFileSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceUdev257 } from '../helpers/reference.js';
import { rulesCopy } from '../helpers/udevd.js';
import { startDevctl, startProcess } from '../helpers/cli.js';
import { DIST, shebangFlags } from '../helpers/bundle.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/log.js';
import { tempRoots, testConfig } from '../daemon/helpers.js';

interface Report {
  ranIn: string;
  rulesFiles: number;
  rulesFromCache: number;
  properties: Record<string, string>;
}

describe('devctl test through the running daemon', () => {
  it('gives the report devctl gives, with the rules on disk, and leaves the run to devctl for other rules or options', async () => {
    const roots = tempRoots('dm-test-in-daemon-');
    const n = rulesCopy(referenceUdev257().rulesDir, roots.rules);
    let daemon: Daemon | undefined;
    try {
      daemon = await Daemon.start({ config: testConfig(roots), netlink: false, watch: false, logger: createLogger({ level: 'error', pretty: false }) });
      // asynchronous: the daemon answers from this process
      const test = async (extra: string[], dev: string, json = true) => {
        const r = await startDevctl(['test', ...(json ? ['--json'] : []), '--sysfs', '/sys', '--dev', roots.dev, '--run', roots.run, '--rules-dir', roots.rules, ...extra, dev]).done;
        return r;
      };
      const report = async (extra: string[], dev: string) => {
        const r = await test(extra, dev);
        expect(r.status, r.stderr).toBe(0);
        const j = JSON.parse(r.stdout) as Report;
        delete j.properties.USEC_INITIALIZED; // the time of the run
        return j;
      };
      for (const dev of ['/sys/devices/virtual/mem/null', '/sys/devices/virtual/net/lo', 'tty/tty1', 'c1:5']) {
        const inDaemon = await report([], dev);
        const local = await report(['--local'], dev);
        expect(inDaemon.ranIn).toBe('daemon');
        expect(local.ranIn).toBe('devctl');
        expect({ ...inDaemon, ranIn: '', rulesFromCache: 0 }).toEqual({ ...local, ranIn: '', rulesFromCache: 0 });
        expect(inDaemon.rulesFiles).toBe(n);
      }
      // the built devctl asks the daemon without node:net (src/util/unix-client.ts): the modules Node loaded, at exit
      const hook = join(roots.base, 'modules-hook.cjs');
      writeFileSync(hook, "process.on('exit', () => require('fs').writeSync(2, 'MODULES ' + JSON.stringify(process.moduleLoadList) + '\\n'));\n");
      const built = await startProcess(process.execPath, [...shebangFlags('devctl'), '-r', hook, join(DIST, 'cli', 'devctl.js'), 'test', '--json', '--sysfs', '/sys', '--dev', roots.dev, '--run', roots.run, '--rules-dir', roots.rules, 'tty/tty1']);
      expect(built.status, built.stderr).toBe(0);
      expect((JSON.parse(built.stdout) as Report).ranIn).toBe('daemon');
      const modules = JSON.parse(built.stderr.split('\n').find((l) => l.startsWith('MODULES '))!.slice('MODULES '.length)) as string[];
      expect(modules).toContain('Internal Binding pipe_wrap');
      expect(modules).not.toContain('NativeModule net');
      expect(modules).not.toContain('NativeModule stream');

      // the text report too, apart from its rules line
      const text = await test([], 'tty/tty1', false);
      const localText = await test(['--local'], 'tty/tty1', false);
      expect(text.stdout).toContain('(run by the devMaster daemon, as it compiled them)');
      const body = (s: string) => s.split('\n').slice(3).join('\n').replace(/USEC_INITIALIZED=\d+/, '');
      expect(body(text.stdout)).toBe(body(localText.stdout));
      // a device the daemon cannot find: devctl's own error
      const missing = await test([], 'nosuch/device', false);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/^devctl test: .*nosuch/);

      // a file changed on disk and not reloaded yet: the daemon compiles it for the test (it stays out of force),
      // and its report is devctl's own
      appendFileSync(join(roots.rules, '50-udev-default.rules'), 'KERNEL=="null", ENV{IN_DAEMON_TEST}="changed"\n');
      const changed = await report([], '/sys/devices/virtual/mem/null');
      expect(changed).toMatchObject({ ranIn: 'daemon', rulesFiles: n, rulesFromCache: n - 1 });
      expect(changed.properties.IN_DAEMON_TEST).toBe('changed');
      expect({ ...changed, ranIn: '', rulesFromCache: 0 }).toEqual({ ...(await report(['--local'], '/sys/devices/virtual/mem/null')), ranIn: '', rulesFromCache: 0 });
      expect((await test([], '/sys/devices/virtual/mem/null', false)).stdout).toContain(`rules:   ${n} files (run by the devMaster daemon; 1 changed since its last load, compiled for this test)`);
      // an added file with an error: its valid lines run, its error is reported on stderr, as devctl's own run does
      writeFileSync(join(roots.rules, '99-in-daemon-test.rules'), 'KERNEL=="null", ENV{ADDED}="1"\nKERNEL=="null", BROKEN\n');
      const added = await test([], '/sys/devices/virtual/mem/null');
      const addedLocal = await test(['--local'], '/sys/devices/virtual/mem/null');
      expect((JSON.parse(added.stdout) as Report).ranIn).toBe('daemon');
      expect((JSON.parse(added.stdout) as Report).properties.ADDED).toBe('1');
      expect(added.stderr).toMatch(/99-in-daemon-test\.rules:2:\d+: error: /);
      expect(added.stderr).toBe(addedLocal.stderr);
      // the daemon itself still runs the rules in force
      expect(daemon.rules.ruleSet.files.some((f) => f.path.endsWith('99-in-daemon-test.rules'))).toBe(false);
      // once reloaded, the daemon runs it with its own compiled files again
      rmSync(join(roots.rules, '99-in-daemon-test.rules'));
      await daemon.rules.load();
      const reloaded = await report([], '/sys/devices/virtual/mem/null');
      expect(reloaded).toMatchObject({ ranIn: 'daemon', rulesFromCache: n });
      expect(reloaded.properties.IN_DAEMON_TEST).toBe('changed');
      // more changed files than it compiles for a test (8): devctl runs it
      for (const f of readdirSync(roots.rules).slice(0, 9)) utimesSync(join(roots.rules, f), new Date(), new Date(Date.now() + 5000));
      expect((await report([], '/sys/devices/virtual/mem/null')).ranIn).toBe('devctl');

      // other options or rules directories than the daemon's
      expect((await report(['--resolve-names=never'], '/sys/devices/virtual/mem/null')).ranIn).toBe('devctl');
      const other = join(roots.base, 'other-rules');
      mkdirSync(other);
      expect((await report(['--rules-dir', other], '/sys/devices/virtual/mem/null')).ranIn).toBe('devctl');
    } finally {
      await daemon?.stop();
      roots.cleanup();
    }
  });
});
