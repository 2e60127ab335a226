// devctl test run by the running daemon (the control socket's `test` request, docs/DEVCTL.md): the same report as
// devctl's own run, and declined (devctl then runs the event itself) wherever the daemon's rules are not what
// devctl would load: a file changed on disk since the daemon's last load, other rules directories or options. The
// built devctl asks without loading node:net.
import { describe, expect, it } from 'vitest';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
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
  it('gives the report devctl gives, and leaves the run to devctl when the rules on disk are not the ones in force', async () => {
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

      // a file changed on disk and not reloaded yet: devctl runs the event, with the change
      appendFileSync(join(roots.rules, '50-udev-default.rules'), 'KERNEL=="null", ENV{IN_DAEMON_TEST}="changed"\n');
      const changed = await report([], '/sys/devices/virtual/mem/null');
      expect(changed.ranIn).toBe('devctl');
      expect(changed.properties.IN_DAEMON_TEST).toBe('changed');
      // once reloaded, the daemon runs it again, with the change
      await daemon.rules.load();
      const reloaded = await report([], '/sys/devices/virtual/mem/null');
      expect(reloaded.ranIn).toBe('daemon');
      expect(reloaded.properties.IN_DAEMON_TEST).toBe('changed');

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
