// devctl migrate: what the rules files need. Each file is compiled as `devctl verify` does (errors make a file
// fail); then every builtin and program the rules call is looked for the way the daemon will look for it:
// builtins in the registry, programs as absolute paths or in udev's program directory (src/rules/spawn.ts).
import { accessSync, constants, readFileSync } from 'node:fs';
import { compileRulesFile } from '../../rules/load.js';
import { formatDiagnostic } from '../../rules/compile.js';
import { UDEV_BUILTIN_NAMES } from '../../rules/compile.js';
import { parseRules } from '../../rules/parser.js';
import { PROGRAM_DIRS, resolveProgram } from '../../rules/spawn.js';
import { splitCommand } from '../../util/cmdline.js';
import { underRoot } from '../../hwdb/index.js';
import { isBuiltin } from '../../builtins/registry.js';
import { tryOr } from '../../util/fs.js';

export interface RulesUsage {
  files: number;
  /** Files with errors (the daemon would drop their bad lines), with the error diagnostics. */
  failing: { file: string; errors: string[] }[];
  /** Builtins the rules call that devMaster lacks, with where (file:line). */
  missingBuiltins: { name: string; uses: string[] }[];
  /** Programs that are not there (or not executable) where the daemon will look. */
  missingPrograms: { program: string; path: string; uses: string[] }[];
  /** Commands whose program is only known at run time ($env{...}, %k): not checked. */
  uncheckedPrograms: { command: string; uses: string[] }[];
  /** How many distinct builtins and programs were checked. */
  builtinsChecked: number;
  programsChecked: number;
}

function executable(path: string): boolean {
  return tryOr(() => (accessSync(path, constants.X_OK), true), false);
}

/**
 * Checks the rules files (in the daemon's order and masking) as described above; programs are looked for in the
 * file tree under `root` (default /).
 */
export async function checkRules(files: readonly string[], root = '/'): Promise<RulesUsage> {
  const under = (p: string) => underRoot(root, p);
  const out: RulesUsage = { files: files.length, failing: [], missingBuiltins: [], missingPrograms: [], uncheckedPrograms: [], builtinsChecked: 0, programsChecked: 0 };
  const builtins = new Map<string, string[]>();
  const programs = new Map<string, string[]>();
  const unchecked = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, k: string, where: string) => m.set(k, [...(m.get(k) ?? []), where]);
  for (const file of files) {
    const compiled = await compileRulesFile(file, { resolveNames: 'early' });
    if (compiled.errors > 0) out.failing.push({ file, errors: compiled.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic) });
    const text = tryOr(() => readFileSync(file, 'utf8'), undefined);
    if (text === undefined) continue; // unreadable: already a compile error
    for (const rule of parseRules(text, file).rules) {
      for (const t of rule.tokens) {
        const where = `${file}:${t.keyLoc.line}`;
        const isProgramImport = t.key === 'IMPORT' && t.attr === 'program';
        const isRun = t.key === 'RUN' && (t.attr === undefined || t.attr === 'program' || t.attr === 'builtin');
        if (t.key !== 'PROGRAM' && !isProgramImport && !(t.key === 'IMPORT' && t.attr === 'builtin') && !isRun) continue;
        const argv0 = splitCommand(t.value)[0] ?? '';
        if (argv0 === '') continue;
        const builtinCall = (t.key === 'IMPORT' && t.attr === 'builtin') || (t.key === 'RUN' && t.attr === 'builtin') || (isProgramImport && (UDEV_BUILTIN_NAMES.has(argv0) || isBuiltin(argv0)));
        if (builtinCall) add(builtins, argv0, where);
        else if (/[$%]/.test(argv0)) add(unchecked, t.value, where);
        else add(programs, argv0, where);
      }
    }
  }
  out.builtinsChecked = builtins.size;
  out.programsChecked = programs.size;
  for (const [name, uses] of [...builtins].sort()) if (!isBuiltin(name)) out.missingBuiltins.push({ name, uses });
  for (const [program, uses] of [...programs].sort()) {
    const path = resolveProgram(program, PROGRAM_DIRS.map(under));
    if (!executable(program.startsWith('/') ? under(path) : path)) out.missingPrograms.push({ program, path: program.startsWith('/') ? under(path) : path, uses });
  }
  for (const [command, uses] of unchecked) out.uncheckedPrograms.push({ command, uses });
  return out;
}
