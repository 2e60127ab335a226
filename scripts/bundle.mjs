// Bundles the two executables after tsc (docs/ARCHITECTURE.md, "Build"; docs/PERFORMANCE.md, "Start-up").
//
// src/cli/NAME.ts → dist/bundle/NAME.cjs and its chunks dist/bundle/NAME-*.cjs, so that a start reads a few files
// instead of resolving and loading a hundred ES modules, and only what it runs: esbuild splits the code at the
// dynamic import()s (each devctl verb, the daemon's parts loaded after its configuration) into chunks, as ES
// modules; each is then turned into CommonJS (import() into require()), which dist/cli/launch.cjs compiles with
// V8's code cache. Each package of node_modules gets a file of its own, NAME-vendor-PACKAGE.cjs, read only when
// it is first required (pino by the first logger, chokidar by the first watch, smol-toml by a config file, koffi's
// JavaScript by the first C call); native code stays in node_modules, required at run time: netlink, and koffi's
// package for the platform (@koromix/koffi-PLATFORM: its .node file and the loader that picks it).
// dist/cli/NAME.js becomes the shebang line of src/cli/NAME.ts (exeLine()) and a call of launch(NAME); the code caches
// (dist/bundle/*.cache) are written by a run of NAME under the shebang's V8 flags (writeCodeCaches below).
import { build, transform } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

const EXECUTABLES = ['devmaster', 'devctl'];
/** Packages with native code: loaded from node_modules at run time, never bundled. */
const NATIVE = ['netlink', '@koromix/*'];
/** The other packages src/ imports: each bundled into a file of its own. */
const VENDORED = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies).filter((p) => !NATIVE.includes(p));
/**
 * Files of the native packages bundled all the same, each into NAME-vendor-FILE.cjs: netlink's raw socket (its
 * JavaScript; its addon stays in node_modules, found as NETLINK_ADDON below says).
 */
const VENDORED_FILES = { 'netlink/dist/raw.js': 'netlink-raw' };
const OUT = 'dist/bundle';
const nodeRequire = createRequire(import.meta.url);

/**
 * The file a vendored package is bundled from. koffi's "exports" name an ES module for import and CommonJS for
 * require(): src/sys/libc.ts requires it, so its CommonJS file (whose own require() of the platform's package is a
 * plain one; its ES module's goes through import.meta.url, which a bundle does not have).
 */
const entryOf = (p) => (p === 'koffi' || p in VENDORED_FILES ? nodeRequire.resolve(p) : p);
/** The name of a vendored package's (or file's) bundle file: NAME-vendor-THIS.cjs. */
const vendorName = (p) => VENDORED_FILES[p] ?? p;

/**
 * koffi's CommonJS file falls back, when no @koromix/koffi-PLATFORM package loads, to a koffi.node built at install
 * time under its own directory (build/koffi/TRIPLET/), which it finds from __dirname: in the bundle, that directory
 * is found at run time, the way Node finds koffi, and only then.
 */
const KOFFI_FALLBACK = 'loadDynamic2(__dirname, pkg, triplets)';
/**
 * Two more changes, each for a start's time (docs/PERFORMANCE.md, "Start-up"), neither for what koffi does once
 * loaded:
 * - node:module, which koffi requires at its load for a require() of its fallback's file (it loads Node's ES module
 *   loader with it, compiled without Node's code cache under the daemon's V8 flags: about 2 ms), is required when
 *   that fallback runs;
 * - where no musl dynamic loader is installed, the package's glibc build (@koromix/koffi-PLATFORM/TRIPLET/koffi.node)
 *   is required straight; the package's own loader, still used when that fails or a musl loader is there, reads
 *   node's ELF program headers at each start to choose between its glibc and musl builds (with its compile and
 *   resolution: about 4 ms).
 */
