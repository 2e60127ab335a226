// devctl verify against Debian 13's `udevadm verify` (systemd 257): the same inputs give the same stdout, stderr
// (byte for byte) and exit status. Inputs: a generated corpus (./corpus.ts) checked as a directory with each option
// set and file by file, Debian's and this machine's rules, the repository's fixtures, --root trees with overrides,
// masks and odd entries, and bad arguments.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devctlBytes } from '../helpers/cli.js';
import { REPO, referenceUdev, referenceUdev257 } from '../helpers/reference.js';
import { corpus } from './corpus.js';

let tmp: string;
let corpusDir: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dm-verify-'));
  corpusDir = join(tmp, 'corpus');
  mkdirSync(corpusDir);
  for (const f of corpus()) writeFileSync(join(corpusDir, f.name), f.bytes);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function udevadm(args: string[], cwd = tmp): SpawnSyncReturns<Buffer> {
  return spawnSync(referenceUdev257().udevadm, ['verify', ...args], { cwd, maxBuffer: 64 << 20, timeout: 60_000 });
}

/** Runs both on the same arguments; returns udevadm's result after checking devctl's equals it. */
function same(args: string[], cwd = tmp): SpawnSyncReturns<Buffer> {
  const u = udevadm(args, cwd);
  const d = devctlBytes(['verify', ...args], { cwd });
  const what = `verify ${args.join(' ')}`;
  expect(d.stderr.toString('latin1'), what).toBe(u.stderr.toString('latin1'));
  expect(d.stdout.toString('latin1'), what).toBe(u.stdout.toString('latin1'));
  expect(d.status, what).toBe(u.status);
  return u;
}

const count = (r: SpawnSyncReturns<Buffer>) => Number(/^(\d+) udev rules files have been checked\.$/m.exec(r.stdout.toString())?.[1]);

describe('devctl verify = udevadm verify 257 on a generated corpus', () => {
  it('is udevadm 257', () => {
    expect(referenceUdev257().version).toBe(257);
  });

  for (const opts of [[], ['--no-style'], ['-N', 'never'], ['--resolve-names=late', '--no-summary']]) {
    it(`checks the corpus directory the same way${opts.length ? ` with ${opts.join(' ')}` : ''}`, () => {
      const u = same([...opts, 'corpus']);
      if (!opts.includes('--no-summary')) expect(count(u)).toBe(readdirSync(corpusDir).length);
      expect(u.stderr.toString().split('\n').length).toBeGreaterThan(10_000); // the corpus finds plenty to say
    });
  }

  it('gives each corpus file the same messages and exit status', async () => {
    let failing = 0;
    for (const name of readdirSync(corpusDir).sort()) {
      const file = join(corpusDir, name);
      const u = udevadm([file]);
      const d = await devctlInProcess([file]);
      expect(d.err, name).toBe(u.stderr.toString('latin1'));
      expect(d.out, name).toBe(u.stdout.toString('latin1'));
      expect(d.code, name).toBe(u.status);
      if (u.status !== 0) failing++;
    }
    expect(failing).toBeGreaterThan(40);
  });
});

describe('devctl verify = udevadm verify 257 on real rules', () => {
  it("checks Debian 13's, Debian 12's, this machine's and devMaster's rules the same way", () => {
    const dirs = [referenceUdev257().rulesDir, referenceUdev().rulesDir, '/usr/lib/udev/rules.d', join(REPO, 'rules.d')];
    const files = dirs.reduce((n, d) => n + readdirSync(d).filter((f) => f.endsWith('.rules') && !f.startsWith('.')).length, 0);
    const u = same(dirs);
    expect(count(u)).toBe(files);
  });

  it("checks the repository's broken and invalid fixtures the same way", () => {
    same([join(REPO, 'fixtures', 'rules-invalid'), join(REPO, 'fixtures', 'rules-broken')]);
  });
});

