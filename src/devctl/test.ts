// devctl test [--action=ACTION] [--rules-dir DIR]... DEVICE: runs the rules on a device without side effects
// and shows what each rule line did and the result (what `udevadm test` tells, laid out for people). The event is
// run by the running daemon where it has what devctl would load (the control socket's test request), and here
// otherwise (./test/local.ts).
import { fail, parseVerbArgs, UsageError } from './common.js';
import { rulesDirs } from '../config/rules-path.js';
import { controlRequest, controlSocketPath, type TestRequest } from '../daemon/control-client.js';
import type { TestResult, TestRun } from '../event/test-result.js';
import { levelLogger, log, type Logger } from '../log.js';
import { statIfAny, writeTextSync } from '../util/fs.js';

export const summary = 'Run the rules on a device without changing anything';

export const help = `devctl test [OPTIONS] DEVICE

Runs the rules for an event on DEVICE with no side effects: no node, link, database or attribute is changed
and RUN programs are only listed (PROGRAM and IMPORT{program} do run: the rules need their output).
Prints every rule line that acted (file:line and what it did), then the resulting properties, NAME, symlinks,
owner/group/mode, tags and the RUN list. Rules files it compiles itself are added to devMaster's rules cache
(RUN/devmaster/rules-cache.json, where that directory exists) for the next test.

DEVICE is a /sys path, a /dev node, SUBSYSTEM/SYSNAME or a device id (b8:0, n2, ...).

  -a --action=ACTION   the event's action (default: add)
  -N --resolve-names=early|late|never
     --json            print the result as one JSON object
     --local           run the event in this process even where the running daemon could
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
    local: { type: 'boolean' },
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

  const quiet = values.json ? levelLogger('silent') : log();
  const dirs = rulesDirs(config.rulesDirs);
  // the daemon finds the device itself: devctl then loads no device model (a device it cannot find is looked for
  // again here, for the error message)
  const request: TestRequest = { device: positionals[0]!, action, sysfs: roots.sysfs, dev: roots.dev, rulesDirs: dirs, resolveNames: resolveNames ?? 'early' };
  const ran = (values.local ? undefined : await inDaemon(roots.run, request, config.execTimeout, quiet)) ?? (await (await import('./test/local.js')).runLocally(roots, config, positionals[0]!, action, dirs, resolveNames, quiet));
  if (ran.ruleErrors.length) writeTextSync(2, ran.ruleErrors.join('\n') + '\n');
  const result = ran.result;
  if (values.json) {
    writeTextSync(1, JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  writeTextSync(1, format(result));
  return 0;
}

/**
 * The event run by the daemon of `run` (the control socket's test request), or undefined where it is not: no
 * daemon there, one that declines (other rules directories, roots or options; a rules load under way; more rules
 * files changed on disk since its last load than it compiles for a test), or one that cannot be asked (not root)
 * or does not answer.
 */
async function inDaemon(run: string, test: TestRequest, execTimeoutSec: number, log: Logger): Promise<TestRun | undefined> {
  if (!statIfAny(controlSocketPath(run))?.isSocket()) return undefined;
  try {
    const r = await controlRequest(run, { command: 'test', test }, execTimeoutSec * 1000 + 10_000);
    if (typeof r.declined === 'string') {
      log.debug(`the daemon does not run this test: ${r.declined}`);
      return undefined;
    }
    return r as unknown as TestRun;
  } catch (e) {
    log.debug(`the daemon does not run this test: ${(e as Error).message}`);
    return undefined;
  }
}

/** devctl test's report for people. */
function format(result: TestResult): string {
  const out: string[] = [];
  const changed = result.rulesFiles - result.rulesFromCache;
  const from =
    result.ranIn === 'daemon'
      ? changed > 0
        ? ` (run by the devMaster daemon; ${changed} changed since its last load, compiled for this test)`
        : ' (run by the devMaster daemon, as it compiled them)'
      : result.rulesFromCache
        ? ` (${result.rulesFromCache} from the rules cache)`
        : '';
  out.push(`device:  ${result.device}`, `action:  ${result.action}`, `rules:   ${result.rulesFiles} files${from}`, '');
  out.push('Rule lines that acted:');
  if (result.trace.length === 0) out.push('  (none)');
  const width = Math.max(0, ...result.trace.map((t) => t.where.length));
  for (const t of result.trace) out.push(`  ${t.where.padEnd(width)}  ${t.what}`);
  out.push('', 'Properties:');
  for (const [k, v] of Object.entries(result.properties)) out.push(`  ${k}=${v}`);
  out.push('');
  if (result.name !== undefined) out.push(`NAME:     ${result.name}`);
  if (result.altnames.length) out.push(`Altnames: ${result.altnames.join(' ')}`);
  out.push(`Symlinks: ${result.symlinks.length ? result.symlinks.join(' ') : '(none)'}`);
  if (result.owner !== undefined) out.push(`Node:     owner ${result.owner}, group ${result.group}, mode ${result.mode}`);
  out.push(`Tags:     ${result.tags.length ? result.tags.join(' ') : '(none)'}`);
  out.push('RUN:');
  if (result.run.length === 0) out.push('  (none)');
  for (const r of result.run) out.push(`  ${r.builtin ? '[builtin] ' : ''}${r.command}    (${r.where})`);
  if (result.writes.length) {
    out.push('Attribute writes (not done in test mode):');
    for (const w of result.writes) out.push(`  ${w.path} ← ${w.value}`);
  }
  for (const e of result.errors) out.push(`error: ${e}`);
  return out.join('\n') + '\n';
}
