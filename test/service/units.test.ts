// The unit files shipped in system/: systemd's (checked by systemd-analyze verify and systemctl, Debian 12's
// systemd 252, against an installed file tree; enabling them takes over udev's unit names, disabling gives them
// back) and sysMaster's (checked with sysMaster's own parsing rules, test/service/sysmaster-unit.ts). The
// hardening they ask for is tried on the real executable: MemoryDenyWriteExecute=.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { REPO_ROOT, tempRoots, zramAdd, zramRemove, until } from '../daemon/helpers.js';
import { referenceUdev, referenceUdev257 } from '../helpers/reference.js';
import { checkSysmasterUnit, values } from './sysmaster-unit.js';

const SYSTEMD_DIR = join(REPO_ROOT, 'system', 'systemd');
const SYSMASTER_DIR = join(REPO_ROOT, 'system', 'sysmaster');
const UNITS = ['devmaster.service', 'devmaster-kernel.socket', 'devmaster-control.socket', 'devmaster-trigger.service', 'devmaster-settle.service'];

/**
 * A file tree as a Debian system with devMaster installed has it: the host's systemd units (targets and the
 * rest), optionally Debian 13's udev units, devMaster's units, and /usr/bin/devmaster and /usr/bin/devctl as the
 * package installs them (links to the built executables under /usr/lib/devmaster).
 */
function installedTree(withUdev: boolean): string {
  const root = mkdtempSync(join(tmpdir(), 'dm-units-'));
  const unitDir = join(root, 'usr/lib/systemd/system');
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  cpSync('/usr/lib/systemd/system', unitDir, { recursive: true, verbatimSymlinks: true });
  if (withUdev) cpSync(join(referenceUdev257().root, 'usr/lib/systemd/system'), unitDir, { recursive: true, verbatimSymlinks: true });
  for (const u of UNITS) cpSync(join(SYSTEMD_DIR, u), join(unitDir, u));
  mkdirSync(join(root, 'usr/lib/devmaster/dist/cli'), { recursive: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  for (const exe of ['devmaster', 'devctl']) {
    const built = join(REPO_ROOT, 'dist', 'cli', `${exe}.js`);
    if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
    cpSync(built, join(root, `usr/lib/devmaster/dist/cli/${exe}.js`));
    symlinkSync(`../lib/devmaster/dist/cli/${exe}.js`, join(root, 'usr/bin', exe));
  }
  return root;
}

const run = (cmd: string, args: string[], env: Record<string, string> = {}) => spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });

