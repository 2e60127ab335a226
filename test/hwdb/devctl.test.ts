// devctl hwdb: --update / update, --test / query, --root, --usr, --strict, and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev, REPO } from '../helpers/reference.js';
import { run } from '../../src/devctl/hwdb.js';
import { openHwdb } from '../../src/hwdb/index.js';
import { UsageError } from '../../src/devctl/common.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'devmaster-hwdb-devctl-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs the verb in-process, capturing what it writes. */
async function devctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await run(argv);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

function rootWith(name: string, files: Record<string, string>): string {
  const root = join(tmp, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

describe('devctl hwdb', () => {
  it('--update --root writes <root>/etc/udev/hwdb.bin; --test prints what systemd-hwdb query prints', async () => {
    const ref = referenceUdev();
    const root = join(tmp, 'debian');
    mkdirSync(join(root, 'lib', 'udev'), { recursive: true });
    cpSync(ref.hwdbDir, join(root, 'lib', 'udev', 'hwdb.d'), { recursive: true });
    const r = await devctl('--update', '--root', root);
    expect(r).toMatchObject({ code: 0, err: '' });
    const bin = join(root, 'etc', 'udev', 'hwdb.bin');
    expect(statSync(bin).mode & 0o777).toBe(0o444);
    for (const m of ['usb:v1D6Bp0002', 'pci:v00008086d00001237sv00001AF4sd00001100bc06sc00i00', 'nothing:here']) {
      const want = execFileSync(ref.systemdHwdb, [`--root=${root}`, 'query', m], { encoding: 'utf8' });
      expect((await devctl('--root', root, '--test', m)).out, m).toBe(want);
      expect((await devctl('-r', root, 'query', m)).out, m).toBe(want);
    }
    expect((await devctl('-r', root, '-t', 'usb:v1D6Bp0002')).out).toContain('ID_VENDOR_FROM_DATABASE=');
  }, 120_000);

  it('--usr writes <root>/usr/lib/udev/hwdb.bin; the "update" verb form works too', async () => {
    const root = rootWith('usr', { 'usr/lib/udev/hwdb.d/10-a.hwdb': 'a:*\n K=1\n' });
    expect((await devctl('update', '--usr', '--root', root)).code).toBe(0);
    expect(existsSync(join(root, 'usr', 'lib', 'udev', 'hwdb.bin'))).toBe(true);
    expect(existsSync(join(root, 'etc', 'udev', 'hwdb.bin'))).toBe(false);
    expect((await devctl('--root', root, '--test', 'a:x')).out).toBe('K=1\n');
  });

  it('--show-source names the file and line', async () => {
    const root = rootWith('src', { 'etc/udev/hwdb.d/10-a.hwdb': '# c\na:*\n K=1\n' });
    await devctl('-u', '-r', root);
    const r = await devctl('-r', root, '--test', 'a:x', '--show-source');
    expect(r.out).toBe(`K=1\t# ${join(root, 'etc/udev/hwdb.d/10-a.hwdb')}:3\n`);
  });

  it('reports malformed lines; --strict makes them fatal (the file is still written)', async () => {
    const root = rootWith('strict', { 'etc/udev/hwdb.d/10-bad.hwdb': 'a:*\n K=1\n noequals\n' });
    const lax = await devctl('--update', '--root', root);
    expect(lax.code).toBe(0);
    expect(lax.err).toBe(`${join(root, 'etc/udev/hwdb.d/10-bad.hwdb')}:3: Key-value pair expected but got " noequals", ignoring.\n`);
    rmSync(join(root, 'etc', 'udev', 'hwdb.bin'));
    const strict = await devctl('--update', '--strict', '--root', root);
    expect(strict.code).toBe(1);
    expect(strict.err).toContain('10-bad.hwdb:3: Key-value pair expected');
    expect(existsSync(join(root, 'etc', 'udev', 'hwdb.bin'))).toBe(true);
    const ok = rootWith('strict-ok', { 'etc/udev/hwdb.d/10-good.hwdb': 'a:*\n K=1\n' });
    expect((await devctl('-u', '-s', '-r', ok)).code).toBe(0);
  });

  it('without sources removes an old hwdb.bin, like systemd-hwdb', async () => {
    const root = rootWith('empty', { 'etc/udev/hwdb.bin': 'old' });
    const r = await devctl('--update', '--root', root);
    expect(r.code).toBe(0);
    expect(r.err).toContain('removed');
    expect(existsSync(join(root, 'etc', 'udev', 'hwdb.bin'))).toBe(false);
  });

  it('clear errors for bad use and bad files', async () => {
    await expect(devctl()).rejects.toThrow(UsageError);
    await expect(devctl('query')).rejects.toThrow(/MODALIAS/);
    await expect(devctl('--update', '--root', join(tmp, 'nope'))).rejects.toThrow(/no such directory/);
    await expect(devctl('--bogus')).rejects.toThrow(UsageError);
    const root = rootWith('nobin', { 'etc/udev/hwdb.d/.keep': '' });
    const r = await devctl('--root', root, '--test', 'x');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/hwdb\.bin does not exist/);
    const bad = rootWith('badbin', { 'etc/udev/hwdb.bin': 'KSLPHHRH but not really a database' });
    await expect(devctl('--root', bad, '--test', 'x')).rejects.toThrow(/hwdb\.bin: /);
  });

  it('runs through the devctl dispatcher', () => {
    const root = rootWith('cli', { 'lib/udev/hwdb.d/10-a.hwdb': 'cli:*\n HELLO=world\n' });
    const cli = join(REPO, 'src', 'cli', 'devctl.ts');
    const tsx = join(REPO, 'node_modules', '.bin', 'tsx');
    const up = spawnSync(tsx, [cli, 'hwdb', '--update', '--root', root], { encoding: 'utf8' });
    expect(up.status).toBe(0);
    const q = spawnSync(tsx, [cli, 'hwdb', '--root', root, '--test', 'cli:1'], { encoding: 'utf8' });
    expect(q.stdout).toBe('HELLO=world\n');
    expect(readFileSync(join(root, 'etc', 'udev', 'hwdb.bin')).subarray(0, 8).toString()).toBe('KSLPHHRH');
    const db = openHwdb(join(root, 'etc', 'udev', 'hwdb.bin'));
    expect(db.valueSize).toBe(32);
    db.close();
  }, 60_000);
});
