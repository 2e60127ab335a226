// koffi, src/sys/'s one way to C, is loaded on the first C call, not when a module of src/sys/ is imported (the
// structs and types too: on first use). In the bundle its JavaScript is a file of the bundle (NAME-vendor-koffi.cjs,
// with its code cache) and the platform's package (@koromix/koffi-PLATFORM: its glibc build's .node file, or the
// loader that picks its glibc or musl build) is required from node_modules at run time, as Node finds it from where
// the executable is. Below: netlink's addon, from the bundled raw socket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/reference.js';
import { DIST, launchReport, shebangFlags } from '../helpers/bundle.js';

/** A group's gid and a user's uid as the system's tools say (NSS). */
const gidOf = (group: string) => Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);
const uidOf = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
const PLATFORM_PACKAGE = `@koromix/koffi-${process.platform}-${process.arch}`;
/** The directory of the platform package's glibc build (linux_x64 here). */
const TRIPLET = `${process.platform}_${process.arch}`;
const isKoffi = (f: string) => f.includes('koffi');

describe('koffi, loaded on the first C call', () => {
  let tmp: string;
  /** Rules that name no user or group (no C call), and rules that do (getpwnam, getgrnam). */
  let plain: string;
  let names: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'dm-native-'));
    plain = join(tmp, 'plain');
    names = join(tmp, 'names');
    mkdirSync(plain);
    mkdirSync(names);
    writeFileSync(join(plain, '50-mode.rules'), 'KERNEL=="null", MODE="0600"\n');
    writeFileSync(join(names, '50-names.rules'), 'KERNEL=="null", OWNER="daemon", GROUP="disk", MODE="0600"\n');
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('importing every module of src/sys/ loads none of koffi; the first C call loads it (getgrnam of a real group)', () => {
    const sys = join(DIST, 'sys');
    const script = `import { createRequire } from 'node:module';
const koffiFiles = () => Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('koffi'));
for (const f of ${JSON.stringify(readdirSync(sys).filter((f) => f.endsWith('.js')))}) await import(${JSON.stringify(sys)} + '/' + f);
const before = koffiFiles();
const { lookupGroup } = await import(${JSON.stringify(join(sys, 'users.js'))});
const gid = lookupGroup('disk');
console.log(JSON.stringify({ before, gid, after: koffiFiles() }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { before: string[]; gid: number; after: string[] };
    expect(out.before).toEqual([]);
    expect(out.gid).toBe(gidOf('disk'));
    expect(out.after.some((f) => f.endsWith('.node'))).toBe(true);
  });

  it('devctl test loads it for rules that name a user or group alone: its JavaScript from the bundle with its cache, the platform package from node_modules', () => {
    const flags = shebangFlags('devctl');
    const none = launchReport(DIST, 'devctl', flags, ['test', '--rules-dir', plain, '/dev/null']);
    expect(none.status).toBe(0);
    expect(none.stdout).toMatch(/^Node: +owner 0, group 0, mode 0600$/m);
    expect(none.loaded.filter((l) => isKoffi(l.file))).toEqual([]);
    expect(none.nodeModules.filter(isKoffi)).toEqual([]);

    const named = launchReport(DIST, 'devctl', flags, ['test', '--rules-dir', names, '/dev/null']);
    expect(named.status).toBe(0);
    expect(named.stdout).toMatch(new RegExp(`^Node: +owner ${uidOf('daemon')}, group ${gidOf('disk')}, mode 0600$`, 'm'));
    expect(named.loaded.filter((l) => isKoffi(l.file))).toEqual([{ file: join(DIST, 'bundle', 'devctl-vendor-koffi.cjs'), cacheRejected: false }]);
    // koffi's own package (its JavaScript) is not read, nor the platform package's loader: where no musl dynamic
    // loader is installed (this machine), the platform package's glibc build is required straight (scripts/bundle.mjs)
    const native = named.nodeModules.filter(isKoffi);
    expect(native).toEqual([join(REPO, 'node_modules', PLATFORM_PACKAGE, TRIPLET, 'koffi.node')]);
  });

  it('a copy of the executables with the platform package alone beside them (no koffi package) makes the same C calls', () => {
    const root = join(tmp, 'copy');
    cpSync(join(DIST, 'cli'), join(root, 'dist', 'cli'), { recursive: true });
    cpSync(join(DIST, 'bundle'), join(root, 'dist', 'bundle'), { recursive: true });
    cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
    cpSync(join(REPO, 'node_modules', PLATFORM_PACKAGE), join(root, 'node_modules', PLATFORM_PACKAGE), { recursive: true });
    const r = launchReport(join(root, 'dist'), 'devctl', shebangFlags('devctl'), ['test', '--rules-dir', names, '/dev/null']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Node: +owner ${uidOf('daemon')}, group ${gidOf('disk')}, mode 0600$`, 'm'));
    expect(r.nodeModules).toEqual([join(root, 'node_modules', PLATFORM_PACKAGE, TRIPLET, 'koffi.node')]);
  });

  it('where the glibc build is not where it is looked for first, the platform package\'s own loader chooses', () => {
    // its loader tries the musl build when the glibc one fails: here the glibc build moved to the musl directory,
    // so that only the loader finds it (as on a system with a musl loader, which this one is not)
    const root = join(tmp, 'loader');
    cpSync(join(DIST, 'cli'), join(root, 'dist', 'cli'), { recursive: true });
    cpSync(join(DIST, 'bundle'), join(root, 'dist', 'bundle'), { recursive: true });
    cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
    const pkg = join(root, 'node_modules', PLATFORM_PACKAGE);
    cpSync(join(REPO, 'node_modules', PLATFORM_PACKAGE), pkg, { recursive: true });
    mkdirSync(join(pkg, TRIPLET.replace(/^linux_/, 'musl_')), { recursive: true });
    renameSync(join(pkg, TRIPLET, 'koffi.node'), join(pkg, TRIPLET.replace(/^linux_/, 'musl_'), 'koffi.node'));
    const r = launchReport(join(root, 'dist'), 'devctl', shebangFlags('devctl'), ['test', '--rules-dir', names, '/dev/null']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Node: +owner ${uidOf('daemon')}, group ${gidOf('disk')}, mode 0600$`, 'm'));
    expect(r.nodeModules).toEqual([join(pkg, 'index.js'), join(pkg, TRIPLET.replace(/^linux_/, 'musl_'), 'koffi.node')]);
  });

  it('without the platform package, a koffi.node built at install time under koffi\'s own directory is found there', () => {
    const root = join(tmp, 'built');
    cpSync(join(DIST, 'cli'), join(root, 'dist', 'cli'), { recursive: true });
    cpSync(join(DIST, 'bundle'), join(root, 'dist', 'bundle'), { recursive: true });
    cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
    cpSync(join(REPO, 'node_modules', 'koffi'), join(root, 'node_modules', 'koffi'), { recursive: true });
    const run = () => launchReport(join(root, 'dist'), 'devctl', shebangFlags('devctl'), ['test', '--rules-dir', names, '/dev/null']);
    // neither: koffi's own error, as the verb's failure
    const none = run();
    expect(none.status).toBe(1);
    expect(none.stderr).toBe('devctl test: Cannot find the native Koffi module; did you bundle it correctly?');
    // where koffi's install step builds it: build/koffi/TRIPLET/koffi.node (the platform package's file, here)
    const built = join(root, 'node_modules', 'koffi', 'build', 'koffi', `${process.platform}_${process.arch}`, 'koffi.node');
    const prebuilt = readdirSync(join(REPO, 'node_modules', PLATFORM_PACKAGE), { recursive: true, encoding: 'utf8' }).find((f) => f.startsWith(`${process.platform}_`) && f.endsWith('koffi.node'))!;
    cpSync(join(REPO, 'node_modules', PLATFORM_PACKAGE, prebuilt), built);
    const r = run();
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Node: +owner ${uidOf('daemon')}, group ${gidOf('disk')}, mode 0600$`, 'm'));
    expect(r.nodeModules.filter(isKoffi)).toEqual([built]);
  });
});

