// The built executables (scripts/bundle.mjs, src/cli/launch.cts): dist/cli/NAME.js runs the bundle in
// dist/bundle with V8's code cache, does what the sources do, loads only the chunks its verb needs, and runs the
// same when V8 rejects the cache (other flags), when the cache is stale (another file's), cut short, garbage or
// missing. `npm test` builds first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, referenceUdev } from '../helpers/reference.js';
import { rulesCopy } from '../helpers/udevd.js';
import { devctl } from '../helpers/cli.js';
import { DIST, launchReport, shebangFlags, shebangLine } from '../helpers/bundle.js';

/** devctl test's output with the time it stamps the device with taken out. */
const sameTime = (out: string) => out.replace(/USEC_INITIALIZED=\d+/g, 'USEC_INITIALIZED=T');

/** NAME's bundle files whose code cache V8 refuses in a fresh process under `flags` (launch.cjs's refusedCaches()). */
function refusedCaches(name: string, flags: string[]): string[] {
  const launcher = JSON.stringify(join(DIST, 'cli', 'launch.cjs'));
  const r = spawnSync(process.execPath, [...flags, '-e', `process.stdout.write(JSON.stringify(require(${launcher}).refusedCaches(${JSON.stringify(name)})))`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as string[]).sort();
}

/**
 * The built code cache of NAME's bundle file holding `marker`, as a multiple of what a compile of that file alone
 * caches under `flags` (its top level): how much more of it the build's runs compiled.
 */
function cacheOverCompile(name: string, flags: string[], marker: string): number {
  // a chunk is in its own file and defined in the files that load it: the one with the largest cache is where it ran
  const size = (f: string) => statSync(join(DIST, 'bundle', f.replace(/\.cjs$/, '.cache'))).size;
  const file = readdirSync(join(DIST, 'bundle'))
    .filter((f) => (f === `${name}.cjs` || (f.startsWith(`${name}-`) && f.endsWith('.cjs'))) && readFileSync(join(DIST, 'bundle', f), 'latin1').includes(marker))
    .sort((a, b) => size(b) - size(a))[0];
  expect(file, marker).toBeDefined();
  const path = join(DIST, 'bundle', file!);
  const fresh = spawnSync(process.execPath, [...flags, '-e', `const f = ${JSON.stringify(path)}; process.stdout.write(String(new (require('vm').Script)('(function (exports, require, module, __filename, __dirname) {' + require('fs').readFileSync(f, 'latin1') + '\\n})', { filename: f }).createCachedData().length))`], { encoding: 'utf8' });
  expect(fresh.status, fresh.stderr).toBe(0);
  return statSync(path.replace(/\.cjs$/, '.cache')).size / Number(fresh.stdout);
}

describe('the bundled executables', () => {
  it('are the shebang line and the launcher', () => {
    expect(readFileSync(join(DIST, 'cli', 'devctl.js'), 'utf8')).toMatch(/^#![^\n]*\n[^]*require\('\.\/launch\.cjs'\)\.launch\('devctl'\);\n$/);
    expect(shebangFlags('devmaster')).toEqual(['--max-semi-space-size=1', '--no-opt', '--no-expose-wasm']);
    expect(shebangFlags('devctl')).toEqual(['--interrupt-budget=300000']);
    // Built by /usr/bin/node (as here, and as a distribution builds), devctl's line names it and skips env; the
    // daemon's three flags cannot be one #! argument, so its line stays env's.
    const system = realpathSync('/usr/bin/node') === realpathSync(process.execPath);
    expect(shebangLine('devctl')).toBe(system ? '#!/usr/bin/node --interrupt-budget=300000' : '#!/usr/bin/env -S node --interrupt-budget=300000');
    expect(shebangLine('devmaster')).toBe('#!/usr/bin/env -S node --max-semi-space-size=1 --no-opt --no-expose-wasm');
    const v = spawnSync(join(DIST, 'cli', 'devmaster.js'), ['--version'], { encoding: 'utf8' });
    expect(v).toMatchObject({ status: 0, stdout: readFileSync(join(REPO, 'package.json'), 'utf8').match(/"version": "([^"]+)"/)![1] + '\n' });
  });

  it('devmaster reads its command line as udevd does (getopt_long): abbreviations, glibc\'s messages', () => {
    const run = (...args: string[]) => spawnSync(join(DIST, 'cli', 'devmaster.js'), args, { encoding: 'utf8' });
    const version = readFileSync(join(REPO, 'package.json'), 'utf8').match(/"version": "([^"]+)"/)![1] + '\n';
    expect(run('--vers')).toMatchObject({ status: 0, stdout: version });
    expect(run('--bogus')).toMatchObject({ status: 1, stderr: "devmaster: unrecognized option '--bogus'\nTry 'devmaster --help'.\n" });
    expect(run('--ru', '/tmp')).toMatchObject({ status: 1, stderr: "devmaster: option '--ru' is ambiguous; possibilities: '--run' '--rules-dir'\nTry 'devmaster --help'.\n" });
    expect(run('--version=1')).toMatchObject({ status: 1, stderr: "devmaster: option '--version' doesn't allow an argument\nTry 'devmaster --help'.\n" });
    expect(run('--run')).toMatchObject({ status: 1, stderr: "devmaster: option '--run' requires an argument\nTry 'devmaster --help'.\n" });
    expect(run('now')).toMatchObject({ status: 1, stderr: "devmaster: unexpected argument 'now'\nTry 'devmaster --help'.\n" });
  });

  it('devctl info and test print what the sources print, with every code cache taken', () => {
    for (const args of [['info', '/dev/null'], ['info', '--query=all', '--path=/devices/virtual/mem/zero'], ['test', '/dev/null']]) {
      const bundled = launchReport(DIST, 'devctl', shebangFlags('devctl'), args);
      const source = devctl(args);
      expect(bundled.status).toBe(0);
      expect(sameTime(bundled.stdout)).toBe(sameTime(source.stdout));
      expect(bundled.stdout.length).toBeGreaterThan(0);
      expect(bundled.loaded.length).toBeGreaterThan(1);
      expect(bundled.loaded.filter((l) => l.cacheRejected !== false)).toEqual([]);
    }
  });

  it('runs the builtins as the sources do (each builtin is its chunk\'s default export, not the chunk\'s exports)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-bundle-builtins-'));
    try {
      writeFileSync(join(dir, '50-b.rules'), 'IMPORT{builtin}="path_id"\nSUBSYSTEMS=="usb", IMPORT{builtin}="usb_id"\n');
      const roots = ['--sysfs', join(REPO, 'fixtures', 'sysfs', 'basic', 'sys'), '--run', join(dir, 'run'), '--dev', join(dir, 'dev')];
      for (const args of [
        ['test-builtin', ...roots, 'path_id', 'block/sda'],
        ['test-builtin', ...roots, 'input_id', 'input/event0'],
        ['test', ...roots, '--rules-dir', dir, 'block/sda'],
      ]) {
        const bundled = launchReport(DIST, 'devctl', shebangFlags('devctl'), args);
        expect(bundled.stderr, args.join(' ')).toBe('');
        expect(bundled.status).toBe(0);
        expect(sameTime(bundled.stdout)).toBe(sameTime(devctl(args).stdout));
        expect(bundled.stdout).toMatch(/ID_PATH=pci-0000:00:14\.0-usb-0:1:1\.0-scsi-0:0:0:0|ID_INPUT=1/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the daemon takes its code cache under its shebang flags, and under the systemd unit\'s NODE_OPTIONS (--jitless), with no warning', () => {
    const r = launchReport(DIST, 'devmaster', shebangFlags('devmaster'), ['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^devmaster \[OPTIONS\]/);
    expect(r.loaded.filter((l) => l.cacheRejected !== false)).toEqual([]);
    // the unit's own setting, read from the unit: its caches are NAME.jitless.cache
    const unit = readFileSync(join(REPO, 'system', 'systemd', 'devmaster.service'), 'utf8');
    const nodeOptions = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1];
    expect(nodeOptions).toBe('--jitless');
    const j = launchReport(DIST, 'devmaster', shebangFlags('devmaster'), ['--help'], { NODE_OPTIONS: nodeOptions });
    expect(j.status).toBe(0);
    expect(j.stdout).toBe(r.stdout);
    // and V8 says nothing of its flags (--jitless turns WebAssembly off, which the shebang has off already)
    expect(j.stderr).toBe('');
    expect(j.loaded.length).toBeGreaterThan(0);
    expect(j.loaded.filter((l) => l.cacheRejected !== false)).toEqual([]);
    expect(readdirSync(join(DIST, 'bundle')).filter((f) => f.endsWith('.jitless.cache')).length).toBeGreaterThanOrEqual(j.loaded.length);
  });

  it('the daemon\'s caches hold the event path its build rehearsed, and V8 takes every one of them (as the build checks)', () => {
    const flags = shebangFlags('devmaster');
    expect(refusedCaches('devmaster', flags)).toEqual([]);
    expect(refusedCaches('devmaster', [...flags, '--jitless'])).toEqual([]);
    // the check can fail: under one more flag V8 refuses each cache (the rehearsal must change no flag for this reason)
    const files = readdirSync(join(DIST, 'bundle')).filter((f) => /^devmaster(-.*)?\.cjs$/.test(f));
    expect(refusedCaches('devmaster', [...flags, '--no-lazy-feedback-allocation'])).toEqual(files.sort());
    // the rules executor's file: what the build's start and rehearsal did (a start alone runs little of it: its
    // cache was 1.2 times the compile's before the rehearsal)
    expect(cacheOverCompile('devmaster', flags, 'function executeRules(')).toBeGreaterThan(3);
  });

  it('a daemon whose rules all come from its kept rules cache loads no rules parser', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-kept-rules-'));
    try {
      const rules = join(dir, 'rules.d');
      const n = rulesCopy(referenceUdev().rulesDir, rules);
      const start = (boot: string, stopAfterMs: number) => {
        mkdirSync(join(dir, boot, 'dev'), { recursive: true });
        const args = ['--unit-backend', 'none', '--no-mknod', '--log-level', 'info', '--run', join(dir, boot, 'run'), '--dev', join(dir, boot, 'dev'), '--rules-dir', rules, '--cache-dir', join(dir, 'cache')];
        // a network namespace of its own: no uevent of this machine's reaches it, none of its broadcasts leaves it
        const r = launchReport(DIST, 'devmaster', shebangFlags('devmaster'), args, undefined, { prefix: ['unshare', '--net'], stopAfterMs });
        const loaded = r.loaded.map((l) => readFileSync(l.file, 'latin1')).join('\n');
        return { parser: loaded.includes('peg$parse'), fromCache: Number(/"fromCache":(\d+)/.exec(r.stderr)?.[1]), stderr: r.stderr };
      };
      // the first boot compiles every file and keeps them (written once the daemon has been idle a second)
      const first = start('boot1', 4000);
      expect(first, first.stderr).toMatchObject({ parser: true, fromCache: 0 });
      const second = start('boot2', 2000);
      expect(second, second.stderr).toMatchObject({ parser: false, fromCache: n });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("devctl's caches hold what the build's runs of devctl test and info ran (the rules parser, compiler and executor), and V8 takes every one", () => {
    const flags = shebangFlags('devctl');
    expect(refusedCaches('devctl', flags)).toEqual([]);
    // `devctl --help` alone, the build's run before, did no more for the files of the rules than a compile alone
    // (their caches were the size of a fresh compile's)
    expect(cacheOverCompile('devctl', flags, 'function compileLines(')).toBeGreaterThan(2.5);
    expect(cacheOverCompile('devctl', flags, 'function executeRules(')).toBeGreaterThan(2);
    // info's own file, trained by a process that ran info alone: run after test in one process, it found the chunks
    // it shares with test (the device model) already run from test's file, and its cache was 2.8 times a compile's
    expect(cacheOverCompile('devctl', flags, 'function treeAround(')).toBeGreaterThan(4.5);
  });

  it('devctl info loads neither the rules parser nor any package (pino, smol-toml...), which have files of their own', () => {
    const r = launchReport(DIST, 'devctl', shebangFlags('devctl'), ['info', '/dev/null']);
    expect(r.status).toBe(0);
    const text = r.loaded.map((l) => readFileSync(l.file, 'latin1')).join('\n');
    expect(text).toContain('/devices/'); // the device model is there
    expect(text).not.toContain('peg$parse');
    expect(r.loaded.map((l) => l.file).filter((f) => f.includes('-vendor-'))).toEqual([]);
    // two files: the entry and the verb's, which holds the chunks the verb shares with others (scripts/bundle.mjs)
    expect(r.loaded.map((l) => l.file.replace(/.*\//, ''))).toEqual(['devctl.cjs', expect.stringMatching(/^devctl-info-[A-Z0-9]+\.cjs$/)]);
    // devctl test loads the parser, not chokidar, nor pino while it logs nothing (src/log.ts, test/log/)
    const t = launchReport(DIST, 'devctl', shebangFlags('devctl'), ['test', '/dev/null']);
    expect(t.status).toBe(0);
    expect(t.loaded.map((l) => readFileSync(l.file, 'latin1')).join('\n')).toContain('peg$parse');
    expect(t.loaded.map((l) => l.file.replace(/.*\//, '')).filter((f) => f.includes('-vendor-'))).toEqual([]);
    const files = readdirSync(join(DIST, 'bundle'));
    for (const p of ['pino', 'pino-pretty', 'chokidar', 'protobufjs', 'smol-toml', 'siphash']) expect(files).toContain(`devmaster-vendor-${p}.cjs`);
  });

  it("devctl info loads none of Node's modules but vm beyond those every start loads (under the #! line's flag Node compiles them without its code cache)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-modules-'));
    try {
      const preload = join(dir, 'modules.cjs');
      writeFileSync(preload, `const before = new Set(process.moduleLoadList);
process.on('exit', () => require('fs').writeSync(2, 'MODULES ' + JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m))) + '\\n'));\n`);
      const r = spawnSync(join(DIST, 'cli', 'devctl.js'), ['info', '/dev/null'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--require ${preload}` } });
      expect(r.status, r.stderr).toBe(0);
      const line = r.stderr.split('\n').find((l) => l.startsWith('MODULES '));
      // node:os was one (the errno names, src/sys/errno.ts, now read on first use)
      expect(JSON.parse(line!.slice('MODULES '.length))).toEqual(['NativeModule vm']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the entry carries the chunks it always loads (defined in its file): every chunk named is a file or defined there', () => {
    const files = readdirSync(join(DIST, 'bundle'));
    for (const name of ['devctl', 'devmaster']) {
      const entry = readFileSync(join(DIST, 'bundle', `${name}.cjs`), 'latin1');
      const defined = [...entry.matchAll(/require\.define\("([^"]+)"/g)].map((m) => m[1]!);
      expect(defined.length, name).toBeGreaterThan(1);
      expect(defined.filter((d) => files.includes(d)), name).toEqual([]);
      const named = new Set(files.filter((f) => f.startsWith(name) && f.endsWith('.cjs')).flatMap((f) => [...readFileSync(join(DIST, 'bundle', f), 'latin1').matchAll(/require\("\.\/([^"]+)"\)/g)].map((m) => m[1]!)));
      expect([...named].filter((n) => !files.includes(n) && !defined.includes(n)), name).toEqual([]);
    }
    // devctl --version compiles the entry, then the version's own chunks (none of the entry's)
    const v = launchReport(DIST, 'devctl', shebangFlags('devctl'), ['--version']);
    expect(v.status).toBe(0);
    const compiled = v.loaded.map((l) => l.file.replace(/.*\//, ''));
    expect(compiled[0]).toBe('devctl.cjs');
    expect(compiled[1]).toMatch(/^devctl-version-/);
    expect(compiled.length).toBeLessThanOrEqual(3);
  });

  it("the daemon's parts define the chunks they load that the entry and the parts before them do not, each chunk once", () => {
    const files = readdirSync(join(DIST, 'bundle')).filter((f) => /^devmaster(-.*)?\.cjs$/.test(f));
    const defines = new Map(files.map((f) => [f, [...readFileSync(join(DIST, 'bundle', f), 'latin1').matchAll(/require\.define\("([^"]+)"/g)].map((m) => m[1]!)]));
    const all = [...defines.values()].flat();
    expect(all.filter((c, i) => all.indexOf(c) !== i)).toEqual([]);
    // the daemon's part holds the event path's chunks: a start reads its file, not one file per chunk
    const daemon = files.find((f) => f.startsWith('devmaster-daemon-'))!;
    expect(defines.get(daemon)!.length).toBeGreaterThan(10);
  });

  it('defines import.meta.url only in the files that read it, when first read', () => {
    const files = readdirSync(join(DIST, 'bundle')).filter((f) => f.endsWith('.cjs'));
    const text = (f: string) => readFileSync(join(DIST, 'bundle', f), 'latin1');
    const reading = files.filter((f) => text(f).includes('__bundle_meta.url'));
    expect(reading.length).toBeGreaterThan(0);
    expect(reading.length).toBeLessThan(files.length / 4);
    expect(files.filter((f) => text(f).includes('__bundle_meta={get url(){return require("node:url").pathToFileURL(__filename).href}}'))).toEqual(reading);
    expect(files.filter((f) => text(f).includes('pathToFileURL(__filename)'))).toEqual(reading);
  });

  describe('without a usable code cache', () => {
    let root: string;
    beforeAll(() => {
      // a copy of dist/cli and dist/bundle with node_modules beside it, as an installed package has them
      root = mkdtempSync(join(tmpdir(), 'dm-bundle-'));
      cpSync(join(DIST, 'cli'), join(root, 'dist', 'cli'), { recursive: true });
      cpSync(join(DIST, 'bundle'), join(root, 'dist', 'bundle'), { recursive: true });
      symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
      cpSync(join(REPO, 'package.json'), join(root, 'package.json'));
      cpSync(join(REPO, 'rules.d'), join(root, 'rules.d'), { recursive: true });
    });
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    it('runs the same when V8 rejects the cache (other V8 flags), when it is stale or damaged and when it is missing', () => {
      const dist = join(root, 'dist');
      const expected = sameTime(launchReport(DIST, 'devctl', shebangFlags('devctl'), ['test', '/dev/null']).stdout);
      expect(expected).toMatch(/^device: +\/sys\/devices\/virtual\/mem\/null$/m);

      const otherFlags = launchReport(dist, 'devctl', ['--max-semi-space-size=4'], ['test', '/dev/null']);
      expect(otherFlags.status).toBe(0);
      expect(sameTime(otherFlags.stdout)).toBe(expected);
      expect(otherFlags.loaded.every((l) => l.cacheRejected === true)).toBe(true);

      const caches = readdirSync(join(dist, 'bundle')).filter((f) => f.endsWith('.cache'));
      expect(caches.length).toBeGreaterThan(2);
      // a cache cut short (V8 refuses it), the cache of another file (stale: its key is not the file's) and garbage
      const other = readFileSync(join(dist, 'bundle', 'devctl.cache'));
      for (const f of caches) {
        const data = readFileSync(join(dist, 'bundle', f));
        writeFileSync(join(dist, 'bundle', f), f.startsWith('devctl-chunk') ? data.subarray(0, data.length >> 1) : f.startsWith('devctl') ? other : Buffer.from('not a code cache'));
      }
      writeFileSync(join(dist, 'bundle', 'devctl.cache'), readFileSync(join(dist, 'bundle', caches.find((f) => f.startsWith('devctl-chunk'))!)));
      const damaged = launchReport(dist, 'devctl', shebangFlags('devctl'), ['test', '/dev/null']);
      expect(damaged.status).toBe(0);
      expect(sameTime(damaged.stdout)).toBe(expected);
      expect(damaged.loaded.every((l) => l.cacheRejected === true)).toBe(true);

      for (const f of caches) rmSync(join(dist, 'bundle', f));
      const missing = launchReport(dist, 'devctl', shebangFlags('devctl'), ['test', '/dev/null']);
      expect(missing.status).toBe(0);
      expect(sameTime(missing.stdout)).toBe(expected);
      expect(missing.loaded.every((l) => l.cacheRejected === undefined)).toBe(true);
      // and the executable itself, as users run it
      expect(spawnSync(join(dist, 'cli', 'devctl.js'), ['info', '/dev/null'], { encoding: 'utf8' })).toMatchObject({ status: 0, stdout: devctl(['info', '/dev/null']).stdout });
    });
  });
});
