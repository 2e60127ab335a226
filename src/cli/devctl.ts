#!/usr/bin/env -S node --interrupt-budget=300000
// devctl: the command-line tool. One file per verb in src/devctl/, loaded only when it runs.
import { EarlyExit, Failure, UsageError, parsePreVerb, setInvocation, type Verb } from '../devctl/common.js';
import { ConfigError } from '../config/config.js';
import { writeTextSync } from '../util/fs.js';

/**
 * Output on descriptors 1 and 2 written directly, as the verbs write theirs: process.stdout and process.stderr are
 * streams Node builds (loading node:stream and more) on first use. A closed pipe (EPIPE) is thrown, and fails the run.
 */
const print = (text: string) => writeTextSync(1, text);
const printError = (text: string) => writeTextSync(2, text);

/**
 * The verbs, in `devctl --help` order, each with its module. The imports are written out (not computed from the
 * name) so that the bundler (scripts/bundle.mjs) puts each verb in its own chunk, loaded only when it runs.
 */
const VERB_MODULES: Readonly<Record<string, () => Promise<Verb>>> = {
  info: () => import('../devctl/info.js'),
  trigger: () => import('../devctl/trigger.js'),
  settle: () => import('../devctl/settle.js'),
  control: () => import('../devctl/control.js'),
  monitor: () => import('../devctl/monitor.js'),
  test: () => import('../devctl/test.js'),
  'test-builtin': () => import('../devctl/test-builtin.js'),
  verify: () => import('../devctl/verify.js'),
  wait: () => import('../devctl/wait.js'),
  lock: () => import('../devctl/lock.js'),
  hwdb: () => import('../devctl/hwdb.js'),
  migrate: () => import('../devctl/migrate.js'),
  stats: () => import('../devctl/stats.js'),
  reload: () => import('../devctl/reload.js'),
};
const VERBS = Object.keys(VERB_MODULES);

/** The verb's module; undefined for an unknown verb or a verb whose own module is missing (a missing module it imports is an error). */
async function loadVerb(name: string): Promise<Verb | undefined> {
  if (!Object.hasOwn(VERB_MODULES, name)) return undefined;
  try {
    return await VERB_MODULES[name]!();
  } catch (e) {
    // only when run from the sources: the bundle does not build without every verb's module
    const err = e as NodeJS.ErrnoException & { url?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && err.url === new URL(`../devctl/${name}.js`, import.meta.url).href) return undefined;
    throw e;
  }
}

async function version(): Promise<string> {
  return ((await import('../version.js')) as { version: string }).version;
}

async function usage(): Promise<string> {
  const lines = ['devctl [--help] [--version] [--debug] [GLOBAL OPTIONS] VERB [OPTIONS]', '', 'Query and control devMaster (udevadm-compatible).', '', 'Verbs:'];
  for (const v of VERBS) {
    const mod = await loadVerb(v);
    if (mod) lines.push(`  ${v.padEnd(14)}${mod.summary}`);
  }
  lines.push(
    '',
    'Every verb takes --sysfs DIR, --dev DIR, --run DIR, --config FILE, --rules-dir DIR, --log-level LEVEL and',
    '--debug, before or after its name; every verb takes -h/--help and -V/--version.',
  );
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  // udevadm [--debug] [--version] [--help] COMMAND: options before the verb, the verb ends them
  const pre = parsePreVerb(argv);
  for (const o of pre.options) {
    if (o.key === 'help') {
      print((await usage()) + '\n');
      return 0;
    }
    if (o.key === 'version') {
      print(`${await version()}\n`);
      return 0;
    }
  }
  if (pre.error !== undefined) {
    printError(pre.error + '\n');
    return 1;
  }
  const [verb, ...rest] = pre.operands;
  if (verb === undefined) {
    printError(`Command verb required (one of ${[...VERBS, 'version', 'help'].join(', ')}).\n`);
    return 1;
  }
  if (verb === 'help') {
    print((await usage()) + '\n');
    return 0;
  }
  if (verb === 'version') {
    print(`${await version()}\n`);
    return 0;
  }
  const mod = await loadVerb(verb);
  if (!mod) {
    printError(`Unknown command verb '${verb}'.\n`);
    return 1;
  }
  setInvocation(verb, pre.options);
  try {
    return await mod.run(rest);
  } catch (e) {
    if (e instanceof EarlyExit) {
      print(e.what === 'version' ? `${await version()}\n` : mod.help.endsWith('\n') ? mod.help : mod.help + '\n');
      return 0;
    }
    if (e instanceof Failure) {
      printError(`${e.message}\n`);
      return 1;
    }
    if (e instanceof UsageError || e instanceof ConfigError) {
      printError(`devctl ${verb}: ${e.message}\n`);
      return 1;
    }
    printError(`devctl ${verb}: ${(e as Error).message}\n`);
    return 1;
  }
}

// The streams process.stdout and process.stderr that Node made for a verb (it makes each on its first use; most
// verbs write with writeSync and never make them).
const streams: NodeJS.WriteStream[] = [];
for (const name of ['stdout', 'stderr'] as const) {
  const d = Object.getOwnPropertyDescriptor(process, name);
  const get = d?.get;
  if (get && d.configurable) {
    Object.defineProperty(process, name, {
      ...d,
      get() {
        const s = get.call(process) as NodeJS.WriteStream;
        if (!streams.includes(s)) streams.push(s);
        return s;
      },
    });
  }
}

/**
 * Ends the process once the verb is done, with process.exit() where nothing is left to write: a natural exit first
 * tears the heap down page by page, a few ms a run on this kind of machine (docs/PERFORMANCE.md). Where a stream
 * still holds output (a pipe whose reader is slower than the verb), the process ends the natural way, after it.
 */
function exit(code: number): void {
  if (streams.some((s) => s.writableLength > 0)) process.exitCode = code;
  else process.exit(code);
}

main(process.argv.slice(2)).then(exit, (e) => {
  process.stderr.write(`devctl: ${(e as Error).stack ?? e}\n`);
  exit(1);
});