// netlink's raw socket is bundled (NAME-vendor-netlink-raw.cjs); its addon stays in node_modules, required straight
// where node-gyp-build would take the one prebuild, and through node-gyp-build otherwise (scripts/bundle.mjs).
describe("netlink's addon, from the bundled raw socket", () => {
  const NETLINK = join(REPO, 'node_modules', 'netlink');
  const PREBUILD = join(NETLINK, 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.node');
  /** devctl wait on an empty run directory: it listens on a uevent socket until its timeout (status 1). */
  const waitReport = (env?: NodeJS.ProcessEnv) => {
    const run = mkdtempSync(join(tmpdir(), 'dm-netlink-'));
    try {
      return launchReport(DIST, 'devctl', shebangFlags('devctl'), ['wait', '--run', run, '--timeout', '0.2', '/dev/null'], env);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  };

  it('requires the package\'s one prebuild straight: neither raw.js nor node-gyp-build from node_modules', () => {
    const r = waitReport();
    expect(r).toMatchObject({ status: 1, stderr: 'Timed out for waiting devices being initialized.' });
    expect(r.loaded.filter((l) => l.file.includes('netlink'))).toEqual([{ file: join(DIST, 'bundle', 'devctl-vendor-netlink-raw.cjs'), cacheRejected: false }]);
    expect(r.nodeModules.filter((f) => !isKoffi(f))).toEqual([PREBUILD]);
  });

  it('asks node-gyp-build where the environment names a prebuild directory (NETLINK_PREBUILD), as the package does', () => {
    const r = waitReport({ NETLINK_PREBUILD: NETLINK });
    expect(r).toMatchObject({ status: 1, stderr: 'Timed out for waiting devices being initialized.' });
    const loaded = r.nodeModules.filter((f) => !isKoffi(f));
    expect(loaded.some((f) => f.includes('/node-gyp-build/'))).toBe(true);
    expect(loaded.filter((f) => f.endsWith('.node'))).toEqual([PREBUILD]);
  });
});