const KOFFI_EDITS = [
  [KOFFI_FALLBACK, `loadDynamic2(require('node:path').dirname(require('node:module').createRequire(__filename).resolve('koffi')) + '/src/koffi', pkg, triplets)`],
  ['import_node_module = require("node:module");', ''],
  ['require2 = (0, import_node_module.createRequire)(__filename);', 'require2 = (id) => require("node:module").createRequire(__filename)(id);'],
  [
    'var native = loadStatic(pkg) ?? ',
    `var native = loadGlibcBuild(pkg, triplets) ?? loadStatic(pkg) ?? `,
  ],
];
const KOFFI_GLIBC = `
function loadGlibcBuild(pkg, triplets) {
  const musl = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i386', arm: 'armhf', riscv64: 'riscv64', ppc64: 'powerpc64le', s390x: 's390x', loong64: 'loongarch64' }[process.arch];
  if (process.platform !== 'linux' || musl === undefined || require('node:fs').existsSync('/lib/ld-musl-' + musl + '.so.1')) return null;
  try {
    const m = require('@koromix/koffi-' + pkg + '/' + triplets[0] + '/koffi.node');
    return m?.version == null ? null : m;
  } catch {
    return null;
  }
}
`;
/** A package file's text with each `[from, to]` of `edits` made, each `from` found exactly once, or the build fails. */
function edited(path, text, edits) {
  for (const [from, to] of edits) {
    if (text.split(from).length !== 2) throw new Error(`${path}: '${from}' not found once (another version of the package? see scripts/bundle.mjs)`);
    text = text.replace(from, to);
  }
  return text;
}

/**
 * netlink's raw socket finds its addon with node-gyp-build, which reads the package's package.json and lists and
 * parses its prebuilds directory at each start (its two files, and raw.js, compiled without a code cache: about
 * 4 ms of a start, with the resolution). In the bundle raw.js requires the prebuild straight where that is what
 * node-gyp-build would take (no NETLINK_PREBUILD in the environment, no build of the package's own, one prebuild for
 * the platform and no other), and asks node-gyp-build, from the package's directory, otherwise.
 */
const NETLINK_BINDING = "const binding = require('node-gyp-build')(__dirname + '/..');";
const NETLINK_ADDON = `const binding = (() => {
  const { dirname, join } = require('node:path');
  const { existsSync, readdirSync } = require('node:fs');
  const dir = dirname(require.resolve('netlink/package.json'));
  const prebuilds = join(dir, 'prebuilds', process.platform + '-' + process.arch);
  let only;
  try {
    const files = readdirSync(prebuilds);
    only = files.length === 1 && files[0] === 'node.napi.node';
  } catch {
    only = false;
  }
  if (only && process.env.NETLINK_PREBUILD === undefined && !existsSync(join(dir, 'build'))) return require(join(prebuilds, 'node.napi.node'));
  return require(require.resolve('node-gyp-build', { paths: [dir] }))(dir);
})();`;
const netlinkAddon = {
  name: 'netlink-addon',
  setup(b) {
    b.onLoad({ filter: /\/node_modules\/netlink\/dist\/raw\.js$/ }, async ({ path }) => {
      return { contents: edited(path, await readFile(path, 'utf8'), [[NETLINK_BINDING, NETLINK_ADDON]]), loader: 'js' };
    });
  },
};

const koffiDir = {
  name: 'koffi-dir',
  setup(b) {
    b.onLoad({ filter: /\/node_modules\/koffi\/src\/koffi\/index\.cjs$/ }, async ({ path }) => {
      return { contents: edited(path, await readFile(path, 'utf8'), KOFFI_EDITS) + KOFFI_GLIBC, loader: 'js' };
    });
  },
};

/**
 * The chunks an entry always loads: those it imports statically, and theirs, from esbuild's metafile (absolute paths,
 * in no particular order: each is run when first required).
 */
function alwaysLoaded(metafile, entry) {
  const found = new Set();
  const visit = (out) => {
    for (const i of metafile.outputs[out].imports) {
      if (i.kind !== 'import-statement' || i.external || found.has(i.path)) continue;
      found.add(i.path);
      visit(i.path);
    }
  };
  visit(entry);
  return [...found].map((f) => resolve(f));
}

/**
 * The lazy require of src/: `const require = createRequire(import.meta.url);` at a module's top. Without that
 * line the module's `require('x')` calls are the bundle's own, which esbuild resolves at build time (to x's own file,
 * vendor() below) and which load x on the first call, as the unbundled module does.
 */
const LAZY_REQUIRE = 'const require = createRequire(import.meta.url);';
const lazyRequire = {
  name: 'lazy-require',
  setup(b) {
    b.onLoad({ filter: /\/src\/.*\.ts$/ }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      return text.includes(LAZY_REQUIRE) ? { contents: text.replace(LAZY_REQUIRE, ''), loader: 'ts' } : undefined;
    });
  },
};

/** Imports of a vendored package go to NAME-vendor-PACKAGE.cjs, loaded (by the launcher) when first required. */
function vendor(name, used) {
  return {
    name: 'vendor',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, ({ path }) => {
        if (!VENDORED.includes(path) && !(path in VENDORED_FILES)) return undefined;
        used.add(path);
        return { path: `./${name}-vendor-${vendorName(path)}.cjs`, external: true };
      });
    },
  };
}

