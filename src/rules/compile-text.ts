// Rules text to a compiled file: the parser (grammar/udev-rules.peggy via ./parser.ts), then the compiler. A module
// of its own so that what loads rules without parsing any (a daemon's start with every file in its rules cache)
// does not load the parser: src/rules/load.ts imports it when a file is to be compiled.
import { parseRuleLines } from './parser.js';
import { compileLines, type CompileOptions, type CompiledFile, type Diagnostic } from './compile.js';

/** Parses and compiles rules text. Syntax errors come first in the diagnostics, then semantic ones. */
export function compileRulesText(text: string, path: string, opts: CompileOptions = {}): CompiledFile {
  const { lines, errors } = parseRuleLines(text, path);
  const diagnostics: Diagnostic[] = errors.map((e) => ({ file: e.file, line: e.line, column: e.column, severity: 'error' as const, message: e.message }));
  return compileLines(path, lines, opts, diagnostics);
}
