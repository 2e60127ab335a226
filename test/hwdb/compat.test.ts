// devMaster's hwdb.bin against systemd's: the same sources compiled by both, queried by both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev } from '../helpers/reference.js';
import { PACKAGE_HWDB_DIR } from '../../src/config/rules-path.js';
import { hwdbSourceDirs, hwdbSourceFiles, openHwdb, updateHwdb, type Hwdb } from '../../src/hwdb/index.js';
import { formatProps, generateModaliases, machineModaliases, matchLinesOf, systemdQueryAll } from './helpers.js';

const GENERATED = 10_000;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'devmaster-hwdb-compat-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A root with Debian's hwdb.d plus devMaster's hwdb/ in lib/udev/hwdb.d, compiled by systemd-hwdb. */
function debianRoot(name: string): string {
  const ref = referenceUdev();
  const root = join(tmp, name);
  const dir = join(root, 'lib', 'udev', 'hwdb.d');
  mkdirSync(dir, { recursive: true });
  cpSync(ref.hwdbDir, dir, { recursive: true });
  for (const f of readdirSync(PACKAGE_HWDB_DIR)) cpSync(join(PACKAGE_HWDB_DIR, f), join(dir, f));
  return root;
}

describe('hwdb.bin compatibility with systemd-hwdb (Debian sources + devMaster sources)', () => {
  let sdRoot: string;
  let dmRoot: string;
  let queries: string[];
  let ours: Hwdb;
  let theirs: Hwdb;

  beforeAll(() => {
    const ref = referenceUdev();
    sdRoot = debianRoot('sd');
    execFileSync(ref.systemdHwdb, [`--root=${sdRoot}`, 'update'], { stdio: 'pipe' });
    dmRoot = join(tmp, 'dm');
    const res = updateHwdb({ dirs: hwdbSourceDirs(sdRoot), output: join(dmRoot, 'etc', 'udev', 'hwdb.bin') });
    expect(res.written).toBe(true);
    expect(res.diagnostics).toEqual([]);
    const files = hwdbSourceFiles(hwdbSourceDirs(sdRoot));
    const machine = machineModaliases();
    const generated = generateModaliases(matchLinesOf(files), GENERATED, 20240601);
    // Lookup strings the builtin builds (prefix + modalias) and our own keys.
    const extra = [
      ...machine.map((m) => `usb:${m}`),
      'devmaster:test:exact', 'devmaster:test:digit7', 'devmaster:test:notx', 'devmaster:test:one1', 'devmaster:test:value',
      'devmaster:block:zram0', 'devmaster:net:ifb3', '', 'x', '*', '-U', '--help',
    ];
    queries = [...new Set([...machine, ...generated, ...extra])];
    expect(generated.length).toBe(GENERATED);
    expect(machine.length).toBeGreaterThan(0);
    ours = openHwdb(join(dmRoot, 'etc', 'udev', 'hwdb.bin'));
    theirs = openHwdb(join(sdRoot, 'etc', 'udev', 'hwdb.bin'));
  }, 300_000);

  afterAll(() => {
    ours?.close();
    theirs?.close();
  });

  it('systemd-hwdb query answers the same on both files, and so does devMaster lookup', () => {
    const ref = referenceUdev();
    const sdOnSd = systemdQueryAll(ref.systemdHwdb, sdRoot, queries, tmp);
    const sdOnDm = systemdQueryAll(ref.systemdHwdb, dmRoot, queries, tmp);
    const diffs: string[] = [];
    let nonEmpty = 0;
    for (let i = 0; i < queries.length; i++) {
      const q = queries[i]!;
      const want = sdOnSd[i]!;
      if (want !== '') nonEmpty++;
      const got = [sdOnDm[i]!, formatProps(ours.lookup(q)), formatProps(theirs.lookup(q))];
      if (got.some((g) => g !== want) && diffs.length < 5) diffs.push(JSON.stringify({ q, want, got }));
    }
    expect(diffs).toEqual([]);
    // The generated strings are mostly hits: a comparison of empty answers would prove little.
    expect(nonEmpty).toBeGreaterThan(queries.length / 2);
  }, 600_000);

  it('every modalias of this machine gets the same properties from both files', () => {
    for (const m of machineModaliases()) expect(formatProps(ours.lookup(m))).toBe(formatProps(theirs.lookup(m)));
  });

  it("udevadm's v1 layout (--compat) answers like udevadm hwdb --update's file", () => {
    const ref = referenceUdev();
    const v1Root = debianRoot('v1');
    execFileSync(ref.udevadm, ['hwdb', '--update', `--root=${v1Root}`], { stdio: 'pipe' });
    const dmV1 = join(tmp, 'dm-v1', 'etc', 'udev', 'hwdb.bin');
    updateHwdb({ dirs: hwdbSourceDirs(v1Root), output: dmV1, compat: true });
    const a = openHwdb(join(v1Root, 'etc', 'udev', 'hwdb.bin'));
    const b = openHwdb(dmV1);
    expect(a.valueSize).toBe(16);
    expect(b.valueSize).toBe(16);
    const sample = queries.filter((_, i) => i % 10 === 0);
    const sdOnDm = systemdQueryAll(ref.systemdHwdb, join(tmp, 'dm-v1'), sample, tmp);
    for (let i = 0; i < sample.length; i++) {
      const want = formatProps(a.lookup(sample[i]!));
      expect(formatProps(b.lookup(sample[i]!))).toBe(want);
      expect(sdOnDm[i]).toBe(want);
    }
    a.close();
    b.close();
  }, 300_000);
});