/** esbuild's import of one of NAME's own chunks in Node's mode: `__toESM(require("./NAME-x.cjs"),1)`. */
const ownChunkImport = (name) => new RegExp(`__toESM\\(require\\("(\\./${name}-(?!vendor-)[^"]+\\.cjs)"\\),1\\)`, 'g');

const common = { outdir: OUT, outExtension: { '.js': '.cjs' }, bundle: true, platform: 'node', target: 'node20', minifyWhitespace: true, minifySyntax: true, logLevel: 'warning' };
/**
 * import.meta.url in the bundle, made when first read, in the files that use it alone (not a banner: what a file
 * runs when it loads, every start pays).
 */
const BUNDLE_META = "const __bundle_meta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };\n";
/**
 * The executable's #! line, from the source's `#!/usr/bin/env -S node FLAGS`. A build run by /usr/bin/node (a
 * distribution's, for the node docs/INSTALL.md requires) names it there: no exec of env before node (env's locale
 * set-up and PATH search cost a one-shot devctl verb 1.5-3 ms of the ~12 it spends above `node -e 0`), and the
 * node that runs the executable is the one its code caches were made by. Linux gives an interpreter the rest of the
 * #! line as one argument, so that line can carry one flag at most (devctl's); with more (the daemon's), or when
 * another node builds (a development tree, whose node may move), the line stays env's, which finds node on PATH.
 */
function exeLine(shebang) {
  const flags = shebangFlags(shebang);
  let system;
  try {
    system = realpathSync('/usr/bin/node') === realpathSync(process.execPath);
  } catch {
    system = false;
  }
  return system && flags.length <= 1 ? ['#!/usr/bin/node', ...flags].join(' ') : shebang;
}

/** The V8 flags of a #! line of node's (env's or /usr/bin/node's). */
function shebangFlags(line) {
  const m = /^#!(?:\/usr\/bin\/env (?:-S )?node|\/usr\/bin\/node)(?=\s|$)(.*)$/.exec(line);
  if (!m) throw new Error(`not a #! line of node: ${line}`);
  return m[1].trim().split(/\s+/).filter(Boolean);
}

/** The file's text with its code cache key at the end (src/cli/launch.cts): the cache is used only with it. */
const withKey = (code) => `${code}//# codeCacheKey=${createHash('sha256').update(code).digest('hex').slice(0, 32)}\n`;

/**
 * The code caches of NAME's files (src/cli/launch.cts, writeCodeCache), made under NAME's V8 flags from runs that
 * compile what a start needs, on temporary roots over fixtures/sysfs/basic with the rules of scripts/training/rules.d
 * and rules.d. devctl: `devctl info` of a fixture disk; in another process `devctl test` of it twice (the rules
 * parsed and compiled, then taken from the rules cache the first run wrote); then `devctl --help`, which loads every
 * verb's module, for the files neither loaded. The functions a verb runs are then found compiled (`devctl test`'s
 * rules parser, compiler and cache and its event run, where no devMaster runs it; `devctl info`'s device model in its
 * own file, not in test's). The daemon: a start, and after its readiness a "change" event of each
 * fixture device (Daemon.rehearse(), src/daemon/rehearsal.ts), so that the caches hold the functions its start runs
 * (the rules parser and compiler, the sockets, the control server) and those of the event path, which a start
 * otherwise compiles one by one during its first events. When those runs cannot run here (a sandbox that refuses
 * the daemon's netlink sockets), the caches come from `NAME --help` alone, with a warning. The caches are then
 * checked in a fresh process under the same flags: a cache V8 refuses would cost every start its whole compile,
 * unseen.
 */
