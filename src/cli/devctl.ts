#!/usr/bin/env node
// devctl: the command-line tool. One file per verb in src/devctl/.
import { UsageError, type Verb } from '../devctl/common.js';
import { ConfigError } from '../config/config.js';

const VERBS = ['info', 'trigger', 'settle', 'control', 'monitor', 'test', 'test-builtin', 'verify', 'hwdb', 'migrate', 'stats', 'reload'] as const;

async function loadVerb(name: string): Promise<Verb | undefined> {
  if (!(VERBS as readonly string[]).includes(name)) return undefined;
  try {
    return (await import(`../devctl/${name}.js`)) as Verb;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

async function usage(): Promise<string> {
  const lines = ['devctl [--help] [--version] VERB [OPTIONS]', '', 'Query and control devMaster (udevadm-compatible).', '', 'Verbs:'];
  for (const v of VERBS) {
    const mod = await loadVerb(v);
    if (mod) lines.push(`  ${v.padEnd(14)}${mod.summary}`);
  }
  lines.push('', 'Every verb takes --sysfs DIR, --dev DIR, --run DIR, --config FILE, --rules-dir DIR, --log-level LEVEL.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '-h' || verb === '--help' || verb === 'help') {
    process.stdout.write((await usage()) + '\n');
    return verb ? 0 : 1;
  }
  if (verb === '-V' || verb === '--version' || verb === 'version') {
    const { version } = (await import('../version.js')) as { version: string };
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const mod = await loadVerb(verb);
  if (!mod) {
    process.stderr.write(`devctl: unknown command '${verb}'\n${await usage()}\n`);
    return 1;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(mod.help.endsWith('\n') ? mod.help : mod.help + '\n');
    return 0;
  }
  try {
    return await mod.run(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`devctl ${verb}: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`devctl ${verb}: ${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`devctl: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
