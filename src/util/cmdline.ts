// Words as systemd's extract_first_word() splits them: .link values, PROGRAM, IMPORT{program} and RUN as udev
// splits them and the kernel command line (EXTRACT_UNQUOTE|EXTRACT_RELAX|EXTRACT_RETAIN_ESCAPE), and the kernel
// command line's KEY=VALUE look-up (proc_cmdline_get_key()).
import { readFileSync } from 'node:fs';
import { tryOr } from './fs.js';

export interface WordFlags {
  /** '...' and "..." group and are removed (EXTRACT_UNQUOTE); else quotes are plain characters. */
  unquote?: boolean;
  /** C escapes are resolved (EXTRACT_CUNESCAPE); else a backslash and the character after it stay as written. */
  cunescape?: boolean;
  /** An unterminated quote runs to the end and a trailing backslash stays (EXTRACT_RELAX); else both are bad syntax. */
  relax?: boolean;
}

const WHITESPACE = ' \t\n\r';

/**
 * extract_first_word() over a whole value: words split at white space, quotes and backslashes as `flags` say.
 * Returns undefined for bad syntax (never with `relax` unless an escape is bad).
 */
export function extractWords(value: string, flags: WordFlags = {}): string[] | undefined {
  const words: string[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && WHITESPACE.includes(value[i]!)) i++;
    if (i >= n) break;
    let w = '';
    let quote: string | undefined;
    for (; i < n; i++) {
      const c = value[i]!;
      if (quote) {
        if (c === quote) {
          quote = undefined;
          continue;
        }
      } else if (WHITESPACE.includes(c)) break;
      else if (flags.unquote && (c === '"' || c === "'")) {
        quote = c;
        continue;
      }
      if (c === '\\') {
        if (i + 1 >= n) {
          if (!flags.relax) return undefined;
          w += c;
          continue;
        }
        if (flags.cunescape) {
          const r = cunescapeOne(value, i + 1);
          if (!r) return undefined;
          w += r.ch;
          i = r.next - 1;
        } else {
          w += c + value[i + 1];
          i++;
        }
        continue;
      }
      w += c;
    }
    if (quote && !flags.relax) return undefined;
    words.push(w);
  }
  return words;
}

/** One C escape (cunescape_one()) at s[i], after its backslash: the character and where the escape ends. */
function cunescapeOne(s: string, i: number): { ch: string; next: number } | undefined {
  const c = s[i]!;
  const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'", s: ' ' };
  if (c in simple) return { ch: simple[c]!, next: i + 1 };
  if (c === 'x') {
    const h = /^[0-9a-fA-F]{2}/.exec(s.slice(i + 1));
    return h ? { ch: String.fromCharCode(parseInt(h[0], 16)), next: i + 3 } : undefined;
  }
  if (c >= '0' && c <= '7') {
    const o = /^[0-7]{3}/.exec(s.slice(i));
    return o ? { ch: String.fromCharCode(parseInt(o[0], 8)), next: i + 3 } : undefined;
  }
  return undefined;
}

/**
 * Splits a command line like udev and the kernel command line's readers (extract_first_word with
 * UNQUOTE|RELAX|RETAIN_ESCAPE): whitespace separates words; '...' and "..." group and are removed; a backslash
 * and the character after it are kept as written; an unterminated quote runs to the end.
 */
export function splitCommand(cmd: string): string[] {
  return extractWords(cmd, { unquote: true, relax: true })!;
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
