// udevadm verify's checks: what systemd 257's rules parser (src/udev/udev-rules.c, with its extra checks) reports
// for a rules file, message for message, in its order and words, with the line numbers it prints. The compiler
// (compile.ts) decides what devMaster runs; this module only reports, the way `udevadm verify` does, so that
// `devctl verify` is a drop-in for it in CI. It reads as udev reads: bytes (the text is given as a latin1 string, one
// character per byte, so offsets, lengths and the rules' own bytes in messages are udev's), physical lines as
// read_line() splits them (parser.ts), backslash continuations, then each logical line with udev's own tokenizer,
// which is more lenient than the grammar (a key is anything up to a blank, '=', '{' or an operator; the parser
// rejects what udev reports as "Invalid key"), so the messages come in udev's order: style notes between tokens, a
// token's problems as it is read, the line's, then GOTO/LABEL resolution, then conflicting and duplicate matches.
import { splitPhysicalLines, UDEV_LINE_SIZE } from './parser.js';
import { checkFormat } from './format.js';
import { T, LINE_HAS_DEVLINK, LINE_HAS_GOTO, LINE_HAS_LABEL, LINE_HAS_NAME, LINE_HAS_STATIC_NODE, LINE_UPDATE_SOMETHING } from './compile.js';
import { lookupGroup, lookupUser, parseId, parseMode } from '../sys/users.js';
import { safeAtoi, safeAtou } from '../util/cnum.js';
import { strerror } from '../sys/errno.js';

export type LintLevel = 'error' | 'warning' | 'notice';

export interface LintMessage {
  level: LintLevel;
  /** The line number udev prints: the physical line where the rule ends. */
  line: number;
  /** udev's message; a latin1 string (one character per byte), so the rules' own bytes appear in it unchanged. */
  text: string;
  /** Where the problem is (physical line, column in characters), when one place can be named. */
  at?: { line: number; column: number };
}

export interface LintResult {
  messages: LintMessage[];
  /** udev's read_line() failed (a physical line of UDEV_LINE_SIZE bytes or more): the rest is not read or checked. */
  readError?: 'ENOBUFS';
}

export interface LintOptions {
  /** OWNER/GROUP names: resolved when read ('early', the default) or left for later ('late'; verify's "never"). */
  resolveNames?: 'early' | 'late';
}

/** The builtins udevadm 257 knows, in its table's order (a command names the first one it is a prefix of). */
export const UDEV257_BUILTINS: readonly string[] = ['blkid', 'btrfs', 'hwdb', 'input_id', 'keyboard', 'kmod', 'net_driver', 'net_id', 'net_setup_link', 'path_id', 'usb_id', 'uaccess'];

const enum Op {
  MATCH,
  NOMATCH,
  ADD,
  REMOVE,
  ASSIGN,
  ASSIGN_FINAL,
}

const OPERATORS: readonly [string, Op][] = [
  ['==', Op.MATCH],
  ['!=', Op.NOMATCH],
  ['+=', Op.ADD],
  ['-=', Op.REMOVE],
  ['=', Op.ASSIGN],
  [':=', Op.ASSIGN_FINAL],
];

// udev's match types and the flags it keeps in the same field
const MATCH_EMPTY = 0;
const MATCH_PLAIN = 1;
const MATCH_PLAIN_WITH_EMPTY = 2;
const MATCH_GLOB = 3;
const MATCH_GLOB_WITH_EMPTY = 4;
const MATCH_SUBSYSTEM = 5;
const MATCH_REMOVE_TRAILING_WHITESPACE = 32;
const MATCH_CASE_INSENSITIVE = 64;
/** Assignments have no match type. */
const MATCH_NONE = -1;

const SUBST_NONE = -1;
const SUBST_PLAIN = 0;
const SUBST_FORMAT = 1;
const SUBST_SUBSYS = 2;

const LINE_IS_REFERENCED = 64;
/** udev's UID_INVALID, MODE_INVALID: what an unknown user or a TEST without mode leaves as the token's data. */
const INVALID = -1;

const WHITESPACE = ' \t\n\r';
const GLOB_CHARS = '*?[';

/** ENV keys a rule may not assign (systemd 257). */
const READ_ONLY_ENV: ReadonlySet<string> = new Set(['ACTION', 'DEVLINKS', 'DEVNAME', 'DEVPATH', 'DEVTYPE', 'DRIVER', 'IFINDEX', 'MAJOR', 'MINOR', 'SEQNUM', 'SUBSYSTEM', 'TAGS']);

const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