describe('devctl verify --root, file lists and arguments', () => {
  let root: string;
  beforeAll(() => {
    root = join(tmp, 'root');
    const dir = (d: string) => {
      mkdirSync(join(root, d), { recursive: true });
      return join(root, d);
    };
    const etc = dir('etc/udev/rules.d');
    const run = dir('run/udev/rules.d');
    const local = dir('usr/local/lib/udev/rules.d');
    const lib = dir('usr/lib/udev/rules.d');
    writeFileSync(join(lib, '10-a.rules'), 'LABEL="x"\n');
    writeFileSync(join(etc, '10-a.rules'), 'KERNEL=="x", GOTO="y"\n'); // overrides lib's
    writeFileSync(join(run, '20-b.rules'), 'KERNEL=="b", NAME="x"\n');
    writeFileSync(join(local, '30-c.rules'), 'KERNEL=="c" NAME="x"\n');
    symlinkSync('/dev/null', join(lib, '50-masked.rules'));
    writeFileSync(join(etc, '.hidden.rules'), 'FOO="x"\n');
    symlinkSync('/nonexistent', join(run, '60-dangling.rules'));
    mkdirSync(join(local, '70-dir.rules'));
    symlinkSync('70-dir.rules', join(local, '71-dirlink.rules'));
    symlinkSync('/usr/lib/udev/rules.d/20-b.rules', join(lib, '72-rootlink.rules')); // resolved outside the root
    writeFileSync(join(lib, '80-exec.rules'), 'KERNEL=="e", NAME="x"\n');
    chmodSync(join(lib, '80-exec.rules'), 0o777);
    writeFileSync(join(lib, 'README'), 'not rules\n');
    mkdirSync(join(tmp, 'emptyroot/etc/udev/rules.d'), { recursive: true });
  });

  it('checks the search path under --root (overrides, masks, hidden files, odd entries) the same way', () => {
    const u = same([`--root=${root}`]);
    expect(count(u)).toBe(7);
    same(['--root=root', '--no-style']); // relative
    same([`--root=${root}`, '--no-summary']);
  });

  it('refuses an empty root, a root with FILEs, and fails the same way on odd file lists', () => {
    same([`--root=${join(tmp, 'emptyroot')}`]);
    same(['--root=nosuchdir']);
    same([`--root=${root}`, 'corpus/99-empty.rules']);
    same(['corpus/42-label-only.rules', './corpus/42-label-only.rules', 'corpus/../corpus/42-label-only.rules']); // read twice: EEXIST
    same(['nosuchfile', '/dev/null', 'corpus/99-empty.rules', join(root, 'usr/local/lib/udev/rules.d')]);
    same(['--', '-x']);
  });

  it('answers bad options and --help/--version as udevadm does (same status, same getopt messages)', () => {
    for (const args of [['--bogus'], ['-x'], ['-N'], ['--resolve-names'], ['-N', 'now'], ['--no'], ['--no-style=1'], ['--root']]) same(args);
    for (const args of [['--no-sum', 'corpus/41-goto-only.rules'], ['-Nnever', 'corpus/30-owner-group.rules'], ['--res=late', 'corpus/30-owner-group.rules']]) same(args);
    for (const args of [['-V'], ['--version'], ['-h'], ['--help', '--bogus']]) {
      const u = udevadm(args);
      const d = devctlBytes(['verify', ...args], { cwd: tmp });
      expect(d.status, args.join(' ')).toBe(u.status);
      expect(d.stdout.length, args.join(' ')).toBeGreaterThan(0);
    }
  });
});

describe('devctl verify --format=long and --json', () => {
  it('names the line and column of each problem', () => {
    const f = join(tmp, 'cols.rules');
    writeFileSync(f, 'KERNEL=="a",  FOO="b"\nKERNEL=="c", \\\n  SYMLINK+="x$kernal"\nKERNEL=="é", OWNER="nosuchuser"\n');
    const d = devctlBytes(['verify', '--format=long', f]);
    expect(d.stderr.toString()).toBe(
      [
        `${f}:1:15: error: Invalid key 'FOO'.`,
        `${f}:3:3: error: Invalid value "x$kernal" for SYMLINK (char 2: invalid substitution type), ignoring.`,
        `${f}:4:14: error: Unknown user 'nosuchuser', ignoring.`,
        '',
      ].join('\n'),
    );
    expect(d.status).toBe(1);
    const j = devctlBytes(['verify', '--json=short', f]);
    expect(j.stderr.toString()).toBe('');
    const doc = JSON.parse(j.stdout.toString()) as { checked: number; fail: number; files: { result: string; messages: { line: number; column: number; udevLine: number; level: string; message: string }[] }[] };
    expect(doc.checked).toBe(1);
    expect(doc.fail).toBe(1);
    expect(doc.files[0]!.messages[1]).toEqual({ line: 3, column: 3, udevLine: 3, level: 'error', message: 'Invalid value "x$kernal" for SYMLINK (char 2: invalid substitution type), ignoring.' });
  });
});

/** Runs the verb in this process (fast for many small files), capturing what it writes as bytes (latin1). */
async function devctlInProcess(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { run } = await import('../../src/devctl/verify.js');
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  const bytes = (s: string | Uint8Array) => Buffer.from(s).toString('latin1');
  process.stdout.write = ((s: string | Uint8Array) => ((out += bytes(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += bytes(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await run(argv), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}
