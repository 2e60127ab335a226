// devctl's command line as udevadm 257's: options read by getopt_long rules (abbreviations, optional arguments,
// clusters, "--", glibc's messages), global options before or after the verb, --version on every verb, unknown verbs,
// a missing dependency reported as such; and control's 257 options (--property, --load-credentials, aliases, the
// fixed order of requests) against a devMaster on temp roots.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEVCTL_COMMAND, devctl } from '../helpers/cli.js';
import { REPO, referenceUdev257 } from '../helpers/reference.js';
import { controlRequest } from '../../src/daemon/control.js';
import { getopt } from '../../src/util/getopt.js';
import { getoptSpec } from '../../src/devctl/common.js';
import { controlPlan } from '../../src/devctl/control.js';
import { startDevmaster, tempRoots, type RunningDevmaster, type TempRoots } from '../daemon/helpers.js';
import { version } from '../../src/version.js';

const VERBS = ['info', 'trigger', 'settle', 'control', 'monitor', 'test', 'test-builtin', 'verify', 'wait', 'lock', 'hwdb'];

describe('getopt_long rules', () => {
  const spec = getoptSpec({
    help: { type: 'boolean', short: 'h' },
    'no-summary': { type: 'boolean' },
    'no-style': { type: 'boolean' },
    'resolve-names': { type: 'string', short: 'N' },
    wait: { type: 'string', short: 'w', optional: true },
    'log-level': { type: 'string', short: 'l', aliases: ['log-priority'] },
    x: { type: 'boolean', short: 'x' },
  });
  const run = (...argv: string[]) => getopt(argv, spec, 'verb');

  it('reads clusters, attached and separate arguments, optional ones only attached, operands anywhere, "--"', () => {
    const r = run('a', '-xNearly', 'b', '-w', 'c', '-w5', '--wait=7', '--wait', '-N', 'late', '--', '-x');
    expect(r.options.map((o) => [o.key, o.value])).toEqual([['x', undefined], ['resolve-names', 'early'], ['wait', undefined], ['wait', '5'], ['wait', '7'], ['wait', undefined], ['resolve-names', 'late']]);
    expect(r.operands).toEqual(['a', 'b', 'c', '-x']);
    expect(r.error).toBeUndefined();
  });

  it('takes unambiguous abbreviations; aliases of one option are not ambiguous', () => {
    expect(run('--no-su', '--res=never', '--log-p', 'x').options.map((o) => [o.key, o.flag, o.value])).toEqual([
      ['no-summary', '--no-summary', undefined],
      ['resolve-names', '--resolve-names', 'never'],
      ['log-level', '--log-priority', 'x'],
    ]);
    expect(run('--log', 'x').options[0]!.key).toBe('log-level');
  });

  it("words its errors as glibc does, after the options before the bad one", () => {
    expect(run('--no').error).toBe("verb: option '--no' is ambiguous; possibilities: '--no-summary' '--no-style'");
    expect(run('--bogus=1').error).toBe("verb: unrecognized option '--bogus=1'");
    expect(run('-q').error).toBe("verb: invalid option -- 'q'");
    expect(run('-N').error).toBe("verb: option requires an argument -- 'N'");
    expect(run('--resolve-names').error).toBe("verb: option '--resolve-names' requires an argument");
    expect(run('--no-style=yes').error).toBe("verb: option '--no-style' doesn't allow an argument");
    const r = run('-h', '--bogus');
    expect(r.options.map((o) => o.key)).toEqual(['help']);
    expect(r.error).toBeDefined();
  });

  it('stops at the first operand for a command line (lock), or when POSIXLY_CORRECT is set', () => {
    const lock = getopt(['-x', 'sh', '-x'], { ...spec, stopAtOperand: true }, 'lock');
    expect(lock.operands).toEqual(['sh', '-x']);
    process.env.POSIXLY_CORRECT = '1';
    try {
      expect(run('a', '-x').operands).toEqual(['a', '-x']);
    } finally {
      delete process.env.POSIXLY_CORRECT;
    }
  });
});