interface Token {
  type: T;
  op: Op;
  matchType: number;
  /** Match tokens of the types udev splits at '|': the alternatives (empty ones dropped). */
  alternatives?: string[];
  value: string | undefined;
  /** What udev keeps next to the value: an attribute name (compared as text), or a number (mode, uid, builtin, ...). */
  data: string | number | undefined;
  subst: number;
}

interface RuleLine {
  line: number;
  type: number;
  label?: string;
  gotoLabel?: string;
  tokens: Token[];
  /** Where the rule, its GOTO and its LABEL are. */
  at: Pos;
  gotoAt?: Pos;
  labelAt?: Pos;
}

interface Pos {
  line: number;
  column: number;
}

/** A piece of a logical line: where it starts in the line and where that is in the file (0-based byte column). */
interface Segment {
  start: number;
  line: number;
  column: number;
  text: string;
}

const isSpace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);

/** udev's check of a rules file (see the file comment). `text` is the file's bytes as a latin1 string. */
export function lintRules(text: string, opts: LintOptions = {}): LintResult {
  const resolveNames = opts.resolveNames ?? 'early';
  const messages: LintMessage[] = [];
  const lines: RuleLine[] = [];
  const emit = (level: LintLevel, line: number, message: string, at?: Pos): void => {
    messages.push({ level, line, text: message, at });
  };

  // ---- reading: udev_rules_parse_file()
  const physical = splitPhysicalLines(text);
  let continuation: string | undefined;
  let segments: Segment[] = [];
  let ignoreLine = false;
  let firstLine = 0;
  let lineNr = 0;
  let backslashAt: Pos | undefined;
  for (const ph of physical) {
    lineNr++;
    if (ph.text.length >= UDEV_LINE_SIZE) return { messages, readError: 'ENOBUFS' };
    const indent = skipWhitespace(ph.text, 0);
    let line = ph.text.slice(indent);
    if (line[0] === '#') continue; // even inside a continuation
    if (continuation === undefined) {
      segments = [];
      firstLine = lineNr;
    }
    const seg: Segment = { start: continuation?.length ?? 0, line: lineNr, column: indent, text: ph.text };
    if (continuation !== undefined && !ignoreLine) {
      if (continuation.length + line.length >= UDEV_LINE_SIZE) ignoreLine = true;
      continuation += line;
      if (!ignoreLine) line = continuation;
    }
    if (!ignoreLine) segments.push(seg);
    if (line.endsWith('\\')) {
      if (ignoreLine) continue;
      backslashAt = charPos(seg, line.length - 1 - seg.start);
      continuation = line.slice(0, -1);
      continue;
    }
    if (ignoreLine) emit('error', lineNr, 'Line is too long, ignored.', { line: firstLine, column: 1 });
    else if (line !== '') {
      const rl = addRuleLine(line, lineNr, segments);
      if (rl) lines.push(rl);
    }
    continuation = undefined;
    ignoreLine = false;
  }
  if (continuation !== undefined) emit('error', lineNr, 'Unexpected EOF after line continuation, line ignored.', backslashAt);

  // ---- GOTO to LABEL: rule_resolve_goto()
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (!(l.type & LINE_HAS_GOTO)) continue;
    const target = lines.slice(i + 1).find((x) => x.label !== undefined && x.label === l.gotoLabel);
    if (target) {
      target.type |= LINE_IS_REFERENCED;
      continue;
    }
    emit('error', l.line, `GOTO="${l.gotoLabel}" has no matching label, ignoring.`, l.gotoAt);
    l.type &= ~LINE_HAS_GOTO;
    l.gotoLabel = undefined;
    if ((l.type & ~(LINE_HAS_LABEL | LINE_IS_REFERENCED)) === 0) {
      emit('warning', l.line, 'The line has no effect any more, dropping.', l.at);
      if (l.type & LINE_HAS_LABEL) l.tokens = [];
      else lines.splice(i--, 1);
    }
  }

  // ---- the extra checks: udev_check_rule_line()
  for (const l of lines) {
    if (l.type & LINE_HAS_LABEL && !(l.type & LINE_IS_REFERENCED)) emit('notice', l.line, `style: LABEL="${l.label}" is unused.`, l.labelAt);
    checkConflictsDuplicates(l);
  }
  return { messages };

  // -----------------------------------------------------------------------------------------------------------

  /** Position of `offset` of the logical line (0-based), in characters. */
  function posAt(segs: Segment[], offset: number): Pos {
    let s = segs[0]!;
    for (const x of segs) if (x.start <= offset) s = x;
    return charPos(s, offset - s.start);
  }

  /** rule_add_line(): one logical line. */
  function addRuleLine(text: string, lineNr: number, segs: Segment[]): RuleLine | undefined {
    const rl: RuleLine = { line: lineNr, type: 0, tokens: [], at: posAt(segs, 0) };
    const err = (message: string, at?: Pos) => emit('error', lineNr, message, at ?? rl.at);
    const warn = (message: string, at?: Pos) => emit('warning', lineNr, message, at ?? rl.at);
    let p = 0;
    while (p < text.length) {
      checkDelimiters(text, p, lineNr, segs);
      const pair = parsePair(text, p);
      if (pair === 'end') break;
      if (typeof pair === 'number') {
        err('Invalid key/value pair, ignoring.', posAt(segs, pair));
        return undefined;
      }
      if (!parseToken(rl, pair, posAt(segs, pair.keyAt), err, warn)) return undefined;
      p = pair.end;
    }
    if (rl.type === 0) {
      warn('The line has no effect, ignoring.');
      return undefined;
    }
    // check_tokens_order()
    let hasResult = false;
    for (const t of rl.tokens) {
      if (t.type === T.M_RESULT) hasResult = true;
      else if (hasResult && t.type === T.M_PROGRAM) {
        warn('Reordering RESULT check after PROGRAM assignment.');
        break;
      }
    }
    rl.tokens = stableSortByType(rl.tokens);
    return rl;
  }

  /** check_token_delimiters(): the separators before a token (or after the last). */
  function checkDelimiters(text: string, start: number, lineNr: number, segs: Segment[]): void {
    let commas = 0;
    let wsBefore = false;
    let wsAfter = false;
    let p = start;
    for (; p < text.length; p++) {
      const c = text[p]!;
      if (c === ',') commas++;
      else if (WHITESPACE.includes(c)) {
        if (commas > 0) wsAfter = true;
        else wsBefore = true;
      } else break;
    }
    const comma = text.indexOf(',', start);
    const at = posAt(segs, commas > 0 && comma >= 0 ? comma : start);
    const note = (m: string) => emit('notice', lineNr, `style: ${m}`, at);
    if (start === 0) {
      if (commas > 0) note('stray leading comma.');
    } else if (p >= text.length) {
      if (commas > 0) note('stray trailing comma.');
    } else {
      if (commas === 0) note('a comma between tokens is expected.');
      else if (commas > 1) note('more than one comma between tokens.');
      if (commas > 0) {
        if (wsBefore) note('stray whitespace before comma.');
        if (!wsAfter) note('whitespace after comma is expected.');
      } else if (!wsBefore && !wsAfter) note('whitespace between tokens is expected.');
    }
  }

  /** Adds a token the way rule_line_add_token() does, with the line type bits it sets. */
  function addToken(rl: RuleLine, type: T, op: Op, value: string | undefined, data: string | number | undefined, ci: boolean): void {
    let matchType = MATCH_NONE;
    let subst = SUBST_NONE;
    let alternatives: string[] | undefined;
    if (type <= T.M_RESULT) {
      const v = value!;
      if (type === T.M_SUBSYSTEM && (v === 'subsystem' || v === 'bus' || v === 'class')) matchType = MATCH_SUBSYSTEM;
      else if (v === '') matchType = MATCH_EMPTY;
      else if (v === '?*') {
        matchType = MATCH_EMPTY;
        op = op === Op.MATCH ? Op.NOMATCH : Op.MATCH;
      } else if ([...GLOB_CHARS].some((g) => v.includes(g))) matchType = MATCH_GLOB;
      else matchType = MATCH_PLAIN;
      if (type < T.M_TEST || type === T.M_RESULT) {
        const parts = v.split('|');
        alternatives = parts.filter((x) => x !== '');
        const empty = v === '' || parts.some((x) => x === '');
        if (empty && matchType === MATCH_GLOB) matchType = MATCH_GLOB_WITH_EMPTY;
        if (empty && matchType === MATCH_PLAIN) matchType = MATCH_PLAIN_WITH_EMPTY;
      }
    }
    if (type === T.M_ATTR || type === T.M_PARENTS_ATTR) {
      const first = alternatives?.[0] ?? '';
      if (first !== '' && !isSpace(first[first.length - 1])) matchType |= MATCH_REMOVE_TRAILING_WHITESPACE;
      const a = data as string;
      subst = a[0] === '[' ? SUBST_SUBSYS : /[%$]/.test(a) ? SUBST_FORMAT : SUBST_PLAIN;
    }
    if (ci) matchType |= MATCH_CASE_INSENSITIVE;
    rl.tokens.push({ type, op, matchType, alternatives, value, data, subst });
    if (type === T.A_NAME) rl.type |= LINE_HAS_NAME;
    else if (type === T.A_DEVLINK || (type >= T.A_OWNER && type <= T.A_MODE_ID)) rl.type |= LINE_HAS_DEVLINK;
    else if (type === T.A_OPTIONS_STATIC_NODE) rl.type |= LINE_HAS_STATIC_NODE;
    else if (type > T.M_RESULT || (type >= T.M_PROGRAM && type <= T.M_IMPORT_PARENT)) rl.type |= LINE_UPDATE_SOMETHING;
  }

  /** parse_token(): checks one KEY{ATTR}OP"VALUE"; false when udev drops the whole line. */
  function parseToken(rl: RuleLine, pair: Pair, at: Pos, err: (m: string, at?: Pos) => void, warn: (m: string, at?: Pos) => void): boolean {
    const { key, attr, value, ci } = pair;
    let op = pair.op;
    const isMatch = op === Op.MATCH || op === Op.NOMATCH;
    const fail = (m: string) => {
      err(m, at);
      return false;
    };
    const invalidOp = () => fail(`Invalid operator for ${key}.`);
    const invalidAttr = () => fail(`Invalid attribute for ${key}.`);
    const invalidPrefix = () => fail(`Invalid prefix 'i' for ${key}.`);
    const assume = (takes: string) => {
      warn(`${key} key takes ${takes} operator, assuming '='.`, at);
      op = Op.ASSIGN;
    };
    const checkValue = (nonEmpty: boolean) => {
      if (nonEmpty && value === '') err(`Invalid value "" for ${key} (char 0: empty value), ignoring.`, at);
      else {
        const bad = checkFormat(value);
        if (bad) err(`Invalid value "${value}" for ${key} (char ${bad.offset + 1}: ${bad.hint}), ignoring.`, at);
      }
    };
    /** check_attr_format_and_warn(): an empty attribute drops the line, a bad one is only reported. */
    const checkAttr = (): boolean => {
      if (attr === undefined || attr === '') return invalidAttr();
      const bad = checkFormat(attr);
      if (bad) err(`Invalid attribute "${attr}" for ${key} (char ${bad.offset + 1}: ${bad.hint}), ignoring.`, at);
      return true;
    };
    const add = (type: T, data?: string | number) => {
      addToken(rl, type, op, value, data, ci);
      return true;
    };
    /** A token that keeps a number instead of the value (uid, gid, mode, an option's setting). */
    const addNumber = (type: T, data: number | undefined) => {
      addToken(rl, type, op, undefined, data, ci);
      return true;
    };

    if (!isMatch && ci) return fail(`Invalid prefix 'i' for '${key}'. The 'i' prefix can be specified only for '==' or '!=' operator.`);
    switch (key) {
      case 'ACTION':
      case 'DEVPATH':
      case 'KERNEL':
      case 'DRIVER':
      case 'KERNELS':
      case 'SUBSYSTEMS':
      case 'DRIVERS':
      case 'TAGS':
      case 'RESULT':
      case 'SUBSYSTEM': {
        if (attr !== undefined) return invalidAttr();
        if (!isMatch) return invalidOp();
        if (key === 'SUBSYSTEM' && (value === 'bus' || value === 'class')) warn(`"${value}" must be specified as "subsystem".`, at);
        const types: Record<string, T> = {
          ACTION: T.M_ACTION, DEVPATH: T.M_DEVPATH, KERNEL: T.M_KERNEL, DRIVER: T.M_DRIVER, KERNELS: T.M_PARENTS_KERNEL,
          SUBSYSTEMS: T.M_PARENTS_SUBSYSTEM, DRIVERS: T.M_PARENTS_DRIVER, TAGS: T.M_PARENTS_TAG, RESULT: T.M_RESULT, SUBSYSTEM: T.M_SUBSYSTEM,
        };
        return add(types[key]!);
      }
      case 'SYMLINK':
        if (attr !== undefined) return invalidAttr();
        if (isMatch) return add(T.M_DEVLINK);
        checkValue(false);
        return add(T.A_DEVLINK);
      case 'NAME':
        if (attr !== undefined) return invalidAttr();
        if (op === Op.REMOVE) return invalidOp();
        if (op === Op.ADD) assume("'==', '!=', '=', or ':='");
        if (isMatch) return add(T.M_NAME);
        if (value === '%k') return fail('Ignoring NAME="%k", as it will take no effect.');
        if (value === '') return fail('Ignoring NAME="", as udev will not delete any network interfaces.');
        checkValue(false);
        return add(T.A_NAME);
      case 'ENV':
        if (attr === undefined || attr === '') return invalidAttr();
        if (op === Op.REMOVE) return invalidOp();
        if (op === Op.ASSIGN_FINAL) assume("'==', '!=', '=', or '+='");
        if (isMatch) return add(T.M_ENV, attr);
        if (READ_ONLY_ENV.has(attr)) return fail(`Invalid ENV attribute. '${attr}' cannot be set.`);
        checkValue(false);
        return add(T.A_ENV, attr);
      case 'CONST':
        if (attr !== 'arch' && attr !== 'virt') return invalidAttr();
        if (!isMatch) return invalidOp();
        return add(T.M_CONST, attr);
      case 'TAG':
        if (attr !== undefined) return invalidAttr();
        if (op === Op.ASSIGN_FINAL) assume("'==', '!=', '=', or '+='");
        if (isMatch) return add(T.M_TAG);
        checkValue(true);
        return add(T.A_TAG);
      case 'ATTR':
      case 'SYSCTL':
        if (!checkAttr()) return false;
        if (op === Op.REMOVE) return invalidOp();
        if (op === Op.ADD || op === Op.ASSIGN_FINAL) assume("'==', '!=', or '='");
        if (isMatch) return add(key === 'ATTR' ? T.M_ATTR : T.M_SYSCTL, attr);
        checkValue(false);
        return add(key === 'ATTR' ? T.A_ATTR : T.A_SYSCTL, attr);
      case 'ATTRS':
        if (!checkAttr()) return false;
        if (!isMatch) return invalidOp();
        if (attr!.startsWith('device/')) warn("'device' link may not be available in future kernels.", at);
        if (attr!.includes('../')) warn('Direct reference to parent sysfs directory, may break in future kernels.', at);
        return add(T.M_PARENTS_ATTR, attr);
      case 'TEST': {
        let mode = INVALID;
        if (attr !== undefined && attr !== '') {
          const m = safeAtou(attr, { base: 8, refusePlusMinus: true });
          if (typeof m !== 'number' || m > 0o7777) return fail(`Failed to parse mode '${attr}': ${strerror(typeof m === 'number' ? 'ERANGE' : m)}`);
          mode = m;
        }
        checkValue(true);
        if (!isMatch) return invalidOp();
        if (ci) return invalidPrefix();
        return add(T.M_TEST, mode);
      }
      case 'PROGRAM':
        if (attr !== undefined) return invalidAttr();
        checkValue(true);
        if (op === Op.REMOVE) return invalidOp();
        if (!isMatch) op = Op.MATCH;
        if (ci) return invalidPrefix();
        return add(T.M_PROGRAM);
      case 'IMPORT': {
        if (attr === undefined || attr === '') return invalidAttr();
        checkValue(true);
        if (op === Op.REMOVE) return invalidOp();
        if (!isMatch) op = Op.MATCH;
        if (ci) return invalidPrefix();
        switch (attr) {
          case 'file':
            return add(T.M_IMPORT_FILE);
          case 'program': {
            const cmd = builtinLookup(value);
            return cmd < 0 ? add(T.M_IMPORT_PROGRAM) : add(T.M_IMPORT_BUILTIN, cmd);
          }
          case 'builtin': {
            const cmd = builtinLookup(value);
            if (cmd < 0) return fail(`Unknown builtin command: ${value}`);
            return add(T.M_IMPORT_BUILTIN, cmd);
          }
          case 'db':
            return add(T.M_IMPORT_DB);
          case 'cmdline':
            return add(T.M_IMPORT_CMDLINE);
          case 'parent':
            return add(T.M_IMPORT_PARENT);
          default:
            return invalidAttr();
        }
      }
      case 'OPTIONS':
        if (attr !== undefined) return invalidAttr();
        if (isMatch || op === Op.REMOVE) return invalidOp();
        if (op === Op.ADD) op = Op.ASSIGN;
        return parseOptions();
      case 'OWNER':
      case 'GROUP': {
        if (attr !== undefined) return invalidAttr();
        if (isMatch || op === Op.REMOVE) return invalidOp();
        if (op === Op.ADD) assume("'=' or ':='");
        const owner = key === 'OWNER';
        const id = parseId(value);
        if (id !== undefined) return addNumber(owner ? T.A_OWNER_ID : T.A_GROUP_ID, id);
        if (resolveNames === 'early' && value[0] !== '[' && !/[%$]/.test(value)) {
          const name = Buffer.from(value, 'latin1').toString('utf8');
          const found = owner ? resolveUser(name) : resolveGroup(name);
          if (found === undefined) err(`Unknown ${owner ? 'user' : 'group'} '${value}', ignoring.`, at);
          return addNumber(owner ? T.A_OWNER_ID : T.A_GROUP_ID, found ?? INVALID);
        }
        checkValue(true);
        return add(owner ? T.A_OWNER : T.A_GROUP);
      }
      case 'MODE': {
        if (attr !== undefined) return invalidAttr();
        if (isMatch || op === Op.REMOVE) return invalidOp();
        if (op === Op.ADD) assume("'=' or ':='");
        const mode = parseMode(value);
        if (mode !== undefined) return addNumber(T.A_MODE_ID, mode);
        checkValue(true);
        return add(T.A_MODE);
      }
      case 'SECLABEL':
        if (attr === undefined || attr === '') return invalidAttr();
        checkValue(true);
        if (isMatch || op === Op.REMOVE) return invalidOp();
        if (op === Op.ASSIGN_FINAL) assume("'=' or '+='");
        return add(T.A_SECLABEL, attr);
      case 'RUN':
        if (isMatch || op === Op.REMOVE) return invalidOp();
        checkValue(true);
        if (attr === undefined || attr === 'program') return add(T.A_RUN_PROGRAM);
        if (attr === 'builtin') {
          const cmd = builtinLookup(value);
          if (cmd < 0) return fail(`Unknown builtin command '${value}', ignoring.`);
          return add(T.A_RUN_BUILTIN, cmd);
        }
        return invalidAttr();
      case 'GOTO':
        if (attr !== undefined) return invalidAttr();
        if (op !== Op.ASSIGN) return invalidOp();
        if (rl.type & LINE_HAS_GOTO) {
          warn(`Contains multiple GOTO keys, ignoring GOTO="${value}".`, at);
          return true;
        }
        rl.gotoLabel = value;
        rl.gotoAt = at;
        rl.type |= LINE_HAS_GOTO;
        return true;
      case 'LABEL':
        if (attr !== undefined) return invalidAttr();
        if (op !== Op.ASSIGN) return invalidOp();
        if (rl.type & LINE_HAS_LABEL) warn(`Contains multiple LABEL keys, ignoring LABEL="${rl.label}".`, at);
        rl.label = value;
        rl.labelAt = at;
        rl.type |= LINE_HAS_LABEL;
        return true;
      default:
        return fail(`Invalid key '${key}'.`);
    }

    function parseOptions(): boolean {
      const simple: Record<string, [T, number | undefined]> = {
        'string_escape=none': [T.A_OPTIONS_STRING_ESCAPE_NONE, undefined],
        'string_escape=replace': [T.A_OPTIONS_STRING_ESCAPE_REPLACE, undefined],
        db_persist: [T.A_OPTIONS_DB_PERSIST, undefined],
        watch: [T.A_OPTIONS_WATCH, 1],
        nowatch: [T.A_OPTIONS_WATCH, 0],
      };
      const s = simple[value];
      if (s) return addNumber(s[0], s[1]);
      if (value.startsWith('static_node=')) {
        addToken(rl, T.A_OPTIONS_STATIC_NODE, op, value.slice('static_node='.length), undefined, ci);
        return true;
      }
      if (value.startsWith('link_priority=')) {
        const v = value.slice('link_priority='.length);
        const prio = safeAtoi(v);
        if (typeof prio !== 'number') return fail(`Failed to parse link priority '${v}': ${strerror(prio)}`);
        return addNumber(T.A_OPTIONS_LINK_PRIORITY, prio);
      }
      if (value.startsWith('log_level=')) {
        const v = value.slice('log_level='.length);
        const level = v === 'reset' ? -1 : logLevelFromString(v);
        if (level === undefined) return fail(`Failed to parse log level '${v}': Invalid argument`);
        return addNumber(T.A_OPTIONS_LOG_LEVEL, level);
      }
      warn(`Invalid value for OPTIONS key, ignoring: '${value}'`, at);
      return true;
    }
  }

  /** udev_check_conflicts_duplicates() */
  function checkConflictsDuplicates(l: RuleLine): void {
    let conflicts = false;
    let duplicates = false;
    const toks = l.tokens;
    for (let a = 0; a < toks.length; a++) {
      for (let b = a + 1; b < toks.length; b++) {
        const x = toks[a]!;
        const y = toks[b]!;
        let newConflicts = false;
        let newDuplicates = false;
        if (tokensEqual(x, y)) {
          if (!duplicates && x.op === y.op) newDuplicates = true;
          if (!conflicts && conflictingOps(x.op, y.op)) newConflicts = true;
        } else if (!conflicts && alternativesConflict(x, y)) newConflicts = true;
        else continue;
        if (newDuplicates) {
          duplicates = true;
          emit('warning', l.line, 'duplicate expressions.', l.at);
        }
        if (newConflicts) {
          conflicts = true;
          emit('error', l.line, 'conflicting match expressions, the line has no effect.', l.at);
        }
        if (conflicts && duplicates) return;
      }
    }
  }
}

