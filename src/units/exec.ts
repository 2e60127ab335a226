// The exec backend: a command template from the config key unit_exec (flag --unit-exec), run without a shell.
//
// The template is split into words like a shell would (single quotes, double quotes, backslash), then in
// every word these placeholders are replaced:
//   {action}   start or stop
//   {units}    the units; a word that is exactly "{units}" becomes one argument per unit, elsewhere they are
//              joined with spaces
//   {unit}     one unit: the command is run once per unit
//   {devpath}  the device's devpath (/devices/...)
//   {id}       the device's database id (b251:1, n3, ...), empty when unknown
// A template that names neither {units} nor {unit} gets the units appended as arguments.
import { runUnitCommand } from './spawn.js';
import { UnitBackendError, type UnitBackendImpl, type UnitRequest } from './types.js';

const PLACEHOLDERS = new Set(['action', 'units', 'unit', 'devpath', 'id']);

/** Splits a command line into words (quotes and backslashes as in sh; no expansions). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' quote at column ${i + 1}`);
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated " quote');
        const d = text[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) {
          cur += text[i + 1];
          i += 2;
        } else {
          cur += d;
          i++;
        }
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new Error('trailing backslash');
      cur += text[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

export class ExecBackend implements UnitBackendImpl {
  readonly name = 'exec';
  private readonly words: string[];
  private readonly perUnit: boolean;
  private readonly appendUnits: boolean;

  /** Throws a clear Error for an empty or malformed template or an unknown placeholder. */
  constructor(template: string, private readonly timeoutMs: number) {
    let words: string[];
    try {
      words = splitWords(template);
    } catch (e) {
      throw new Error(`unit_exec: ${(e as Error).message} in ${JSON.stringify(template)}`);
    }
    if (words.length === 0) throw new Error('unit_exec: the exec unit backend needs a command template (--unit-exec)');
    const used = new Set<string>();
    for (const w of words) {
      for (const m of w.matchAll(/\{([a-z]*)\}/g)) {
        if (!PLACEHOLDERS.has(m[1]!)) throw new Error(`unit_exec: unknown placeholder {${m[1]}} in ${JSON.stringify(template)}`);
        used.add(m[1]!);
      }
    }
    if (/\{/.test(words[0]!)) throw new Error('unit_exec: the command itself cannot be a placeholder');
    this.words = words;
    this.perUnit = used.has('unit');
    this.appendUnits = !used.has('unit') && !used.has('units');
  }

  /** The command lines a request runs (one per unit with {unit}, otherwise one). */
  commands(req: UnitRequest): string[][] {
    const lists = this.perUnit ? req.units.map((u) => [u]) : [req.units];
    return lists.map((units) => {
      const out: string[] = [];
      for (const w of this.words) {
        if (w === '{units}') {
          out.push(...units);
          continue;
        }
        out.push(
          w.replace(/\{([a-z]+)\}/g, (_, k: string) => {
            switch (k) {
              case 'action': return req.action;
              case 'units': return units.join(' ');
              case 'unit': return units[0] ?? '';
              case 'devpath': return req.devpath;
              case 'id': return req.id ?? '';
              default: return `{${k}}`;
            }
          }),
        );
      }
      if (this.appendUnits) out.push(...units);
      return out;
    });
  }

  async run(req: UnitRequest, signal: AbortSignal): Promise<void> {
    const failures: string[] = [];
    let retryable = false;
    for (const argv of this.commands(req)) {
      try {
        await runUnitCommand(argv, this.timeoutMs, signal);
      } catch (e) {
        failures.push((e as Error).message);
        retryable ||= !(e instanceof UnitBackendError) || e.retryable;
      }
    }
    // Retrying helps unless every failure was one that cannot change (command missing or not executable).
    if (failures.length > 0) throw new UnitBackendError(failures.join('; '), retryable);
  }
}
