// devctl reload [--dry-run] [FILE|DIR]...: reload the daemon's rules, or preview what a rules change would do to
// every device before it is applied (src/preview/impact.ts). See docs/OBSERVABILITY.md.
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseVerbArgs, UsageError } from './common.js';
import { parseSeconds } from './time.js';
import { controlRequest } from '../daemon/control-client.js';
import { rulesDirs, rulesFiles } from '../config/rules-path.js';
import { compileRulesFile, RuleSet } from '../rules/load.js';
import { formatDiagnostic } from '../rules/compile.js';
import { exitBuiltins, initBuiltins } from '../builtins/registry.js';
import { levelLogger } from '../log.js';
import { rulesImpact, type Change, type ImpactReport } from '../preview/impact.js';

export const summary = "Reload the daemon's rules, or preview a rules change on every device";

export const help = `devctl reload [OPTIONS] [FILE|DIR]...

Without --dry-run: asks the running daemon to reload its rules (as devctl control --reload) and reports the
result: files rejected for errors (their previous version stays) and a reload the daemon refused because it
would change more devices than its reload_max_impact.

With --dry-run: changes nothing, and shows what a rules change would do before it is applied. The candidate
rules set is the rules search path (or --rules-dir) with each FILE given, and each *.rules file of each DIR
given, in place of the file of the same name (or added to the set; an empty FILE removes it). It runs in test
mode over every device (as devctl test: PROGRAM and IMPORT{program} run, RUN and attribute writes do not) and
is compared with what is in force: the database under --run (properties, symlinks, tags), the device nodes
under --dev (owner, group, mode) and the interface names (NAME=). Every device that would change is printed
with its changes. A device that differs in the same way under the search path's own files (one never
processed, say) is listed apart as drift: the candidate does not cause it. (Without FILE or DIR the search path
itself is the candidate, and every difference is listed as a change.)

Options:
  -n, --dry-run                 preview, do not reload
      --json                    print the preview (or the reload's result) as JSON
  -a, --action=ACTION           the event the preview runs (default add: the state a coldplug makes)
  -N, --resolve-names=early|never
  -t, --timeout=SECONDS         how long to wait for the daemon's reload (default 120)
  -h, --help                    show this help

Global options: --run DIR, --dev DIR, --sysfs DIR, --rules-dir DIR (the search path), --config FILE.
Exit status: 0 on success; 1 when the candidate has errors, the daemon does not answer or refused the reload.
`;

const ACTIONS = ['add', 'change', 'remove', 'move', 'online', 'offline', 'bind', 'unbind'];

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, config, roots } = parseVerbArgs(argv, {
    'dry-run': { type: 'boolean', short: 'n' },
    json: { type: 'boolean' },
    action: { type: 'string', short: 'a' },
    'resolve-names': { type: 'string', short: 'N' },
    timeout: { type: 'string', short: 't' },
  });
  if (!values['dry-run']) {
    if (positionals.length) throw new UsageError('FILE and DIR arguments need --dry-run (a reload reads the rules directories)');
    return reloadDaemon(roots.run, parseSeconds((values.timeout as string | undefined) ?? '120', '--timeout') * 1000, values.json === true);
  }
  const action = (values.action as string | undefined) ?? 'add';
  if (!ACTIONS.includes(action)) throw new UsageError(`--action: unknown action '${action}' (expected ${ACTIONS.join(', ')})`);
  const resolveNames = (values['resolve-names'] as string | undefined) ?? config.resolveNames;
  if (resolveNames !== 'early' && resolveNames !== 'never') throw new UsageError(`--resolve-names: expected early or never, got '${resolveNames}'`);

  const dirs = rulesDirs(config.rulesDirs);
  const files = candidateFiles(dirs, positionals);
  const compiled = await Promise.all(files.map((f) => compileRulesFile(f, { resolveNames })));
  const errors = compiled.flatMap((c) => c.diagnostics.filter((d) => d.severity === 'error'));
  if (errors.length) {
    for (const d of errors) process.stderr.write(formatDiagnostic(d) + '\n');
    process.stderr.write(`devctl reload: the candidate has ${errors.length} error(s): the daemon would reject the files concerned (their previous version stays); no preview\n`);
    return 1;
  }
  // the rules in force: the search path as it is (the daemon's, unless a file on disk was rejected for errors)
  const baseline = positionals.length ? new RuleSet(await Promise.all(rulesFiles(dirs).map((f) => compileRulesFile(f, { resolveNames })))) : undefined;
  const builtins = await initBuiltins(roots, { hwdbBin: config.hwdbBin, configFile: config.configFile });
  let report: ImpactReport;
  try {
    report = await rulesImpact({ roots, ruleSet: new RuleSet(compiled), baseline, builtins, log: levelLogger(values.json ? 'silent' : 'error'), execTimeoutMs: config.execTimeout * 1000, action });
  } finally {
    exitBuiltins(builtins);
  }
  if (values.json) process.stdout.write(JSON.stringify({ rulesFiles: files, run: roots.run, ...report }, null, 2) + '\n');
  else process.stdout.write(formatImpact(report, files.length, roots.run));
  return 0;
}

