// Command-line options as udevadm reads them: glibc's getopt_long(). Options and operands may be mixed (the operands
// are collected in order) unless the option string starts with '+' or POSIXLY_CORRECT is set, then the first operand
// ends the options; "--" always does. Short options cluster (-xq, -t5, -t 5); long options may be abbreviated to any
// unambiguous prefix (--no-sum), take their argument as --opt=VALUE or --opt VALUE (an optional argument only as
// --opt=VALUE, or -wVALUE for a short one). The error messages are glibc's, word for word, with the verb (or the
// daemon) as the program name ("verify: unrecognized option '--bogus'"). devctl's verbs and devmaster read theirs so.

export type ArgKind = 'none' | 'required' | 'optional';

export interface LongOption {
  name: string;
  arg: ArgKind;
  /** What the option stands for: several names with one key are aliases (never ambiguous with each other). */
  key: string;
  /** Only the whole name is recognized, never an abbreviation (devctl's own global options: they must not make
   * udevadm's abbreviations ambiguous). */
  exactOnly?: boolean;
}

export interface ShortOption {
  arg: ArgKind;
  key: string;
}

export interface GetoptSpec {
  /** By short letter. */
  short: ReadonlyMap<string, ShortOption>;
  /** In table order (glibc lists ambiguous candidates in this order). */
  long: readonly LongOption[];
  /** Stop at the first operand (getopt's "+" option string): the rest is, e.g., a command line to run. */
  stopAtOperand?: boolean;
  /** Go on after a bad option, as a caller of getopt_long that ignores its '?' does (udev's builtins): the error
   * is still the first one's. */
  keepGoing?: boolean;
}

export interface GotOption {
  key: string;
  /** As written: "-t" or "--timeout" (the full name, also when abbreviated). */
  flag: string;
  value: string | undefined;
}

export interface GetoptResult {
  /** In command-line order, up to the first error. */
  options: GotOption[];
  operands: string[];
  /** glibc's message for the first bad option (the options before it were still read). */
  error?: string;
}

/** Reads argv (without the program name) as getopt_long would; `prog` names the program in error messages. */
export function getopt(argv: readonly string[], spec: GetoptSpec, prog: string): GetoptResult {
  const options: GotOption[] = [];
  const operands: string[] = [];
  const stopAtOperand = spec.stopAtOperand === true || process.env.POSIXLY_CORRECT !== undefined;
  let error: string | undefined;
  /** Records a bad option; true when reading stops there. */
  const bad = (message: string): boolean => {
    error ??= message;
    return spec.keepGoing !== true;
  };
  const result = (): GetoptResult => (error === undefined ? { options, operands } : { options, operands, error });

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtOperand) {
        operands.push(...argv.slice(i));
        break;
      }
      operands.push(arg);
      continue;
    }
    if (arg.startsWith('--')) {
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const found = findLong(spec.long, name);
      if (found === undefined) {
        if (bad(`${prog}: unrecognized option '--${body}'`)) return result();
        continue;
      }
      if (Array.isArray(found)) {
        if (bad(`${prog}: option '--${body}' is ambiguous; possibilities:${found.map((o) => ` '--${o.name}'`).join('')}`)) return result();
        continue;
      }
      let value: string | undefined;
      if (eq >= 0) {
        if (found.arg === 'none') {
          if (bad(`${prog}: option '--${found.name}' doesn't allow an argument`)) return result();
          continue;
        }
        value = body.slice(eq + 1);
      } else if (found.arg === 'required') {
        if (i + 1 >= argv.length) {
          if (bad(`${prog}: option '--${found.name}' requires an argument`)) return result();
          continue;
        }
        value = argv[++i]!;
      }
      options.push({ key: found.key, flag: `--${found.name}`, value });
      continue;
    }
    // a cluster of short options
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      const opt = spec.short.get(c);
      if (!opt) {
        if (bad(`${prog}: invalid option -- '${c}'`)) return result();
        continue;
      }
      let value: string | undefined;
      if (opt.arg !== 'none') {
        const rest = arg.slice(j + 1);
        if (rest !== '') value = rest;
        else if (opt.arg === 'required') {
          if (i + 1 >= argv.length) {
            if (bad(`${prog}: option requires an argument -- '${c}'`)) return result();
            break;
          }
          value = argv[++i]!;
        }
        options.push({ key: opt.key, flag: `-${c}`, value });
        break;
      }
      options.push({ key: opt.key, flag: `-${c}`, value });
    }
  }
  return result();
}

/** The option `name` stands for: an exact name, else the only option it abbreviates; a list when ambiguous. */
function findLong(table: readonly LongOption[], name: string): LongOption | LongOption[] | undefined {
  const exact = table.find((o) => o.name === name);
  if (exact) return exact;
  const prefixed = table.filter((o) => !o.exactOnly && o.name.startsWith(name));
  if (prefixed.length === 0) return undefined;
  const first = prefixed[0]!;
  // glibc: candidates that are the same option (key and argument kind) are not ambiguous
  if (prefixed.every((o) => o.key === first.key && o.arg === first.arg)) return first;
  return prefixed;
}

/**
 * One option of a command (a devctl verb's, the daemon's). `type: 'string'` takes an argument (`optional: true`:
 * only as --opt=VALUE or -oVALUE, as udevadm's -w[SECONDS]; the value is '' when none is given); `multiple` keeps
 * every value; `aliases` are further long names (udevadm's --log-priority for --log-level).
 */
export interface OptionDef {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  optional?: boolean;
  aliases?: readonly string[];
}

export type OptionSpec = Readonly<Record<string, OptionDef>>;

/** Builds getopt's tables from an option spec; `exactOnly`: options never abbreviated. */
export function getoptSpec(options: OptionSpec, stopAtOperand = false, exactOnly: ReadonlySet<string> = new Set()): GetoptSpec {
  const short = new Map<string, ShortOption>();
  const long: LongOption[] = [];
  for (const [key, o] of Object.entries(options)) {
    const arg: ArgKind = o.type === 'boolean' ? 'none' : o.optional ? 'optional' : 'required';
    if (o.short) short.set(o.short, { arg, key });
    for (const name of [key, ...(o.aliases ?? [])]) long.push({ name, arg, key, exactOnly: exactOnly.has(key) });
  }
  return { short, long, stopAtOperand };
}

/** Adds one option occurrence to `values` (booleans true, strings their value, `multiple` ones a list). */
export function storeOption(values: Record<string, unknown>, def: OptionDef | undefined, o: GotOption): void {
  if (!def || def.type === 'boolean') {
    values[o.key] = true;
    return;
  }
  const v = o.value ?? '';
  if (def.multiple) ((values[o.key] ??= []) as string[]).push(v);
  else values[o.key] = v;
}