interface Pair {
  key: string;
  keyAt: number;
  attr: string | undefined;
  op: Op;
  value: string;
  ci: boolean;
  /** Where the next token may start. */
  end: number;
}

function skipWhitespace(s: string, p: number): number {
  while (p < s.length && WHITESPACE.includes(s[p]!)) p++;
  return p;
}

/** The position of byte `offset` of a segment; the column (1-based) counts a UTF-8 sequence as one character. */
function charPos(seg: Segment, offset: number): Pos {
  const byteCol = seg.column + offset;
  const before = Buffer.from(seg.text.slice(0, byteCol), 'latin1').toString('utf8');
  return { line: seg.line, column: before.length + 1 };
}

/**
 * parse_line(): one KEY[{ATTR}] OP VALUE from `p`: the pair, 'end' when only separators are left, or the offset where
 * the pair starts when it is not valid ("Invalid key/value pair").
 */
function parsePair(s: string, p: number): Pair | 'end' | number {
  let k = p;
  while (k < s.length && (WHITESPACE.includes(s[k]!) || s[k] === ',')) k++;
  if (k >= s.length) return 'end';
  const keyAt = k;
  let e = k;
  for (;; e++) {
    if (e >= s.length) return keyAt;
    const c = s[e]!;
    if (WHITESPACE.includes(c) || c === '=' || c === '{') break;
    if ('+-!:'.includes(c) && s[e + 1] === '=') break;
  }
  let attr: string | undefined;
  let t = e;
  if (s[e] === '{') {
    const close = s.indexOf('}', e + 1);
    if (close < 0) return keyAt;
    attr = s.slice(e + 1, close);
    t = close + 1;
  }
  t = skipWhitespace(s, t);
  const op = OPERATORS.find(([text]) => s.startsWith(text, t));
  if (!op) return keyAt;
  t = skipWhitespace(s, t + op[0].length);
  const v = parseValue(s, t);
  if (v === undefined) return keyAt;
  return { key: s.slice(keyAt, e), keyAt, attr, op: op[1], value: v.value, ci: v.ci, end: v.end };
}

