// devctl test [--action=ACTION] [--rules-dir DIR]... DEVICE: runs the rules on a device without side effects
// and shows what each rule line did and the result (what `udevadm test` tells, laid out for people).
import { fail, parseVerbArgs, UsageError } from './common.js';
import { findDevice } from './info/find-device.js';
import { loadRules } from '../rules/load.js';
import { RulesCache, rulesCachePath } from '../rules/cache.js';
import { formatDiagnostic } from '../rules/compile.js';
import { rulesDirs } from '../config/rules-path.js';
import { processEvent, type EventContext } from '../event/process.js';
import type { TraceEntry } from '../rules/exec.js';
import { exitBuiltins, lazyBuiltins } from '../builtins/registry.js';
import { levelLogger, log } from '../log.js';
import { writeTextSync } from '../util/fs.js';

export const summary = 'Run the rules on a device without changing anything';

export const help = `devctl test [OPTIONS] DEVICE

Runs the rules for an event on DEVICE with no side effects: no node, link, database or attribute is changed
and RUN programs are only listed (PROGRAM and IMPORT{program} do run: the rules need their output).
Prints every rule line that acted (file:line and what it did), then the resulting properties, NAME, symlinks,
owner/group/mode, tags and the RUN list.

DEVICE is a /sys path, a /dev node, SUBSYSTEM/SYSNAME or a device id (b8:0, n2, ...).

  -a --action=ACTION   the event's action (default: add)
  -N --resolve-names=early|late|never
     --json            print the result as one JSON object
     --rules-dir DIR   rules directory (repeatable; default: the rules search path)
  -h --help            show this help
  -V --version         show the version
`;

const ACTIONS = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'];

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, config, roots } = parseVerbArgs(argv, {
    action: { type: 'string', short: 'a' },
    'resolve-names': { type: 'string', short: 'N' },
    json: { type: 'boolean' },
  });
  const action = (values.action as string | undefined) ?? 'add';
  if (action === 'help') {
    writeTextSync(1, ACTIONS.join('\n') + '\n');
    return 0;
  }
  if (!ACTIONS.includes(action)) return fail(`Invalid action '${action}'`);
  const names = values['resolve-names'] as string | undefined;
  if (names !== undefined && names !== 'early' && names !== 'late' && names !== 'never') return fail('--resolve-names= must be early, late or never');
  const resolveNames = (names as 'early' | 'late' | 'never' | undefined) ?? config.resolveNames;
  if (positionals.length === 0) return fail('syspath parameter missing.');
  if (positionals.length > 1) throw new UsageError(`expected one DEVICE, got ${positionals.length}`);

  const device = findDevice(roots, positionals[0]!);
  device.action = action;
  const quiet = values.json ? levelLogger('silent') : log();
  // the files the running daemon compiled, in the versions still on disk, come from its rules cache
  const { cache, error: cacheError } = RulesCache.read(rulesCachePath(roots.run), { resolveNames });
  if (cacheError !== undefined) quiet.warn(`rules cache ignored: ${cacheError}`);
  const load = await loadRules(rulesDirs(config.rulesDirs), { resolveNames }, cache);
  const out: string[] = [];
  for (const d of load.diagnostics) if (d.severity === 'error') process.stderr.write(formatDiagnostic(d) + '\n');

  const trace: TraceEntry[] = [];
  // loaded when a rule runs one: most events run few builtins or none
  const builtins = lazyBuiltins(roots, {
    hwdbBin: config.hwdbBin,
    configFile: config.configFile,
    namingScheme: config.namingScheme,
    networkDirs: config.networkDirs,
    cmdlinePath: config.kernelCmdline,
    warn: (m) => quiet.warn(m),
  });
  const ctx: EventContext = { roots, ruleSet: load.ruleSet, log: quiet, test: true, mknod: false, execTimeoutMs: config.execTimeout * 1000, builtins, trace };
  const res = await processEvent(ctx, device);
  exitBuiltins(builtins);
  const dev = res.device;
  const props = Object.fromEntries(dev.properties);
  const result = {
    device: dev.syspath,
    action,
    rulesFiles: load.files.length,
    rulesFromCache: cache.hits,
    trace: trace.map((t) => ({ where: `${t.file}:${t.line}`, what: t.what })),
    properties: props,
    name: res.rename,
    altnames: res.state.builtinEvent.altnames ?? [],
    symlinks: [...dev.devlinks],
    owner: res.node?.uid,
    group: res.node?.gid,
    mode: res.node ? res.node.mode.toString(8).padStart(4, '0') : undefined,
    tags: [...dev.tags],
    currentTags: [...dev.currentTags],
    run: res.runList.map((r) => ({ command: r.command, builtin: r.builtin !== undefined, where: `${r.file}:${r.line}` })),
    writes: res.state.writes,
    errors: res.errors,
  };
  if (values.json) {
    writeTextSync(1, JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  out.push(`device:  ${result.device}`, `action:  ${action}`, `rules:   ${result.rulesFiles} files${cache.hits ? ` (${cache.hits} as the daemon compiled them)` : ''}`, '');
  out.push('Rule lines that acted:');
  if (trace.length === 0) out.push('  (none)');
  const width = Math.max(0, ...result.trace.map((t) => t.where.length));
  for (const t of result.trace) out.push(`  ${t.where.padEnd(width)}  ${t.what}`);
  out.push('', 'Properties:');
  for (const [k, v] of Object.entries(props)) out.push(`  ${k}=${v}`);
  out.push('');
  if (result.name !== undefined) out.push(`NAME:     ${result.name}`);
  if (result.altnames.length) out.push(`Altnames: ${result.altnames.join(' ')}`);
  out.push(`Symlinks: ${result.symlinks.length ? result.symlinks.join(' ') : '(none)'}`);
  if (res.node) out.push(`Node:     owner ${res.node.uid}, group ${res.node.gid}, mode ${result.mode}`);
  out.push(`Tags:     ${result.tags.length ? result.tags.join(' ') : '(none)'}`);
  out.push('RUN:');
  if (result.run.length === 0) out.push('  (none)');
  for (const r of result.run) out.push(`  ${r.builtin ? '[builtin] ' : ''}${r.command}    (${r.where})`);
  if (result.writes.length) {
    out.push('Attribute writes (not done in test mode):');
    for (const w of result.writes) out.push(`  ${w.path} ← ${w.value}`);
  }
  for (const e of result.errors) out.push(`error: ${e}`);
  writeTextSync(1, out.join('\n') + '\n');
  return 0;
}