describe('systemd units', () => {
  let root: string;
  beforeAll(() => {
    root = installedTree(false);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('pass systemd-analyze verify with no warning at all', () => {
    const r = run('systemd-analyze', ['verify', `--root=${root}`, ...UNITS], { SYSTEMD_LOG_LEVEL: 'info' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('carry udevd 257 hardening options, and what the daemon needs', () => {
    const svc = readFileSync(join(SYSTEMD_DIR, 'devmaster.service'), 'utf8');
    const udevd = readFileSync(join(referenceUdev257().root, 'usr/lib/systemd/system/systemd-udevd.service'), 'utf8');
    const keys = (s: string) => s.split('\n').filter((l) => /^[A-Z]\w+=/.test(l)).map((l) => l.trim());
    // every hardening line of systemd-udevd.service is in ours, word for word
    const hardening = keys(udevd).filter((l) => /^(CapabilityBoundingSet|OOMScoreAdjust|KillMode|TasksMax|PrivateMounts|ProtectHostname|MemoryDenyWriteExecute|RestrictAddressFamilies|RestrictRealtime|RestrictSUIDSGID|SystemCallFilter|SystemCallErrorNumber|SystemCallArchitectures|LockPersonality|IPAddressDeny|WatchdogSec|Restart|RestartSec)=/.test(l));
    expect(hardening.length).toBe(19);
    for (const l of hardening) expect(keys(svc)).toContain(l);
    expect(keys(svc)).toEqual(expect.arrayContaining(['Type=notify', 'Sockets=devmaster-control.socket devmaster-kernel.socket', 'FileDescriptorStoreMax=4']));
    const kernel = readFileSync(join(SYSTEMD_DIR, 'devmaster-kernel.socket'), 'utf8');
    expect(keys(kernel)).toEqual(expect.arrayContaining(['ListenNetlink=kobject-uevent 1', 'ReceiveBuffer=128M', 'PassCredentials=yes', 'Service=devmaster.service']));
    const control = readFileSync(join(SYSTEMD_DIR, 'devmaster-control.socket'), 'utf8');
    expect(keys(control)).toEqual(expect.arrayContaining(['ListenSequentialPacket=/run/udev/control', 'ListenStream=/run/udev/devmaster.control', 'SocketMode=0600', 'PassCredentials=yes', 'RemoveOnStop=yes']));
  });
});

describe('enabling devmaster on a system with udev', () => {
  let root: string;
  beforeAll(() => {
    root = installedTree(true);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** The start jobs systemd would queue for sysinit.target and sockets.target, from its own debug log. */
  const bootJobs = () => {
    const r = run('systemd-analyze', ['verify', `--root=${root}`, 'sysinit.target', 'sockets.target'], { SYSTEMD_LOG_LEVEL: 'debug' });
    const jobs = [...r.stderr.matchAll(/^(\S+): Installed new job \S+\/start/gm)].map((m) => m[1]!);
    const aliases = [...r.stderr.matchAll(/^Unit (\S+) has alias (\S+)\.$/gm)].map((m) => `${m[1]} ${m[2]}`);
    return { jobs, aliases, status: r.status };
  };

  it('takes over every udev unit name, so that the boot starts devmaster and nothing of udevd', () => {
    const before = bootJobs();
    expect(before.jobs).toEqual(expect.arrayContaining(['systemd-udevd.service', 'systemd-udevd-kernel.socket', 'systemd-udevd-control.socket', 'systemd-udev-trigger.service']));
    expect(before.jobs.filter((j) => j.startsWith('devmaster'))).toEqual([]);

    const en = run('systemctl', [`--root=${root}`, 'enable', 'devmaster.service']);
    expect(en.status, en.stderr).toBe(0);
    const etc = join(root, 'etc/systemd/system');
    const link = (name: string) => readlinkSync(join(etc, name));
    expect(link('systemd-udevd.service')).toBe('/usr/lib/systemd/system/devmaster.service');
    expect(link('udev.service')).toBe('/usr/lib/systemd/system/devmaster.service');
    expect(link('systemd-udevd-kernel.socket')).toBe('/usr/lib/systemd/system/devmaster-kernel.socket');
    expect(link('systemd-udevd-control.socket')).toBe('/usr/lib/systemd/system/devmaster-control.socket');
    expect(link('systemd-udev-trigger.service')).toBe('/usr/lib/systemd/system/devmaster-trigger.service');
    expect(link('systemd-udev-settle.service')).toBe('/usr/lib/systemd/system/devmaster-settle.service');
    for (const u of ['systemd-udevd.service', 'systemd-udevd-kernel.socket', 'systemd-udevd-control.socket', 'systemd-udev-trigger.service', 'systemd-udev-settle.service']) {
      expect(run('systemctl', [`--root=${root}`, 'is-enabled', u]).stdout.trim()).toBe('alias');
    }

    const after = bootJobs();
    expect(after.aliases).toEqual(expect.arrayContaining(['systemd-udevd.service devmaster.service', 'systemd-udevd-kernel.socket devmaster-kernel.socket', 'systemd-udevd-control.socket devmaster-control.socket', 'systemd-udev-trigger.service devmaster-trigger.service']));
    expect(after.jobs).toEqual(expect.arrayContaining(['devmaster.service', 'devmaster-kernel.socket', 'devmaster-control.socket', 'devmaster-trigger.service']));
    expect(after.jobs.filter((j) => /^systemd-udev/.test(j))).toEqual([]);
    expect(after.status).toBe(0);

    const dis = run('systemctl', [`--root=${root}`, 'disable', 'devmaster.service']);
    expect(dis.status, dis.stderr).toBe(0);
    expect(readdirSync(etc).filter((f) => f.includes('udev') || f.includes('devmaster'))).toEqual([]);
    expect(run('systemctl', [`--root=${root}`, 'is-enabled', 'systemd-udevd.service']).stdout.trim()).toBe('static');
    expect(bootJobs().jobs).toEqual(expect.arrayContaining(['systemd-udevd.service', 'systemd-udev-trigger.service']));
  });
});

describe('sysMaster units', () => {
  const files = readdirSync(SYSMASTER_DIR).sort();

  it('are the same five units', () => {
    expect(files).toEqual([...UNITS].sort());
  });

  it('parse with sysMaster’s grammar, sections, keys and value rules', () => {
    for (const f of files) expect(checkSysmasterUnit(f, readFileSync(join(SYSMASTER_DIR, f), 'utf8')), f).toEqual([]);
  });

  it('the checker catches what sysMaster would misread', () => {
    const bad = '[Unit]\nDescription=x\n\n[Service]\nType=notfy\nTimeoutSec=3min\nExecStart=devmaster\nHardening=yes\n\n[Install]\n# nothing\n';
    const msgs = checkSysmasterUnit('x.service', bad).map((p) => `${p.line}: ${p.message}`);
    expect(msgs).toEqual([
      "10: section [Install] has no entry (the grammar wants at least one)",
      "5: Type=: 'notfy' is not one of simple, forking, oneshot, notify",
      "6: TimeoutSec=: '3min' is not a plain unsigned number",
      "7: ExecStart=: 'devmaster' does not start with an absolute path",
      '8: Hardening= is not a key of [Service]',
    ]);
    expect(checkSysmasterUnit('x.socket', '[Socket]\nListenNetlink=kobject-uevent 1')).toEqual([{ line: 2, message: 'the last line must end with a newline' }]);
  });

  it('say what the systemd units say about sockets, commands and ordering', () => {
    const sm = (f: string, s: string, k: string) => values(readFileSync(join(SYSMASTER_DIR, f), 'utf8'), s, k);
    const sd = (f: string, k: string) =>
      readFileSync(join(SYSTEMD_DIR, f), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith(`${k}=`))
        .map((l) => l.slice(k.length + 1));
    for (const k of ['ListenSequentialPacket', 'ListenStream', 'SocketMode']) expect(sm('devmaster-control.socket', 'Socket', k)).toEqual(sd('devmaster-control.socket', k));
    expect(sm('devmaster-kernel.socket', 'Socket', 'ListenNetlink')).toEqual(sd('devmaster-kernel.socket', 'ListenNetlink'));
    expect(sm('devmaster-kernel.socket', 'Socket', 'ReceiveBuffer')).toEqual([String(128 << 20)]);
    expect(sm('devmaster.service', 'Service', 'Sockets')).toEqual(sd('devmaster.service', 'Sockets'));
    for (const f of ['devmaster-trigger.service', 'devmaster-settle.service']) expect(sm(f, 'Service', 'ExecStart')).toEqual(sd(f, 'ExecStart'));
    // the sysMaster service keeps devmaster's default unit backend: sysMaster's command socket
    expect(sm('devmaster.service', 'Service', 'ExecStart')).toEqual(['/usr/bin/devmaster --cache-dir /var/cache/devmaster']);
    expect(sd('devmaster.service', 'ExecStart')).toEqual(['/usr/bin/devmaster --unit-backend none --cache-dir /var/cache/devmaster']);
  });
});

describe('the hardening on the real executable', () => {
  // MemoryDenyWriteExecute=: no memory may become executable once written (systemd >= 254 and sysMaster use the
  // kernel's PR_SET_MDWE where it exists; older systemd a seccomp filter with the same effect).
  const MDWE = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])`;

  it('dist/cli/devmaster.js runs under MemoryDenyWriteExecute with the unit\'s NODE_OPTIONS=--jitless; node with its shebang flags alone does not', async () => {
    const loop = ['-e', 'for (let i = 0; i < 1e6; i++) JSON.stringify({ i })'];
    const plain = run('/usr/bin/python3', ['-c', MDWE, process.execPath, ...loop]);
    expect(plain.status).not.toBe(0); // V8's compilers need writable executable memory
    const shebang = readFileSync(join(REPO_ROOT, 'src', 'cli', 'devmaster.ts'), 'utf8').split('\n', 1)[0]!;
    const flags = shebang.replace(/^#!\/usr\/bin\/env -S node/, '').trim().split(/\s+/);
    expect(run('/usr/bin/python3', ['-c', MDWE, process.execPath, ...flags, ...loop]).status).not.toBe(0); // its baseline compiler
    const svc = readFileSync(join(SYSTEMD_DIR, 'devmaster.service'), 'utf8');
    expect(svc).toMatch(/^Environment=NODE_OPTIONS=--jitless$/m);
    expect(svc).toMatch(/^MemoryDenyWriteExecute=yes$/m);
    const r = tempRoots('dm-mdwe-');
    const exe = join(REPO_ROOT, 'dist', 'cli', 'devmaster.js');
    const cfg = join(r.base, 'config.toml');
    writeFileSync(cfg, '');
    // the unit's --cache-dir: the compiled rules kept for the next start (a second start below takes them)
    const kept = join(r.base, 'var-cache-devmaster');
    expect(svc).toMatch(/^ExecStart=.* --cache-dir \/var\/cache\/devmaster$/m);
    /** The executable under MDWE, as the unit runs it; Debian's whole rules set, so that matching, substitutions, PROGRAM and builtins all run under it. */
    const start = (run: string) => {
      const p = spawn('/usr/bin/python3', ['-c', MDWE, exe, '--sysfs', '/sys', '--dev', r.dev, '--run', run, '--rules-dir', referenceUdev().rulesDir, '--mknod', '--config', cfg, '--unit-backend', 'none', '--cache-dir', kept, '--log-level', 'info'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: '--jitless' },
      });
      const d = { p, log: '', exited: new Promise((res) => p.once('exit', res)) };
      p.stderr.on('data', (c: Buffer) => (d.log += c.toString()));
      return d;
    };
    /** The count of files the start's rules load took from a rules cache (its `rules loaded` line). */
    const fromCache = (log: string) => Number(/"fromCache":(\d+)[^\n]*"msg":"rules loaded"/.exec(log)?.[1]);
    const first = start(r.run);
    let second: ReturnType<typeof start> | undefined;
    let n: number | undefined;
    try {
      await until(() => first.log.includes('devmaster ready') || first.p.exitCode !== null, 30_000, 'devmaster ready under MDWE');
      expect(first.p.exitCode, first.log).toBeNull();
      expect(fromCache(first.log)).toBe(0);
      n = zramAdd();
      await until(() => existsSync(join(r.dev, `zram${n}`)) && existsSync(join(r.run, 'data', `b${readFileSync(`/sys/block/zram${n}/dev`, 'utf8').trim()}`)), 15_000, `zram${n} processed under MDWE`);
      expect(first.p.exitCode).toBeNull();
      // once idle, it keeps its compiled rules there; a start after a boot (a fresh run directory) takes every file
      await until(() => existsSync(join(kept, 'rules-cache.json')), 15_000, 'the rules kept under MDWE');
      first.p.kill('SIGTERM');
      await first.exited;
      second = start(join(r.base, 'run-after-a-boot'));
      await until(() => second!.log.includes('devmaster ready') || second!.p.exitCode !== null, 30_000, 'the second start under MDWE');
      expect(second.p.exitCode, second.log).toBeNull();
      expect(fromCache(second.log)).toBe(readdirSync(referenceUdev().rulesDir).filter((f) => f.endsWith('.rules')).length);
    } finally {
      if (n !== undefined) zramRemove(n);
      for (const d of [first, second]) {
        if (d === undefined) continue;
        d.p.kill('SIGTERM');
        await d.exited;
      }
      r.cleanup();
    }
    for (const log of [first.log, second?.log ?? '']) {
      expect(log).not.toMatch(/Fatal error|Check failed/);
      expect(log).not.toMatch(/Warning: disabling flag/); // V8's, at start, were WebAssembly not off already
    }
  });
});