/** udev_rule_parse_value(): "..." (only \" unescaped), e"..." (C escapes), with an optional i (case-insensitive). */
function parseValue(s: string, p: number): { value: string; ci: boolean; end: number } | undefined {
  let escaped = false;
  let ci = false;
  for (let k = p; s[k] !== '"' && k < p + 2; k++) {
    if (s[k] === 'e' && !escaped) escaped = true;
    else if (s[k] === 'i' && !ci) ci = true;
    else return undefined;
  }
  const q = p + (escaped ? 1 : 0) + (ci ? 1 : 0);
  if (s[q] !== '"') return undefined;
  if (!escaped) {
    let value = '';
    let i = q + 1;
    for (; s[i] !== '"'; i++) {
      if (i >= s.length) return undefined;
      if (s[i] === '\\' && s[i + 1] === '"') i++;
      value += s[i];
    }
    return { value, ci, end: i + 1 };
  }
  let i = q + 1;
  for (; s[i] !== '"'; i++) {
    if (s[i] === '\\') i++;
    if (i >= s.length) return undefined;
  }
  const value = cunescape(s.slice(q + 1, i));
  return value === undefined ? undefined : { value, ci, end: i + 1 };
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39, s: 32 };

/** systemd's cunescape() without flags, on bytes (latin1 in, latin1 out); undefined when udev refuses it. */
function cunescape(raw: string): string | undefined {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '\\') {
      out += raw[i];
      continue;
    }
    const k = raw[i + 1];
    if (k === undefined) return undefined;
    if (k in SIMPLE_ESCAPES) {
      out += String.fromCharCode(SIMPLE_ESCAPES[k]!);
      i++;
      continue;
    }
    const hex = (n: number) => (raw.length >= i + 2 + n && /^[0-9a-fA-F]+$/.test(raw.slice(i + 2, i + 2 + n)) ? parseInt(raw.slice(i + 2, i + 2 + n), 16) : -1);
    if (k === 'x') {
      const v = hex(2);
      if (v <= 0) return undefined;
      out += String.fromCharCode(v);
      i += 3;
    } else if (k === 'u' || k === 'U') {
      const v = hex(k === 'u' ? 4 : 8);
      if (v <= 0 || (k === 'U' && !unicharIsValid(v))) return undefined;
      out += Buffer.from(utf8Encode(v)).toString('latin1');
      i += k === 'u' ? 5 : 9;
    } else if (k >= '0' && k <= '7') {
      const o = raw.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(o)) return undefined;
      const v = parseInt(o, 8);
      if (v === 0 || v > 255) return undefined;
      out += String.fromCharCode(v);
      i += 3;
    } else return undefined;
  }
  return out;
}