/** The search path's rules files with the given files (and the *.rules of the given directories) put in by name. */
export function candidateFiles(dirs: readonly string[], args: readonly string[]): string[] {
  const byName = new Map(rulesFiles(dirs).map((p) => [basename(p), p]));
  for (const a of args) {
    let st;
    try {
      st = statSync(a);
    } catch (e) {
      throw new UsageError(`${a}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    const paths = st.isDirectory() ? readdirSync(a).filter((n) => n.endsWith('.rules')).map((n) => join(a, n)) : [a];
    for (const p of paths) byName.set(basename(p), p);
  }
  return [...byName.keys()].sort().map((n) => byName.get(n)!);
}

function describe(c: Change): string {
  const q = (v: string | undefined) => (v === undefined ? '(none)' : `"${v}"`);
  switch (c.what) {
    case 'property':
      if (c.before === undefined) return `property  +${c.key}=${q(c.after)}`;
      if (c.after === undefined) return `property  -${c.key} (was ${q(c.before)})`;
      return `property  ${c.key}: ${q(c.before)} → ${q(c.after)}`;
    case 'link':
    case 'tag':
      return `${c.what.padEnd(8)}  ${c.after !== undefined ? `+${c.after}` : `-${c.before}`}`;
    default:
      return `${c.what.padEnd(8)}  ${c.before} → ${c.after}`;
  }
}

/** The text report of a preview. */
export function formatImpact(r: ImpactReport, files: number, run: string): string {
  const out = [`Rules preview: ${r.changed.length} of ${r.devices} devices would change (action "${r.action}", ${files} rules files, compared with ${run}).`];
  for (const d of r.changed) {
    out.push('', `${d.devpath} (${d.subsystem ?? '-'} ${d.sysname})`);
    for (const c of d.changes) out.push(`  ${describe(c)}`);
  }
  if (r.drift.length) {
    out.push('', `${r.drift.length} more device(s) differ from the database in the same way under the rules in force (drift, not caused by the candidate; --json shows how):`);
    for (const d of r.drift) out.push(`  ${d.devpath}`);
  }
  if (r.errors.length) {
    out.push('', `The rules failed on ${r.errors.length} device(s):`);
    for (const e of r.errors) out.push(`  ${e.devpath}: ${e.error}`);
  }
  return out.join('\n') + '\n';
}

async function reloadDaemon(run: string, timeoutMs: number, json: boolean): Promise<number> {
  let res: Record<string, unknown>;
  try {
    res = await controlRequest(run, { command: 'reload' }, timeoutMs);
  } catch (e) {
    process.stderr.write(`devctl reload: ${(e as Error).message}\n`);
    return 1;
  }
  const refused = res.refused as { reason: string } | undefined;
  if (json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
  const errors = Array.isArray(res.errors) ? (res.errors as unknown[]) : [];
  if (!json && errors.length) {
    process.stderr.write(`devctl reload: ${errors.length} rules error(s), the previous version of those files stays in force:\n`);
    for (const e of errors) process.stderr.write(`  ${String(e)}\n`);
  }
  if (refused) {
    if (!json) process.stderr.write(`devctl reload: refused by the daemon, the current rules stay in force: ${refused.reason}\n`);
    return 1;
  }
  if (!json) process.stdout.write(`rules generation ${String(res.generation)}, ${String(res.files)} files\n`);
  return 0;
}