describe('devctl as udevadm 257 at the top level', () => {
  it('prints its version for --version, -V, the version verb, and -V/--version of every verb', () => {
    for (const args of [['--version'], ['-V'], ['version'], ...VERBS.map((v) => [v, '--version']), ...VERBS.map((v) => [v, '-V'])]) {
      const r = devctl(args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toBe(`${version}\n`);
    }
  });

  it('fails (status 1, EPIPE named on stderr) when its output is a pipe nobody reads: --version, --help, a verb', () => {
    // python opens the pipe and closes its read end before devctl starts: the first write fails, whatever the timing
    const broken = 'import os, subprocess, sys\nr, w = os.pipe()\nos.close(r)\np = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)\nprint(p.returncode)\nsys.stdout.write(p.stderr.decode())';
    for (const args of [['--version'], ['--help'], ['info', '--version'], ['info', '/dev/null']]) {
      const r = spawnSync('/usr/bin/python3', ['-c', broken, ...DEVCTL_COMMAND, ...args], { encoding: 'utf8' });
      const [status, ...stderr] = r.stdout.split('\n');
      expect(status, args.join(' ')).toBe('1');
      expect(stderr.join('\n'), args.join(' ')).toMatch(/^devctl[^\n]*: [^\n]*EPIPE/);
    }
  });

  it('writes all of its output through a pipe read slowly before it exits (hwdb --test of a match with 4000 properties, as systemd-hwdb 257 prints it)', () => {
    // devctl ends with process.exit() only where nothing is left to write: more than a pipe holds (64 KiB) waits
    const root = mkdtempSync(join(tmpdir(), 'devmaster-cli-pipe-'));
    try {
      mkdirSync(join(root, 'etc', 'udev', 'hwdb.d'), { recursive: true });
      const props = Array.from({ length: 4000 }, (_, i) => ` ID_PIPE_TEST_${i}=${'v'.repeat(40)}\n`).join('');
      writeFileSync(join(root, 'etc', 'udev', 'hwdb.d', '50-pipe.hwdb'), `pipe:test*\n${props}`);
      expect(devctl(['hwdb', '--update', '--root', root]).status).toBe(0);
      const want = execFileSync(referenceUdev257().systemdHwdb, [`--root=${root}`, 'query', 'pipe:test'], { encoding: 'utf8' });
      expect(want.length).toBeGreaterThan(200_000);
      const slow = spawnSync('sh', ['-c', '"$@" | (sleep 1; cat)', 'sh', ...DEVCTL_COMMAND, 'hwdb', '--root', root, '--test', 'pipe:test'], { encoding: 'utf8', maxBuffer: 16 << 20 });
      expect(slow.status).toBe(0);
      expect(slow.stdout).toBe(want);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('has every verb of udevadm 257, each with --help', () => {
    const ours = devctl(['--help']);
    expect(ours.status).toBe(0);
    const theirs = spawnSync(referenceUdev257().udevadm, ['--help'], { encoding: 'utf8' }).stdout;
    const udevVerbs = [...theirs.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]!);
    expect(udevVerbs.length).toBeGreaterThanOrEqual(10);
    for (const v of udevVerbs) {
      expect(ours.stdout, v).toMatch(new RegExp(`^  ${v} `, 'm'));
      const h = devctl([v, '--help']);
      expect(h.status, v).toBe(0);
      expect(h.stdout, v).toMatch(new RegExp(`^devctl ${v}`));
    }
  });

  it("takes every option udevadm 257's help lists for a verb, in its long and short forms", () => {
    for (const v of ['info', 'trigger', 'settle', 'control', 'monitor', 'test', 'test-builtin', 'verify', 'wait', 'lock']) {
      const theirs = spawnSync(referenceUdev257().udevadm, [v, '--help'], { encoding: 'utf8' }).stdout;
      const mine = devctl([v, '--help']).stdout;
      for (const m of theirs.matchAll(/^ +(?:-([a-zA-Z]),? )?--([a-z-]+)/gm)) {
        const [, short, long] = m;
        expect(mine, `${v} --${long}`).toContain(`--${long}`);
        if (short) expect(mine, `${v} -${short}`).toMatch(new RegExp(`-${short}[ ,]+--${long}`));
      }
    }
  });

  it('names an unknown verb, and a missing verb, as udevadm does', () => {
    const unknown = devctl(['bogus']);
    expect(unknown).toMatchObject({ status: 1, stderr: "Unknown command verb 'bogus'.\n" });
    const none = devctl([]);
    expect(none.status).toBe(1);
    // udevadm's verbs in its order, then devMaster's own (migrate, stats, reload), then version and help
    expect(none.stderr).toBe('Command verb required (one of info, trigger, settle, control, monitor, test, test-builtin, verify, wait, lock, hwdb, migrate, stats, reload, version, help).\n');
    expect(devctl(['--bogus'])).toMatchObject({ status: 1, stderr: "devctl: unrecognized option '--bogus'\n" });
  });

  it('takes the global options before the verb as after it (devctl --run DIR control --ping)', async () => {
    const r = tempRoots('dm-cli-pre-');
    const dm = await startDevmaster(r);
    try {
      expect(devctl(['--run', r.run, 'control', '--ping'])).toMatchObject({ status: 0, stderr: '' });
      expect(devctl(['--run=' + r.run, '--debug', 'settle', '-t', '5'])).toMatchObject({ status: 0 });
      expect(devctl(['control', '--ping', '--run', r.run])).toMatchObject({ status: 0, stderr: '' });
      // a global option after the verb wins over the same one before it
      expect(devctl(['--run', '/nonexistent', 'control', '--run', r.run, '--ping']).status).toBe(0);
    } finally {
      await dm.stop();
      r.cleanup();
    }
  });

  it('reports a module a verb needs that is missing as an error, not as an unknown verb', () => {
    // a copy of the sources where the lint module verify imports is gone
    const copy = mkdtempSync(join(tmpdir(), 'dm-cli-copy-'));
    try {
      cpSync(join(REPO, 'src'), join(copy, 'src'), { recursive: true });
      cpSync(join(REPO, 'package.json'), join(copy, 'package.json'));
      symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
      rmSync(join(copy, 'src', 'rules', 'lint.ts'));
      const tsx = join(REPO, 'node_modules', '.bin', 'tsx');
      const broken = spawnSync(tsx, [join(copy, 'src', 'cli', 'devctl.ts'), 'verify', '/dev/null'], { encoding: 'utf8' });
      expect(broken.status).toBe(1);
      expect(broken.stderr).not.toMatch(/Unknown command verb/);
      expect(broken.stderr).toMatch(/lint/);
      rmSync(join(copy, 'src', 'devctl', 'wait.ts'));
      const gone = spawnSync(tsx, [join(copy, 'src', 'cli', 'devctl.ts'), 'wait', '/dev/null'], { encoding: 'utf8' });
      expect(gone).toMatchObject({ status: 1, stderr: "Unknown command verb 'wait'.\n" });
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});

describe('devctl control = udevadm control 257', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  beforeAll(async () => {
    r = tempRoots('dm-cli-control-');
    dm = await startDevmaster(r);
  });
  afterAll(async () => {
    await dm?.stop();
    r?.cleanup();
  });
  const status = async () => (await controlRequest(r.run, { command: 'status' }, 5000)) as { globalProperties: Record<string, string>; childrenMax: number; logLevel: string; execQueue: string };

  it('-p/--property/--env set and unset global properties', async () => {
    expect(devctl(['--run', r.run, 'control', '-p', 'DM_A=1', '--property=DM_B=two words', '--env', 'DM_C=3'])).toMatchObject({ status: 0, stderr: '' });
    expect((await status()).globalProperties).toEqual({ DM_A: '1', DM_B: 'two words', DM_C: '3' });
    expect(devctl(['--run', r.run, 'control', '--property=DM_B='])).toMatchObject({ status: 0 });
    expect((await status()).globalProperties).toEqual({ DM_A: '1', DM_C: '3' });
    expect(devctl(['--run', r.run, 'control', '-p', 'NOEQUALS'])).toMatchObject({ status: 1, stderr: "expect <KEY>=<value> instead of 'NOEQUALS'\n" });
  });

  it('reads every option first and sends the requests in udevadm 257 order (exit alone and first)', async () => {
    // -S after -s: the queue is started (the last of them wins), whatever the order given
    expect(devctl(['--run', r.run, 'control', '-S', '-m', '2', '-s', '--log-priority=debug'])).toMatchObject({ status: 0 });
    let st = await status();
    expect(st).toMatchObject({ execQueue: 'stopped', childrenMax: 2, logLevel: 'debug' });
    expect(devctl(['--run', r.run, 'control', '-s', '--reload-rules', '-S', '-l', 'info', '-m', '5'])).toMatchObject({ status: 0 });
    st = await status();
    expect(st).toMatchObject({ execQueue: 'running', childrenMax: 5, logLevel: 'info' });
    for (const [args, msg] of [
      [[], 'No control command option is specified.'],
      [['--ping', 'extra'], 'Extraneous argument: extra'],
      [['-m', 'x'], "Failed to parse maximum number of children 'x': Invalid argument"],
      [['-t', 'x', '--ping'], "Failed to parse timeout value 'x': Invalid argument"],
      [['-l', 'loud'], "Failed to parse log level 'loud': Invalid argument"],
    ] as const) {
      const u = spawnSync(referenceUdev257().udevadm, ['control', ...args], { encoding: 'utf8' });
      const d = devctl(['--run', r.run, 'control', ...args]);
      expect(u.stderr, args.join(' ')).toBe(`${msg}\n`);
      expect(d, args.join(' ')).toMatchObject({ status: u.status, stderr: u.stderr });
    }
  });

  it('--exit goes alone: the other requests are not sent, and the daemon exits 0', async () => {
    const plan = controlPlan([{ key: 'children-max', value: '7' }, { key: 'exit', value: undefined }, { key: 'log-level', value: 'debug' }], []);
    expect(plan).toEqual({ requests: [{ command: 'exit' }], loadCredentials: false, timeoutS: 60 });
    expect(devctl(['--run', r.run, 'control', '-m', '7', '--exit', '-l', 'debug'])).toMatchObject({ status: 0, stderr: '' });
    const exited = dm.proc.exitCode !== null ? dm.proc.exitCode : await new Promise<number | null>((res) => dm.proc.once('exit', (c) => res(c)));
    expect(exited).toBe(0);
    dm = await startDevmaster(r);
  });

  it('plans the requests in udevadm 257 order whatever the order of the options', () => {
    const opt = (key: string, value?: string) => ({ key, value });
    expect(controlPlan([opt('ping'), opt('property', 'A=1'), opt('children-max', '3'), opt('reload'), opt('start-exec-queue'), opt('log-level', 'info'), opt('property', 'B='), opt('timeout', '1min')], [])).toEqual({
      requests: [
        { command: 'log-level', value: 'info' },
        { command: 'start-exec-queue' },
        { command: 'reload' },
        { command: 'set-env', value: 'A=1' },
        { command: 'set-env', value: 'B=' },
        { command: 'children-max', value: 3 },
        { command: 'ping' },
      ],
      loadCredentials: false,
      timeoutS: 60,
    });
  });

  it('--load-credentials installs udev.rules.* and udev.conf.* credentials under the run root', () => {
    const creds = mkdtempSync(join(tmpdir(), 'dm-creds-'));
    try {
      writeFileSync(join(creds, 'udev.rules.50-test'), 'KERNEL=="dm-cred", NAME="x"\n');
      writeFileSync(join(creds, 'udev.conf.10-log'), 'udev_log=debug\n');
      writeFileSync(join(creds, 'other.cred'), 'ignored\n');
      mkdirSync(join(creds, 'udev.rules.dir'));
      const ok = devctl(['--run', r.run, 'control', '--load-credentials'], { env: { CREDENTIALS_DIRECTORY: creds } });
      expect(ok.status).toBe(0);
      expect(ok.stderr).toBe(`Installed ${join(r.run, 'udev.conf.d', '10-log.conf')} from credential.\nInstalled ${join(r.run, 'rules.d', '50-test.rules')} from credential.\n`);
      expect(readFileSync(join(r.run, 'rules.d', '50-test.rules'), 'utf8')).toBe('KERNEL=="dm-cred", NAME="x"\n');
      expect(statSync(join(r.run, 'rules.d', '50-test.rules')).mode & 0o777).toBe(0o644);
      // without credentials nothing happens, and it is still a valid request
      expect(devctl(['--run', r.run, 'control', '--load-credentials'], { env: { CREDENTIALS_DIRECTORY: '' } })).toMatchObject({ status: 0, stderr: '' });
    } finally {
      rmSync(creds, { recursive: true, force: true });
    }
  });
});