/** systemd's unichar_is_valid(). */
function unicharIsValid(c: number): boolean {
  return c < 0x110000 && (c & 0xfffff800) !== 0xd800 && !(c >= 0xfdd0 && c <= 0xfdef) && (c & 0xfffe) !== 0xfffe;
}

/** systemd's utf8_encode_unichar() (surrogates from \u are encoded like any other code point). */
function utf8Encode(c: number): number[] {
  if (c < 0x80) return [c];
  if (c < 0x800) return [0xc0 | (c >> 6), 0x80 | (c & 0x3f)];
  if (c < 0x10000) return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)];
  return [0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)];
}

/** udev_builtin_lookup(): the first builtin whose name starts with the command's first word (so "path" is path_id). */
function builtinLookup(command: string): number {
  const word = command.slice(skipWhitespace(command, 0)).split(/[ \t\n\r]/, 1)[0]!;
  return UDEV257_BUILTINS.findIndex((b) => b.slice(0, word.length) === word);
}

/** systemd's get_user_creds() for a name: root and nobody are built in (as on Debian), else the user database. */
function resolveUser(name: string): number | undefined {
  return name === 'root' ? 0 : name === 'nobody' ? 65534 : lookupUser(name);
}

/** systemd's get_group_creds() for a name: root and Debian's nogroup are built in, else the group database. */
function resolveGroup(name: string): number | undefined {
  return name === 'root' ? 0 : name === 'nogroup' ? 65534 : lookupGroup(name);
}

