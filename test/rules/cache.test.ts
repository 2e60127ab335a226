// The rules cache (src/rules/cache.ts): what the daemon or an earlier `devctl test` compiled, taken by `devctl test`
// while the files are the versions compiled, and never from a file someone else could have written.
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { appendFileSync, chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileStamp, RulesCache, rulesCachePath } from '../../src/rules/cache.js';
import { compileRulesFile, loadRules } from '../../src/rules/load.js';
import { patternOf, type CompiledFile } from '../../src/rules/compile.js';
import { rulesFiles } from '../../src/config/rules-path.js';
import { referenceUdev, referenceUdev257 } from '../helpers/reference.js';
import { rulesCopy, sleep } from '../helpers/udevd.js';
import { devctl } from '../helpers/cli.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/log.js';
import { tempRoots, testConfig } from '../daemon/helpers.js';
import { captureLogger, type LogLine } from '../helpers/log-capture.js';
import { execFileSync } from 'node:child_process';

/**
 * A compiled file as JSON, keys sorted, without the tokens' compiled patterns: the cache keeps none, a file taken from
 * it makes each when first used (patternOf(); the tests below compare them by what they match).
 */
const canonical = (f: CompiledFile) => JSON.stringify(f, (k, v: unknown) => (k === 'pattern' ? undefined : v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

describe('rules cache', () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'dm-rules-cache-'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** Compiles every file of `dir` into a fresh cache, writes it, and reads it back. */
  async function roundTrip(dir: string, cacheFile: string) {
    const written = new RulesCache({});
    const compiled = await Promise.all(rulesFiles([dir]).map((p) => compileRulesFile(p, {}, written)));
    written.write(cacheFile);
    const { cache, error } = RulesCache.read(cacheFile, {});
    expect(error).toBeUndefined();
    return { compiled, cache };
  }

  it("gives back every file of Debian's 252 and 257 rules exactly as compiled", async () => {
    for (const [name, dir] of [['252', referenceUdev().rulesDir], ['257', referenceUdev257().rulesDir]] as const) {
      const file = join(base, `${name}.json`);
      const { compiled, cache } = await roundTrip(dir, file);
      expect(compiled.length).toBeGreaterThan(25);
      expect(cache.size).toBe(compiled.length);
      for (const f of compiled) {
        const back = cache.get(f.path, stampOf(f.path));
        expect(back, f.path).toBeDefined();
        expect(canonical(back!)).toBe(canonical(f));
        // no pattern is made at the read; made on first use, they match as the compiled ones do
        for (const [i, line] of f.lines.entries()) {
          for (const [j, tok] of line.tokens.entries()) {
            expect(back!.lines[i]!.tokens[j]!.pattern).toBeUndefined();
            if (!tok.pattern) continue;
            const again = patternOf(back!.lines[i]!.tokens[j]!);
            for (const s of ['', 'sda', 'sda1', 'nvme0n1', 'block', 'add', 'remove', 'input', 'usb', tok.value, tok.pattern.alternatives[0] ?? 'x']) expect(again.test(s), `${tok.key} ${tok.op} "${tok.value}" on "${s}"`).toBe(tok.pattern.test(s));
          }
        }
      }
      // the file is ASCII (read as Latin-1) and far smaller than the rules' parse would allocate
      expect(/^[\x00-\x7f]*$/.test(readFileSync(file, 'latin1'))).toBe(true);
    }
  });

  it('keeps characters beyond ASCII, and a case-insensitive pattern', async () => {
    const dir = join(base, 'unicode');
    mkdirSync(dir);
    writeFileSync(join(dir, '10-u.rules'), 'KERNEL=="é*|ß", ENV{GREETING}="grüße 😀"\nENV{ID_MODEL}==i"MODEL*", TAG+="x"\n');
    const { compiled, cache } = await roundTrip(dir, join(base, 'unicode.json'));
    const back = cache.get(compiled[0]!.path, stampOf(compiled[0]!.path))!;
    expect(canonical(back)).toBe(canonical(compiled[0]!));
    const [l1, l2] = back.lines;
    expect(l1!.tokens.find((t) => t.key === 'ENV')!.value).toBe('grüße 😀');
    expect(patternOf(l1!.tokens[0]!).test('ébc')).toBe(true);
    expect(patternOf(l2!.tokens[0]!).test('model-x')).toBe(true);
    expect(l2!.tokens[0]!.caseInsensitive).toBe(true);
  });

  it('takes a file only in the version compiled; a changed file is compiled again', async () => {
    const dir = join(base, 'changing');
    rulesCopy(referenceUdev257().rulesDir, dir);
    const file = join(base, 'changing.json');
    const { compiled, cache } = await roundTrip(dir, file);
    const target = join(dir, '60-block.rules');
    appendFileSync(target, 'KERNEL=="sdz", ENV{CACHE_TEST}="1"\n');
    const { cache: fresh } = RulesCache.read(file, {});
    const load = await loadRules([dir], {}, fresh);
    expect(fresh.hits).toBe(compiled.length - 1);
    const block = load.files.find((f) => f.path === target)!;
    expect(block.lines.at(-1)!.tokens.some((t) => t.value === 'CACHE_TEST' || t.attr === 'CACHE_TEST')).toBe(true);
    expect(cache.get(target, stampOf(target))).toBeUndefined();
  });

  it('keeps, when devctl test updates it, its own files and at most 256 of other runs that are still current', async () => {
    const dir = join(base, 'many');
    mkdirSync(dir);
    const paths = Array.from({ length: 300 }, (_, i) => join(dir, `${String(i).padStart(3, '0')}-m.rules`));
    for (const p of paths) writeFileSync(p, `KERNEL=="m${p.length}", ENV{M}="1"\n`);
    const file = join(base, 'many.json');
    const first = new RulesCache({});
    for (const p of paths) await compileRulesFile(p, {}, first);
    first.write(file);
    // the next run: one file of its own compiled, the 300 read; one of those changed since (dropped as stale)
    const own = join(base, 'own.rules');
    writeFileSync(own, 'KERNEL=="own", ENV{OWN}="1"\n');
    appendFileSync(paths[0]!, '# changed\n');
    const { cache } = RulesCache.read(file, {});
    expect(cache.size).toBe(300);
    await compileRulesFile(own, {}, cache);
    // where devMaster never ran (no directory for the file): nothing written, nothing made
    expect(cache.update(join(base, 'never-ran', 'devmaster', 'rules-cache.json'))).toBe(false);
    expect(existsSync(join(base, 'never-ran'))).toBe(false);
    expect(cache.update(file)).toBe(true);
    const back = RulesCache.read(file, {}).cache;
    expect(back.size).toBe(257);
    expect(back.get(own, stampOf(own))).toBeDefined();
    expect(back.get(paths[0]!, stampOf(paths[0]!))).toBeUndefined();
    expect(back.get(paths[1]!, stampOf(paths[1]!))).toBeDefined();
    expect(back.get(paths[256]!, stampOf(paths[256]!))).toBeDefined(); // 1..256: the first 256 still current
    expect(back.get(paths[257]!, stampOf(paths[257]!))).toBeUndefined();
  });

  it('is empty for other compile options, another compiler or other name databases', () => {
    const file = join(base, '252.json');
    expect(RulesCache.read(file, { resolveNames: 'never' })).toEqual({ cache: expect.objectContaining({ size: 0 }) });
    const other = join(base, 'other-context.json');
    const data = JSON.parse(readFileSync(file, 'latin1')) as { context: string };
    const context = JSON.parse(data.context) as unknown[];
    context[1] = 'another-compiler';
    writeFileSync(other, JSON.stringify({ ...data, context: JSON.stringify(context) }));
    const r = RulesCache.read(other, {});
    expect(r.error).toBeUndefined();
    expect(r.cache.size).toBe(0);
  });

  it('refuses a file others may have written, and reports a malformed one', () => {
    const file = join(base, '252.json');
    const copy = join(base, 'copy.json');
    cpSync(file, copy);
    expect(RulesCache.read(copy, {}).cache.size).toBeGreaterThan(0);
    chmodSync(copy, 0o666);
    const writable = RulesCache.read(copy, {});
    expect(writable.error).toMatch(/not trusted \(owner 0, mode 666\)/);
    expect(writable.cache.size).toBe(0);
    chmodSync(copy, 0o644);
    chownSync(copy, 65534, 65534);
    const foreign = RulesCache.read(copy, {});
    expect(foreign.error).toMatch(/not trusted \(owner 65534/);
    expect(foreign.cache.size).toBe(0);
    for (const text of ['{', '{"context":' + JSON.stringify(JSON.parse(readFileSync(file, 'latin1')).context) + ',"files":[[1,2,3]]}']) {
      writeFileSync(join(base, 'bad.json'), text);
      const bad = RulesCache.read(join(base, 'bad.json'), {});
      expect(bad.error).toMatch(/bad\.json: /);
      expect(bad.cache.size).toBe(0);
    }
    expect(RulesCache.read(join(base, 'none.json'), {})).toEqual({ cache: expect.objectContaining({ size: 0 }) });
  });
});

const stampOf = (path: string) => fileStamp(statSync(path));

describe('the daemon and devctl test share compiled rules', () => {
  it('devctl test takes the files the daemon compiled, with the same result, and compiles a changed one', async () => {
    const roots = tempRoots('dm-rules-cache-daemon-');
    const n = rulesCopy(referenceUdev257().rulesDir, roots.rules);
    let daemon: Daemon | undefined;
    try {
      daemon = await Daemon.start({ config: testConfig(roots), netlink: false, watch: false, logger: createLogger({ level: 'error', pretty: false }) });
      const cacheFile = rulesCachePath(roots.run);
      for (let i = 0; i < 100 && !existsSync(cacheFile); i++) await sleep(50);
      expect(existsSync(cacheFile)).toBe(true);

      // the daemon processed no event: its database holds nothing a run directory without the cache lacks (one for
      // each device: devctl keeps what it compiled there)
      const noCache = () => mkdtempSync(join(roots.base, 'run-without-cache-'));
      const test = (run: string, dev: string) => {
        // --local: the cache, not the daemon, which runs the test itself otherwise (test/devctl-test/in-daemon.test.ts)
        const r = devctl(['test', '--local', '--json', '--sysfs', '/sys', '--dev', roots.dev, '--run', run, '--rules-dir', roots.rules, dev]);
        expect(r.status, r.stderr).toBe(0);
        const j = JSON.parse(r.stdout) as { rulesFromCache: number; properties: Record<string, string> };
        delete j.properties.USEC_INITIALIZED; // the time of the run
        return j;
      };
      for (const dev of ['/sys/devices/virtual/mem/null', '/sys/devices/virtual/net/lo', '/sys/devices/virtual/tty/tty1']) {
        const cached = test(roots.run, dev);
        const compiled = test(noCache(), dev);
        expect(cached.rulesFromCache).toBe(n);
        expect(compiled.rulesFromCache).toBe(0);
        expect({ ...cached, rulesFromCache: 0 }).toEqual(compiled);
      }

      appendFileSync(join(roots.rules, '50-udev-default.rules'), 'KERNEL=="null", ENV{CACHE_TEST}="changed"\n');
      const changed = test(roots.run, '/sys/devices/virtual/mem/null');
      expect(changed.rulesFromCache).toBe(n - 1);
      expect(changed.properties.CACHE_TEST).toBe('changed');

      // a reload writes the new version once the daemon is idle again
      const before = statSync(cacheFile).mtimeMs;
      await daemon.rules.load();
      for (let i = 0; i < 100 && statSync(cacheFile).mtimeMs === before; i++) await sleep(50);
      expect(test(roots.run, '/sys/devices/virtual/mem/null').rulesFromCache).toBe(n);
    } finally {
      await daemon?.stop();
      roots.cleanup();
    }
  });
});

describe('devctl test keeps what it compiled where no daemon gave it', () => {
  it('adds the files it compiled to the cache of devMaster\'s run directory, and the next test takes them', () => {
    const base = mkdtempSync(join(tmpdir(), 'dm-rules-cache-devctl-'));
    try {
      const rules = join(base, 'rules');
      const other = join(base, 'other');
      const n = rulesCopy(referenceUdev257().rulesDir, rules);
      mkdirSync(other);
      writeFileSync(join(other, '10-other.rules'), 'KERNEL=="null", ENV{OTHER}="1"\n');
      const run = join(base, 'run');
      mkdirSync(join(run, 'devmaster'), { recursive: true }); // as a daemon leaves it (one that stopped, say)
      const cacheFile = rulesCachePath(run);
      const test = (dir: string, runDir = run) => {
        const r = devctl(['test', '--json', '--sysfs', '/sys', '--dev', join(base, 'dev'), '--run', runDir, '--rules-dir', dir, '/sys/devices/virtual/mem/null']);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toBe('');
        const j = JSON.parse(r.stdout) as { rulesFromCache: number; rulesFiles: number; properties: Record<string, string> };
        delete j.properties.USEC_INITIALIZED; // the time of the run
        return j;
      };
      const cachedPaths = () => (JSON.parse(readFileSync(cacheFile, 'latin1')) as { files: [string][] }).files.map((e) => e[0]).sort();

      // the first test compiles every file and writes them, root's and no one else's to write; the next takes them
      const first = test(rules);
      expect(first).toMatchObject({ rulesFiles: n, rulesFromCache: 0 });
      const st = statSync(cacheFile);
      expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: 0, mode: 0o644 });
      const second = test(rules);
      expect(second.rulesFromCache).toBe(n);
      expect({ ...second, rulesFromCache: 0 }).toEqual(first);

      // an edited file is compiled again and written back; the others stay
      appendFileSync(join(rules, '50-udev-default.rules'), 'KERNEL=="null", ENV{CACHE_TEST}="edited"\n');
      const edited = test(rules);
      expect(edited.rulesFromCache).toBe(n - 1);
      expect(edited.properties.CACHE_TEST).toBe('edited');
      expect(test(rules)).toMatchObject({ rulesFromCache: n, properties: { CACHE_TEST: 'edited' } });

      // a test of other rules directories adds theirs beside the first set's, which stays current
      expect(test(other).rulesFromCache).toBe(0);
      expect(test(rules).rulesFromCache).toBe(n);
      expect(test(other)).toMatchObject({ rulesFromCache: 1, properties: { OTHER: '1' } });
      expect(cachedPaths()).toContain(join(other, '10-other.rules'));

      // a write leaves out files no longer in the version held: the other set's file, edited, then a file compiled
      writeFileSync(join(other, '10-other.rules'), 'KERNEL=="null", ENV{OTHER}="2"\n');
      appendFileSync(join(rules, '60-block.rules'), '# edited\n');
      expect(test(rules).rulesFromCache).toBe(n - 1);
      expect(cachedPaths()).not.toContain(join(other, '10-other.rules'));
      expect(cachedPaths()).toHaveLength(n);

      // where devMaster never ran (no devmaster directory in the run directory, or no run directory), nothing is
      // made or written, and the test runs as ever
      const bare = join(base, 'bare-run');
      mkdirSync(bare);
      expect(test(rules, bare).rulesFromCache).toBe(0);
      expect(readdirSync(bare)).toEqual([]);
      const missing = join(base, 'no-such-run');
      expect(test(rules, missing).rulesFromCache).toBe(0);
      expect(existsSync(missing)).toBe(false);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('the daemon takes its rules from a cache at start', () => {
  /** The warnings (and worse) a captured logger got, as "msg: err". */
  const warningsIn = (lines: LogLine[]) => lines.filter((l) => l.level >= 40).map((l) => `${l.msg}: ${String(l.err)}`);
  /** The daemon's compiled files, as JSON with their keys sorted (without the patterns, made on first use), by path. */
  const compiledOf = (d: Daemon) => Object.fromEntries(d.rules.compiledFiles().map((f) => [f.path, canonical(f.file as CompiledFile)]));

  it('from the kept copy after a boot and from the run directory after a restart, in the version on disk, as it compiled them', async () => {
    const roots = tempRoots('dm-rules-cache-start-');
    const n = rulesCopy(referenceUdev257().rulesDir, roots.rules);
    const kept = join(roots.base, 'var-cache-devmaster');
    const keptFile = join(kept, 'rules-cache.json');
    const { logger, lines } = captureLogger();
    /** A start on a run directory (a fresh one: a boot); stopped once it wrote its caches. */
    const start = async (run: string) => {
      mkdirSync(run, { recursive: true });
      const before = existsSync(keptFile) ? statSync(keptFile).mtimeMs : 0;
      const d = await Daemon.start({ config: testConfig(roots, { run, cacheDir: kept }), netlink: false, watch: false, logger });
      try {
        for (let i = 0; i < 100 && !(existsSync(keptFile) && statSync(keptFile).mtimeMs !== before && existsSync(rulesCachePath(run))); i++) await sleep(50);
        return { fromCache: d.rules.status().fromCache, compiled: compiledOf(d), files: d.rules.status().files.length };
      } finally {
        await d.stop();
      }
    };
    try {
      // the first start compiles every file, and keeps them in both places (the kept one's directory made)
      const first = await start(join(roots.base, 'boot1'));
      expect(first).toMatchObject({ fromCache: 0, files: n });
      expect(statSync(keptFile).mode & 0o777).toBe(0o644);
      expect(JSON.parse(readFileSync(keptFile, 'latin1'))).toEqual(JSON.parse(readFileSync(rulesCachePath(join(roots.base, 'boot1')), 'latin1')));

      // a boot: a fresh run directory, every file from the kept copy, the same compiled rules
      const second = await start(join(roots.base, 'boot2'));
      expect(second.fromCache).toBe(n);
      expect(second.compiled).toEqual(first.compiled);

      // an edited file is compiled again, in its new version; the others come from the cache
      const edited = join(roots.rules, '50-udev-default.rules');
      appendFileSync(edited, 'KERNEL=="null", ENV{CACHE_TEST}="edited"\n');
      const third = await start(join(roots.base, 'boot3'));
      expect(third.fromCache).toBe(n - 1);
      expect(third.compiled[edited]).toContain('CACHE_TEST');

      // a restart in the same boot takes the run directory's cache: the kept copy gone, every file still taken
      rmSync(kept, { recursive: true });
      const restart = await start(join(roots.base, 'boot3'));
      expect(restart.fromCache).toBe(n);
      expect(restart.compiled).toEqual(third.compiled);
      expect(warningsIn(lines)).toEqual([]);
      expect(lines.filter((l) => l.msg === 'rules loaded').map((l) => l.fromCache)).toEqual([0, n, n - 1, n]);
    } finally {
      roots.cleanup();
    }
  });

  it("never takes a file devctl test compiled (its names looked up when a line runs), nor a cache others could write", async () => {
    const roots = tempRoots('dm-rules-cache-start-');
    const n = rulesCopy(referenceUdev257().rulesDir, roots.rules);
    const { logger, lines } = captureLogger();
    const start = async (run: string, cacheDir?: string) => {
      const d = await Daemon.start({ config: testConfig(roots, { run, cacheDir }), netlink: false, watch: false, logger });
      try {
        for (let i = 0; i < 100 && !existsSync(rulesCachePath(run)); i++) await sleep(50);
        return { status: d.rules.status(), compiled: d.rules.compiledFiles() };
      } finally {
        await d.stop();
      }
    };
    try {
      const run = join(roots.base, 'run1');
      mkdirSync(run);
      expect((await start(run)).status.fromCache).toBe(0);
      // devctl test compiles a file the daemon never did (added since) and adds it to the run directory's cache
      const added = join(roots.rules, '99-group.rules');
      writeFileSync(added, 'KERNEL=="null", GROUP="disk", ENV{ADDED}="1"\n');
      const r = devctl(['test', '--local', '--json', '--sysfs', '/sys', '--dev', roots.dev, '--run', run, '--rules-dir', roots.rules, '/sys/devices/virtual/mem/null']);
      expect(r.status, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { rulesFromCache: number }).rulesFromCache).toBe(n);
      const entries = (JSON.parse(readFileSync(rulesCachePath(run), 'latin1')) as { files: unknown[][] }).files;
      expect(entries.find((e) => e[0] === added)?.[3]).toBe(1); // late: its name looked up when the line runs
      // the daemon compiles it itself, its group resolved now; the rest it takes
      const next = await start(run);
      expect(next.status.fromCache).toBe(n);
      const group = next.compiled.find((f) => f.path === added)!.file.lines[0]!.tokens.find((t) => t.key === 'GROUP')!;
      expect(group.num).toBe(Number(execFileSync('getent', ['group', 'disk'], { encoding: 'utf8' }).split(':')[2]));

      // a kept copy others could write, or a malformed one: not used (warned), every file compiled
      const kept = join(roots.base, 'kept');
      mkdirSync(kept);
      cpSync(rulesCachePath(run), join(kept, 'rules-cache.json'));
      chmodSync(join(kept, 'rules-cache.json'), 0o666);
      const fresh = join(roots.base, 'run2');
      mkdirSync(fresh);
      expect((await start(fresh, kept)).status.fromCache).toBe(0);
      expect(warningsIn(lines).join('\n')).toMatch(/rules cache not used: .*not trusted \(owner 0, mode 666\)/);
      writeFileSync(join(kept, 'rules-cache.json'), '{"context":');
      chmodSync(join(kept, 'rules-cache.json'), 0o644);
      const fresh3 = join(roots.base, 'run3');
      mkdirSync(fresh3);
      expect((await start(fresh3, kept)).status).toMatchObject({ fromCache: 0, files: expect.any(Array) });
      expect(warningsIn(lines).join('\n')).toMatch(/rules cache not used: .*kept\/rules-cache\.json: /);
      // and once idle it wrote a good one there again
      expect(RulesCache.read(join(kept, 'rules-cache.json'), {}).cache.size).toBe(n + 1);
    } finally {
      roots.cleanup();
    }
  });
});
