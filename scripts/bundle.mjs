// Bundles the two executables after tsc (docs/ARCHITECTURE.md, "Build"; docs/PERFORMANCE.md, "Start-up").
//
// src/cli/NAME.ts → dist/bundle/NAME.cjs: one CommonJS file each (esbuild), so a start reads one file instead of
// resolving and loading a hundred ES modules. Dynamic import()s stay lazy inside the bundle (esbuild wraps the
// module and runs it on first import), so a verb or a daemon part is evaluated only when it runs. The native
// addons (koffi, netlink) stay in node_modules, required at run time. dist/cli/NAME.js becomes the shebang line
// of src/cli/NAME.ts and a call of dist/cli/launch.cjs, which runs the bundle with V8's code cache
// (dist/bundle/NAME.cache, written here by a run of NAME --help under the shebang's V8 flags).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const EXECUTABLES = ['devmaster', 'devctl'];
/** Packages with native code: loaded from node_modules at run time, never bundled. */
const NATIVE = ['koffi', 'netlink'];

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: Object.fromEntries(EXECUTABLES.map((n) => [n, `src/cli/${n}.ts`])),
  outdir: 'dist/bundle',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: NATIVE,
  // import.meta.url (PACKAGE_ROOT, createRequire) as the bundle's own URL: dist/bundle is as deep as dist/config.
  define: { 'import.meta.url': '__bundle_url' },
  banner: { js: "const __bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

writeFileSync('dist/cli/package.json', '{ "type": "commonjs" }\n');
for (const name of EXECUTABLES) {
  // The launcher compiles the bundle inside a function: a shebang line there would be a syntax error.
  const bundle = `dist/bundle/${name}.cjs`;
  writeFileSync(bundle, readFileSync(bundle, 'utf8').replace(/^#!.*\n/, ''));
  const shebang = readFileSync(`src/cli/${name}.ts`, 'utf8').split('\n', 1)[0];
  if (!shebang.startsWith('#!')) throw new Error(`src/cli/${name}.ts: no shebang line`);
  const exe = join('dist/cli', `${name}.js`);
  writeFileSync(exe, `${shebang}\n// The bundle of src/cli/${name}.ts (scripts/bundle.mjs).\nrequire('./launch.cjs').launch('${name}');\n`);
  chmodSync(exe, 0o755);
  rmSync(`${exe}.map`, { force: true });

  // The code cache: V8 accepts it only under the same flags, so it is made under the shebang's flags.
  const flags = shebang.replace(/^#!\/usr\/bin\/env (-S )?node/, '').trim().split(/\s+/).filter(Boolean);
  const r = spawnSync(process.execPath, [...flags, '-e', `require('./dist/cli/launch.cjs').writeCodeCache(${JSON.stringify(name)}, ['--help'])`], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`writing the code cache of ${name} failed (${r.status ?? r.signal})`);
}