/** systemd's log_level_from_string(): a syslog level name or a number up to 7. */
function logLevelFromString(s: string): number | undefined {
  const i = LOG_LEVELS.indexOf(s);
  if (i >= 0) return i;
  const n = safeAtou(s);
  return typeof n === 'number' && n <= 7 ? n : undefined;
}

function conflictingOps(a: Op, b: Op): boolean {
  return (a === Op.MATCH && b === Op.NOMATCH) || (a === Op.NOMATCH && b === Op.MATCH);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
}

/** token_type_and_value_eq() && token_type_and_data_eq() && same substitution type: everything but the operator. */
function tokensEqual(a: Token, b: Token): boolean {
  if (a.subst !== b.subst || a.type !== b.type || a.matchType !== b.matchType || a.data !== b.data) return false;
  if (a.matchType === MATCH_EMPTY || a.matchType === MATCH_SUBSYSTEM) return true;
  return a.alternatives && b.alternatives ? sameSet(a.alternatives, b.alternatives) : a.value === b.value;
}

/** nulstr_tokens_conflict(): two == matches of the same kind that no single value can pass together. */
function alternativesConflict(a: Token, b: Token): boolean {
  if (!(a.type === b.type && a.alternatives && b.alternatives && a.op === b.op && a.op === Op.MATCH && a.matchType === b.matchType && a.subst === b.subst && a.data === b.data)) {
    return false;
  }
  if (a.matchType === MATCH_PLAIN) return !a.alternatives.some((x) => b.alternatives!.includes(x));
  if (a.matchType === MATCH_GLOB) {
    const literal = (s: string) => {
      let n = 0;
      while (n < s.length && !GLOB_CHARS.includes(s[n]!)) n++;
      return n;
    };
    for (const i of a.alternatives) {
      const iN = literal(i);
      if (iN === 0) return false;
      for (const j of b.alternatives) {
        const jN = literal(j);
        const n = Math.min(iN, jN);
        if (jN === 0 || i.slice(0, n) === j.slice(0, n)) return false;
      }
    }
    return true;
  }
  return false;
}

/** sort_tokens(): by type, keeping the order of tokens of one type. */
function stableSortByType(tokens: Token[]): Token[] {
  return tokens.map((t, i) => [t, i] as const).sort((x, y) => x[0].type - y[0].type || x[1] - y[1]).map(([t]) => t);
}