describe('precedence: directories, file names and lines (fixture)', () => {
  const fixture = join(__dirname, '..', '..', 'fixtures', 'hwdb', 'precedence');
  const probes = ['prec:dev:exact', 'prec:dev:exbct', 'prec:dev:exa', 'prec:dev:other', 'prec:dev:', 'prec:dev:exactly', 'prec:dev:exact:'];

  it('merges like systemd-hwdb and masks same-named files of later directories', () => {
    const ref = referenceUdev();
    const sdRoot = join(tmp, 'prec-sd');
    cpSync(fixture, sdRoot, { recursive: true });
    execFileSync(ref.systemdHwdb, [`--root=${sdRoot}`, 'update'], { stdio: 'pipe' });
    const dmRoot = join(tmp, 'prec-dm');
    const res = updateHwdb({ dirs: hwdbSourceDirs(sdRoot), output: join(dmRoot, 'etc', 'udev', 'hwdb.bin') });
    expect(res.files.map((f) => f.slice(sdRoot.length))).toEqual([
      '/lib/udev/hwdb.d/40-base.hwdb',
      '/etc/udev/hwdb.d/50-masked.hwdb',
      '/etc/udev/hwdb.d/60-etc.hwdb',
      '/lib/udev/hwdb.d/70-override.hwdb',
    ]);
    const db = openHwdb(join(dmRoot, 'etc', 'udev', 'hwdb.bin'));
    const sdAnswers = systemdQueryAll(ref.systemdHwdb, sdRoot, probes, tmp);
    const sdOnDm = systemdQueryAll(ref.systemdHwdb, dmRoot, probes, tmp);
    probes.forEach((p, i) => {
      expect(formatProps(db.lookup(p)), p).toBe(sdAnswers[i]);
      expect(sdOnDm[i], p).toBe(sdAnswers[i]);
    });
    // The masked file never contributes.
    expect(db.lookup('prec:dev:exact').get('MASKED')).toBe('etc-version');
    expect(db.lookup('prec:dev:other').get('MASKED')).toBe('etc-version');
    // Provenance of the winning value (v2 layout).
    const line = db.lookupEntries('prec:dev:exact').find((m) => m.key === 'LINE');
    expect(line?.file).toMatch(/70-override\.hwdb$/);
    db.close();
  });
});

describe('sources shipped in hwdb/', () => {
  it('parse without a single malformed line', () => {
    const files = hwdbSourceFiles([PACKAGE_HWDB_DIR]);
    expect(files.length).toBeGreaterThan(0);
    const out = join(tmp, 'pkg', 'hwdb.bin');
    const res = updateHwdb({ dirs: [PACKAGE_HWDB_DIR], output: out });
    expect(res.diagnostics).toEqual([]);
    expect(existsSync(out)).toBe(true);
    const db = openHwdb(out);
    expect(db.lookup('devmaster:test:digit7').get('DEVMASTER_TEST_DIGIT')).toBe('1');
    expect(db.lookup('devmaster:test:digitx').has('DEVMASTER_TEST_DIGIT')).toBe(false);
    expect(db.lookup('devmaster:test:value').get('DEVMASTER_TEST_VALUE')).toBe('a=b c');
    db.close();
  });
});
