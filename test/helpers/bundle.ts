// Runs the built executables (dist/cli/NAME.js and the bundle in dist/bundle, scripts/bundle.mjs) the way the
// launcher does, and reports what they loaded.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './reference.js';

export const DIST = join(REPO, 'dist');

/** dist/cli/NAME.js's #! line: env's (`#!/usr/bin/env -S node FLAGS`) or /usr/bin/node's (scripts/bundle.mjs). */
export const shebangLine = (name: string): string => readFileSync(join(DIST, 'cli', `${name}.js`), 'utf8').split('\n', 1)[0]!;

/** The V8 flags of dist/cli/NAME.js's shebang line (its code caches are made under them). */
export const shebangFlags = (name: string): string[] =>
  shebangLine(name).replace(/^#!(\/usr\/bin\/env (-S )?node|\/usr\/bin\/node)/, '').trim().split(/\s+/).filter(Boolean);

export interface LaunchReport {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The bundle's files it loaded, with whether V8 took their caches (launch.cjs's loadedFiles()). */
  loaded: { file: string; cacheRejected: boolean | undefined }[];
  /** The files Node's own loader loaded from a node_modules directory (packages left out of the bundle). */
  nodeModules: string[];
}

/** How launchReport() runs node: after `prefix` (a command that execs it, as `unshare --net`); a SIGTERM of its own after `stopAfterMs` (a daemon). */
export interface LaunchOptions {
  prefix?: string[];
  stopAfterMs?: number;
}

/**
 * Runs `root`/cli/NAME.js under `flags` (and `env` over this process's environment) with `args` as the launcher does,
 * and reports the files it loaded (a LOADED line on stderr at exit).
 */
export function launchReport(root: string, name: string, flags: string[], args: string[], env?: NodeJS.ProcessEnv, opts: LaunchOptions = {}): LaunchReport {
  const script = `const l = require(${JSON.stringify(join(root, 'cli', 'launch.cjs'))});
process.argv = [process.argv[0], ${JSON.stringify(join(root, 'cli', `${name}.js`))}, ...${JSON.stringify(args)}];
process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify({ loaded: l.loadedFiles(), nodeModules: Object.keys(require.cache).filter((f) => f.includes('/node_modules/')) }) + '\\n'));
${opts.stopAfterMs === undefined ? '' : `setTimeout(() => process.kill(process.pid, 'SIGTERM'), ${opts.stopAfterMs}).unref();\n`}l.launch(${JSON.stringify(name)});`;
  const [command, ...prefixArgs] = [...(opts.prefix ?? []), process.execPath];
  const r = spawnSync(command!, [...prefixArgs, ...flags, '-e', script], { encoding: 'utf8', env: env && { ...process.env, ...env } });
  const lines = r.stderr.split('\n');
  const report = lines.findIndex((l) => l.startsWith('LOADED '));
  if (report < 0) throw new Error(`no report of the loaded files: ${r.stderr}`);
  const { loaded, nodeModules } = JSON.parse(lines.splice(report, 1)[0]!.slice('LOADED '.length)) as Pick<LaunchReport, 'loaded' | 'nodeModules'>;
  return { status: r.status, stdout: r.stdout, stderr: lines.join('\n').trim(), loaded, nodeModules };
}
