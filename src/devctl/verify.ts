// devctl verify [FILE|DIR]...: parse and check rules files like `udevadm verify`, with file:line:col messages.
import { statSync } from 'node:fs';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseVerbArgs, UsageError } from './common.js';
import { compileRulesFile } from '../rules/load.js';
import { formatDiagnostic, type Diagnostic } from '../rules/compile.js';
import { rulesDirs, rulesFiles } from '../config/rules-path.js';

export const summary = 'Check rules files for syntax and semantic errors';

export const help = `devctl verify [OPTIONS] [FILE|DIR]...

Parses and checks rules files: syntax, unknown keys, invalid operators or attributes for a key, GOTO without
LABEL, unknown substitutions. With no arguments, every rules file of the search path is checked.

  -N --resolve-names=early|never  when to resolve OWNER/GROUP names (default: early)
     --no-summary                 do not print the summary line
     --no-style                   do not report style issues (notices)
  -q --quiet                      print only errors
  -h --help                       show this help

Exit status: 0 when no file has errors, 1 otherwise.
`;

function expand(arg: string): string[] {
  let st;
  try {
    st = statSync(arg);
  } catch (e) {
    throw new UsageError(`${arg}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) return [arg];
  return readdirSync(arg)
    .filter((n) => n.endsWith('.rules'))
    .sort()
    .map((n) => join(arg, n));
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, config } = parseVerbArgs(argv, {
    'resolve-names': { type: 'string', short: 'N' },
    'no-summary': { type: 'boolean' },
    'no-style': { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const resolveNames = (values['resolve-names'] as string | undefined) ?? 'early';
  if (resolveNames !== 'early' && resolveNames !== 'never') throw new UsageError(`--resolve-names: expected early or never, got '${resolveNames}'`);
  const files = positionals.length ? positionals.flatMap(expand) : rulesFiles(rulesDirs(config.rulesDirs));
  let failed = 0;
  for (const f of files) {
    const compiled = await compileRulesFile(f, { resolveNames, extraChecks: !values['no-style'] });
    const shown = compiled.diagnostics.filter((d: Diagnostic) => (values.quiet ? d.severity === 'error' : values['no-style'] ? d.severity !== 'notice' : true));
    for (const d of shown) process.stderr.write(formatDiagnostic(d) + '\n');
    if (compiled.errors > 0) failed++;
  }
  if (!values['no-summary']) {
    process.stdout.write(`\n${files.length} rules files have been checked.\n  Success: ${files.length - failed}\n  Fail:    ${failed}\n`);
  }
  return failed > 0 ? 1 : 0;
}
