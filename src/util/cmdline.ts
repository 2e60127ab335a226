// Command lines split into words as udev splits PROGRAM, IMPORT{program} and RUN and as systemd splits the kernel
// command line (extract_first_word() with EXTRACT_UNQUOTE|EXTRACT_RELAX|EXTRACT_RETAIN_ESCAPE), and the kernel
// command line's KEY=VALUE look-up (proc_cmdline_get_key()).
import { readFileSync } from 'node:fs';
import { tryOr } from './fs.js';

/**
 * Splits a command line like udev and the kernel command line's readers (extract_first_word with
 * UNQUOTE|RELAX|RETAIN_ESCAPE): whitespace separates
 * words; '...' and "..." group and are removed; a backslash and the character after it are kept as written;
 * an unterminated quote runs to the end.
 */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = cmd.length;
  const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    while (i < n && ws(cmd[i])) i++;
    if (i >= n) break;
    let word = '';
    let quote: string | undefined;
    for (; i < n; i++) {
      const c = cmd[i]!;
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && i + 1 < n) {
          word += c + cmd[++i];
        } else word += c;
        continue;
      }
      if (ws(c)) break;
      if (c === '"' || c === "'") {
        quote = c;
        continue;
      }
      if (c === '\\' && i + 1 < n) {
        word += c + cmd[++i];
        continue;
      }
      word += c;
    }
    out.push(word);
  }
  return out;
}

/** Reads the kernel command line (injectable path, default /proc/cmdline); '' when it cannot be read. */
export function readCmdline(path = '/proc/cmdline'): string {
  return tryOr(() => readFileSync(path, 'utf8').trim(), '');
}

/**
 * proc_cmdline_get_key(): the value of the last KEY=VALUE of a kernel command line ('-' and '_' are alike in KEY),
 * or undefined. With `valueOptional`, a bare KEY counts too, as null.
 */
export function cmdlineValue(cmdline: string, key: string): string | undefined;
export function cmdlineValue(cmdline: string, key: string, opts: { valueOptional: true }): string | null | undefined;
export function cmdlineValue(cmdline: string, key: string, opts: { valueOptional?: boolean } = {}): string | null | undefined {
  const want = key.replace(/-/g, '_');
  let found: string | null | undefined;
  for (const word of splitCommand(cmdline)) {
    const eq = word.indexOf('=');
    if ((eq < 0 ? word : word.slice(0, eq)).replace(/-/g, '_') !== want) continue;
    if (eq >= 0) found = word.slice(eq + 1);
    else if (opts.valueOptional) found = null;
  }
  return found;
}