async function writeCodeCaches(name, flags) {
  const train = (runs, stop = '', only) =>
    spawnSync(process.execPath, [...flags, '-e', `${stop}require('./dist/cli/launch.cjs').writeCodeCache(${JSON.stringify(name)}, ${JSON.stringify(runs)}, ${JSON.stringify(only)})`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 60_000 });
  const tmp = mkdtempSync(join(tmpdir(), `${name}-train-`));
  try {
    for (const d of ['run', 'dev']) mkdirSync(join(tmp, d));
    writeFileSync(join(tmp, 'config.toml'), '');
    const roots = ['--sysfs', 'fixtures/sysfs/basic/sys', '--run', join(tmp, 'run'), '--dev', join(tmp, 'dev'), '--config', join(tmp, 'config.toml')];
    const rules = ['--rules-dir', 'scripts/training/rules.d', '--rules-dir', 'rules.d'];
    let r;
    if (name === 'devmaster') {
      // an hwdb.bin of devMaster's own hwdb/ and of scripts/training/hwdb.d, whose entries the fixture devices'
      // modaliases meet, so that the hwdb builtin's reader and look-ups are run: a start would find none here
      const { updateHwdb } = await import('../dist/hwdb/index.js');
      const hwdbBin = join(tmp, 'hwdb.bin');
      updateHwdb({ dirs: ['hwdb', 'scripts/training/hwdb.d'], output: hwdbBin, sync: false });
      roots.push('--hwdb-bin', hwdbBin);
      // src/daemon/daemon.ts emits devmaster-ready right after READY=1; rehearse() then runs a "change" event of
      // each fixture device through the event path, on these roots, broadcasting nothing (src/daemon/rehearsal.ts)
      r = train([[...roots, ...rules, '--no-mknod', '--unit-backend', 'none', '--log-level', 'warn']], "process.once('devmaster-ready', (d) => d.rehearse().then(() => process.exit(0), (e) => { process.stderr.write(String(e?.stack ?? e)); process.exit(1); }));");
    } else {
      // no devMaster runs there: devctl test runs the event itself, parses and compiles the rules, and keeps them in
      // the rules cache of the run directory (src/rules/cache.ts), where devMaster's directory is; its second run
      // takes them from there
      mkdirSync(join(tmp, 'run', 'devmaster'));
      const disk = '/sys/class/block/sda';
      // each verb in a process of its own, which writes the caches of the files it loaded and no process before it
      // wrote (writeCodeCache(), `only`); then `--help`, which loads every verb, writes the rest
      removeCodeCaches(name);
      for (const runs of [[['info', ...roots, disk]], [['test', ...roots, ...rules, disk], ['test', ...roots, ...rules, disk]]]) {
        r = train(runs, '', 'loaded');
        if (r.status !== 0) break;
      }
      if (r.status === 0) r = train([['--help']], '', 'missing');
    }
    if (r.status === 0) return checkCodeCaches(name, flags);
    process.stderr.write(`warning: the runs for the code caches of ${name} failed (${r.status ?? r.signal}); its caches come from ${name} --help:\n${r.stderr}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const r = train([['--help']]);
  if (r.status !== 0) throw new Error(`writing the code cache of ${name} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  checkCodeCaches(name, flags);
}

/** Removes NAME's code caches, so that each is written by the first training process that loads its file. */
function removeCodeCaches(name) {
  for (const f of readdirSync(OUT)) if ((f.startsWith(`${name}.`) || f.startsWith(`${name}-`)) && f.endsWith('.cache')) rmSync(join(OUT, f));
}

/** Fails the build when V8, in a fresh process under the same flags, refuses one of NAME's code caches. */
function checkCodeCaches(name, flags) {
  const r = spawnSync(process.execPath, [...flags, '-e', `process.stdout.write(JSON.stringify(require('./dist/cli/launch.cjs').refusedCaches(${JSON.stringify(name)})))`], { encoding: 'utf8', timeout: 60_000 });
  const refused = r.status === 0 ? JSON.parse(r.stdout) : undefined;
  if (refused === undefined || refused.length) throw new Error(`the code caches of ${name} (${flags.join(' ')}): ${refused ? `V8 refuses ${refused.join(', ')}` : `not checked (${r.status ?? r.signal}): ${r.stderr}`}`);
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
writeFileSync('dist/cli/package.json', '{ "type": "commonjs" }\n');
for (const name of EXECUTABLES) {
  const used = new Set();
  const { outputFiles, metafile } = await build({
    ...common,
    entryPoints: { [name]: `src/cli/${name}.ts` },
    entryNames: '[name]',
    chunkNames: `${name}-[name]-[hash]`,
    splitting: true,
    format: 'esm',
    external: NATIVE,
    plugins: [lazyRequire, vendor(name, used)],
    // import.meta.url (createRequire) as the file's own URL (BUNDLE_META below), import.meta.dirname (PACKAGE_ROOT) as
    // its directory: dist/bundle is as deep as dist/config.
    define: { 'import.meta.url': '__bundle_meta.url', 'import.meta.dirname': '__dirname' },
    metafile: true,
    write: false,
  });
  const inEntry = alwaysLoaded(metafile, join(OUT, `${name}.cjs`));
  const vendored = await build({
    ...common,
    entryPoints: Object.fromEntries([...used].map((p) => [`${name}-vendor-${vendorName(p)}`, entryOf(p)])),
    format: 'cjs',
    external: NATIVE,
    plugins: [koffiDir, netlinkAddon],
    write: false,
  });
  for (const f of vendored.outputFiles) writeFileSync(f.path, withKey(f.text));
  const cjs = new Map();
  for (const f of outputFiles) {
    // The launcher compiles each file inside a function: the entry's shebang line would be a syntax error there.
    const text = f.text.replace(/^#!.*\n/, '');
    const esm = text.includes('__bundle_meta') ? BUNDLE_META + text : text;
    // sourcefile .mjs: an import of a CommonJS package takes its module.exports as default, as in Node's ES modules
    const sourcefile = basename(f.path).replace(/\.cjs$/, '.mjs');
    const { code } = await transform(esm, { format: 'cjs', platform: 'node', target: 'node20', supported: { 'dynamic-import': false }, minifyWhitespace: true, minifySyntax: true, sourcefile });
    // ...but the bundle's own chunks are ES modules made CommonJS (marked __esModule): an import() of one must give
    // its own default export as `default` (a builtin's module), not its whole exports object, so their imports
    // leave Node's mode (the `,1`) to the packages
    cjs.set(resolve(f.path), code.replace(ownChunkImport(name), '__toESM(require("$1"))'));
  }
  // The chunks the entry always loads go into its file, each defined (not run) before the entry's code: one file
  // to read and one code cache instead of several (src/cli/launch.cts, "defined modules").
  const entry = resolve(OUT, `${name}.cjs`);
  const defineAll = (chunks) => chunks.map((c) => `require.define(${JSON.stringify(basename(c))},function(exports,require,module,__filename,__dirname){${cjs.get(c)}\n});`).join('');
  cjs.set(entry, defineAll(inEntry) + cjs.get(entry));
  const entryOut = Object.keys(metafile.outputs).find((o) => resolve(o) === entry);
  // The daemon loads its parts one after the other (its dynamic imports: the daemon, the rules' loader, the units...):
  // each part's file defines the chunks it always loads that neither the entry nor a part before it (breadth first
  // from the entry, the order a start loads them in) holds, so that a start reads a dozen files, not forty. A part
  // loaded out of that order still finds a chunk it lacks in the chunk's own file.
  if (name === 'devmaster') {
    const parts = [entryOut];
    for (let k = 0; k < parts.length; k++)
      for (const i of metafile.outputs[parts[k]].imports) if (i.kind === 'dynamic-import' && !i.external && !parts.includes(i.path)) parts.push(i.path);
    const held = new Set(inEntry);
    for (const part of parts.slice(1)) {
      const mine = alwaysLoaded(metafile, part).filter((c) => !held.has(c));
      for (const c of mine) held.add(c);
      if (mine.length) cjs.set(resolve(part), defineAll(mine) + cjs.get(resolve(part)));
    }
  }
  // devctl runs one verb: each verb's file defines the chunks the verb always loads and the entry does not hold
  // (shared with other verbs, so also kept as files of their own), so that a verb reads one file more, not ten.
  if (name === 'devctl') {
    for (const i of metafile.outputs[entryOut].imports) {
      if (i.kind !== 'dynamic-import' || i.external) continue;
      const shared = alwaysLoaded(metafile, i.path).filter((c) => !inEntry.includes(c));
      if (shared.length) cjs.set(resolve(i.path), defineAll(shared) + cjs.get(resolve(i.path)));
    }
  }
  for (const c of inEntry) cjs.delete(c);
  for (const [file, code] of cjs) writeFileSync(file, withKey(code));

  const shebang = readFileSync(`src/cli/${name}.ts`, 'utf8').split('\n', 1)[0];
  if (!shebang.startsWith('#!')) throw new Error(`src/cli/${name}.ts: no shebang line`);
  const exe = join('dist/cli', `${name}.js`);
  writeFileSync(exe, `${exeLine(shebang)}\n// The bundle of src/cli/${name}.ts (scripts/bundle.mjs).\nrequire('./launch.cjs').launch('${name}');\n`);
  chmodSync(exe, 0o755);
  rmSync(`${exe}.map`, { force: true });

  // The code caches: V8 accepts them only under the same flags, so they are made under the shebang's flags; the
  // daemon's also under the systemd unit's NODE_OPTIONS=--jitless (NAME.jitless.cache, src/cli/launch.cts).
  const flags = shebangFlags(shebang);
  await writeCodeCaches(name, flags);
  if (name === 'devmaster') await writeCodeCaches(name, [...flags, '--jitless']);
}
