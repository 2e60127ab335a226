// Compiles parsed rule lines into executable tokens: keys are checked against udev(7) (operators, attributes,
// values), patterns and substitutions are compiled once, OWNER/GROUP names are resolved, tokens are ordered as
// udev orders them (matches first), and GOTOs are linked to their LABELs.
import { compileFormat, type Format, type FormatIssue } from './format.js';
import { compilePattern, type CompiledPattern } from './pattern.js';
import { lookupGroup, lookupUser, parseId, parseMode } from '../sys/users.js';
import { isBuiltin } from '../builtins/registry.js';

export type Op = '==' | '!=' | '=' | '+=' | '-=' | ':=';

/** One KEY{ATTR} OP "VALUE" as the parser delivers it. */
export interface TokenInput {
  key: string;
  attr: string | undefined;
  op: Op;
  value: string;
  /** i"..." prefix (case-insensitive match). */
  caseInsensitive?: boolean;
  line: number;
  column: number;
}

/** One logical rule line as the parser delivers it. */
export interface LineInput {
  line: number;
  column?: number;
  tokens: TokenInput[];
}

export type Severity = 'error' | 'warning' | 'notice';

export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  severity: Severity;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`;
}

/** Token types in udev's order: a line's tokens run sorted by this (matches before assignments). */
export const enum T {
  M_ACTION,
  M_DEVPATH,
  M_KERNEL,
  M_DEVLINK,
  M_NAME,
  M_ENV,
  M_CONST,
  M_TAG,
  M_SUBSYSTEM,
  M_DRIVER,
  M_ATTR,
  M_SYSCTL,
  M_PARENTS_KERNEL,
  M_PARENTS_SUBSYSTEM,
  M_PARENTS_DRIVER,
  M_PARENTS_ATTR,
  M_PARENTS_TAG,
  M_TEST,
  M_PROGRAM,
  M_IMPORT_FILE,
  M_IMPORT_PROGRAM,
  M_IMPORT_BUILTIN,
  M_IMPORT_DB,
  M_IMPORT_CMDLINE,
  M_IMPORT_PARENT,
  M_RESULT,
  A_OPTIONS_DUMP,
  A_OPTIONS_STRING_ESCAPE_NONE,
  A_OPTIONS_STRING_ESCAPE_REPLACE,
  A_OPTIONS_DB_PERSIST,
  A_OPTIONS_WATCH,
  A_OPTIONS_LINK_PRIORITY,
  A_OPTIONS_LOG_LEVEL,
  A_OWNER,
  A_GROUP,
  A_MODE,
  A_OWNER_ID,
  A_GROUP_ID,
  A_MODE_ID,
  A_TAG,
  A_OPTIONS_STATIC_NODE,
  A_SECLABEL,
  A_ENV,
  A_NAME,
  A_DEVLINK,
  A_ATTR,
  A_SYSCTL,
  A_RUN_BUILTIN,
  A_RUN_PROGRAM,
}

export const FIRST_ASSIGN = T.A_OPTIONS_DUMP;

export function isParentToken(t: T): boolean {
  return t >= T.M_PARENTS_KERNEL && t <= T.M_PARENTS_TAG;
}

export interface Token {
  type: T;
  op: Op;
  key: string;
  attr: string | undefined;
  value: string;
  /** Match tokens: the compiled pattern (a token read from the rules cache has none until patternOf()). */
  pattern?: CompiledPattern;
  /** i"..." (systemd 257): the pattern matches letters in either case. */
  caseInsensitive?: boolean;
  /** Values that are expanded per event. */
  fmt?: Format;
  /** Attribute names with substitutions (ATTR{$x}, SYSCTL{%k}, ENV names never). */
  attrFmt?: Format;
  /** ATTR{[subsystem/sysname]attr}. */
  attrSubsys?: boolean;
  /** ATTR/ATTRS matches: drop trailing whitespace from the attribute value first. */
  trimValue?: boolean;
  /** Resolved number (uid, gid, mode, link priority), TEST's mode, watch on/off. */
  num?: number;
  /** Builtin name for IMPORT{builtin}/RUN{builtin}. */
  builtin?: string;
  file: string;
  line: number;
  column: number;
}

export const LINE_HAS_NAME = 1;
export const LINE_HAS_DEVLINK = 2;
export const LINE_HAS_STATIC_NODE = 4;
export const LINE_HAS_GOTO = 8;
export const LINE_HAS_LABEL = 16;
export const LINE_UPDATE_SOMETHING = 32;

export interface Line {
  file: string;
  line: number;
  tokens: Token[];
  /** Index of the first parent token (the run of KERNELS/SUBSYSTEMS/... evaluated together), or -1. */
  type: number;
  label?: string;
  gotoLabel?: string;
  gotoColumn?: number;
  /** Index (in the file's lines) of the LABEL line GOTO jumps to. */
  gotoIndex?: number;
}

export interface CompiledFile {
  path: string;
  lines: Line[];
  diagnostics: Diagnostic[];
  /** Number of error diagnostics (a file with errors is still usable, as in udev; reload may refuse it). */
  errors: number;
}

/** Every builtin name udev knows (IMPORT{program}="NAME ..." with one of these runs the builtin). */
export const UDEV_BUILTIN_NAMES: ReadonlySet<string> = new Set([
  'blkid', 'btrfs', 'factory_reset', 'hwdb', 'input_id', 'keyboard', 'kmod', 'net_driver', 'net_id', 'net_setup_link', 'path_id', 'uaccess', 'usb_id',
]);

export interface CompileOptions {
  /** 'early' resolves plain OWNER/GROUP names at load; 'late' when an event runs; 'never' drops them. */
  resolveNames?: 'early' | 'late' | 'never';
  /**
   * With 'early': look a plain name up when its token first runs, not at load (a token with the name and no id). For
   * a process that runs one event (devctl test), that is the same id, and it needs the system's user database (libc
   * through koffi, NSS) only for the names the event assigns: none on most devices. An unknown name is then warned
   * about when its line runs, not at load; the token is an assignment with no id all the same.
   */
  lookUpNamesWhenRun?: boolean;
}

class LineError extends Error {}

const ALTERNATIVE_TYPES = (t: T) => t < T.M_TEST || t === T.M_RESULT;

/** The compiled pattern of a match token whose value is a pattern (undefined for the others). */
export function tokenPattern(tok: Pick<Token, 'type' | 'value' | 'caseInsensitive'>): (CompiledPattern & { negates: boolean }) | undefined {
  const { type } = tok;
  if (type >= FIRST_ASSIGN || (type >= T.M_TEST && type !== T.M_RESULT)) return undefined;
  return compilePattern(tok.value, { alternatives: ALTERNATIVE_TYPES(type), subsystemKey: type === T.M_SUBSYSTEM || type === T.M_PARENTS_SUBSYSTEM, caseInsensitive: tok.caseInsensitive });
}

/**
 * The compiled pattern of a match token, made on its first use where the token came from the rules cache (which
 * keeps no patterns: most are never evaluated, and making them all was the largest step of a start's rules load).
 * Callers write `(tok.pattern ?? patternOf(tok))` so that the usual case stays a property read.
 */
export function patternOf(tok: Token): CompiledPattern {
  return (tok.pattern = tokenPattern(tok)!);
}

/** A line GOTO jumps to (its type bit). */
const LINE_REFERENCED = 64;

/** Compiles the parsed lines of one rules file. */
export function compileLines(file: string, inputs: readonly LineInput[], opts: CompileOptions = {}, diagnostics: Diagnostic[] = []): CompiledFile {
  const diag = (severity: Severity, line: number, column: number, message: string) => diagnostics.push({ file, line, column, severity, message });
  const lines: Line[] = [];
  for (const input of inputs) {
    const line = compileLine(file, input, opts, diag);
    if (line) lines.push(line);
  }
  const kept = linkGotos(lines, diag);
  const errors = diagnostics.filter((d) => d.severity === 'error' && d.file === file).length;
  return { path: file, lines: kept, diagnostics, errors };
}

type Diag = (severity: Severity, line: number, column: number, message: string) => void;

/** One line: its tokens compiled and sorted; undefined when a token is invalid (the whole line goes, as in udev) or it does nothing. */
function compileLine(file: string, input: LineInput, opts: CompileOptions, diag: Diag): Line | undefined {
  const line: Line = { file, line: input.line, tokens: [], type: 0 };
  try {
    for (const tin of input.tokens) {
      const k = new KeyCompiler(file, tin, line, opts.resolveNames ?? 'early', diag, opts.lookUpNamesWhenRun);
      if (!k.isMatch && tin.caseInsensitive) k.err(`invalid prefix 'i' for '${tin.key}': it can be used only with '==' or '!='`);
      (KEYS.get(tin.key) ?? unknownKey)(k);
    }
  } catch (e) {
    if (e instanceof LineError) return undefined;
    throw e;
  }
  if (line.type === 0) {
    diag('warning', input.line, input.column ?? 1, 'the line has no effect, ignoring');
    return undefined;
  }
  sortByType(line.tokens);
  return line;
}

/**
 * Sorts a line's tokens by type, stable (tokens of one type keep their order), in place: an insertion sort, as a
 * line has a handful. (Array.prototype.sort copied each line's tokens into work arrays of its own: an eighth of what
 * compiling Debian's rules allocated.)
 */
function sortByType(tokens: Token[]): void {
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    let j = i - 1;
    while (j >= 0 && tokens[j]!.type > t.type) {
      tokens[j + 1] = tokens[j]!;
      j--;
    }
    tokens[j + 1] = t;
  }
}

/**
 * GOTO → LABEL, forward only, within the file; then the lines that do nothing (a LABEL nobody jumps to) are
 * dropped and the GOTOs linked again to the kept lines.
 */
function linkGotos(lines: Line[], diag: Diag): Line[] {
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (!(l.type & LINE_HAS_GOTO)) continue;
    let found = -1;
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j]!.label === l.gotoLabel) {
        found = j;
        break;
      }
    }
    if (found < 0) {
      diag('error', l.line, l.gotoColumn ?? 1, `GOTO="${l.gotoLabel}" has no matching label, ignoring`);
      l.type &= ~LINE_HAS_GOTO;
      l.gotoLabel = undefined;
    } else {
      l.gotoIndex = found;
      lines[found]!.type |= LINE_REFERENCED;
    }
  }
  const kept = lines.filter((l) => l.type & ~(LINE_HAS_LABEL | LINE_REFERENCED) || l.type & LINE_REFERENCED);
  if (kept.length !== lines.length) {
    const index = new Map(kept.map((l, i) => [l, i]));
    for (const l of kept) if (l.gotoIndex !== undefined) l.gotoIndex = index.get(lines[l.gotoIndex]!);
  }
  return kept;
}

// ------------------------------------------------------------------ one KEY{ATTR} OP "VALUE"

/** One token being compiled: what it says, how to report on it, and how to add what it becomes to its line. */
class KeyCompiler {
  readonly key: string;
  readonly attr: string | undefined;
  readonly value: string;
  readonly isMatch: boolean;
  /** The operator; a key handler may change it (udev assumes '=' for some wrong ones). */
  op: Op;

  constructor(
    readonly file: string,
    readonly tin: TokenInput,
    readonly line: Line,
    readonly resolveNames: 'early' | 'late' | 'never',
    private readonly diag: Diag,
    readonly lookUpNamesWhenRun = false,
  ) {
    this.key = tin.key;
    this.attr = tin.attr;
    this.value = tin.value;
    this.op = tin.op;
    this.isMatch = tin.op === '==' || tin.op === '!=';
  }

  /** An error: the whole line is dropped. */
  err(message: string): never {
    this.diag('error', this.tin.line, this.tin.column, message);
    throw new LineError(message);
  }

  /** An error that keeps the line. */
  error(message: string): void {
    this.diag('error', this.tin.line, this.tin.column, message);
  }

  warn(message: string): void {
    this.diag('warning', this.tin.line, this.tin.column, message);
  }

  invalidOp(): never {
    return this.err(`invalid operator '${this.op}' for ${this.key}`);
  }

  invalidAttr(): never {
    return this.err(`invalid attribute for ${this.key}`);
  }

  noAttr(): void {
    if (this.attr !== undefined) this.invalidAttr();
  }

  /** The attribute, which the key needs. */
  needAttr(): string {
    if (this.attr === undefined || this.attr === '') return this.invalidAttr();
    return this.attr;
  }

  assumeAssign(takes: string): void {
    this.warn(`${this.key} key takes ${takes} operator, assuming '='`);
    this.op = '=';
  }

  /** A value with substitutions, compiled; each problem is an error that keeps the line. */
  format(v: string, nonEmpty: boolean): Format {
    if (nonEmpty && v === '') this.error(`invalid value "" for ${this.key} (empty value)`);
    const issues: FormatIssue[] = [];
    const f = compileFormat(v, issues);
    for (const is of issues) this.error(`invalid value "${v}" for ${this.key} (char ${is.offset + 1}: ${is.message})`);
    return f;
  }

  /** The attribute name of ATTR/ATTRS/SYSCTL, checked for substitutions. */
  checkAttrFormat(): string {
    const a = this.needAttr();
    const issues: FormatIssue[] = [];
    compileFormat(a, issues);
    for (const is of issues) this.error(`invalid attribute "${a}" for ${this.key} (char ${is.offset + 1}: ${is.message})`);
    return a;
  }

  /** Adds a token of `type` to the line (a match compiles its pattern) and marks what the line does. */
  add(type: T, extra: Partial<Token> = {}): Token {
    const { key, attr, value, tin, line } = this;
    const tok: Token = { type, op: this.op, key, attr, value, file: this.file, line: tin.line, column: tin.column, ...extra };
    if (tin.caseInsensitive) tok.caseInsensitive = true;
    const p = tokenPattern(tok);
    if (p) {
      tok.pattern = p;
      if (p.negates) tok.op = tok.op === '==' ? '!=' : '==';
    }
    if (type === T.M_ATTR || type === T.M_PARENTS_ATTR) {
      tok.trimValue = value.length > 0 && !/\s$/.test(value);
      if (attr!.startsWith('[')) tok.attrSubsys = true;
      else if (/[%$]/.test(attr!)) tok.attrFmt = compileFormat(attr!);
    }
    line.tokens.push(tok);
    if (type === T.A_NAME) line.type |= LINE_HAS_NAME;
    else if (type === T.A_DEVLINK || (type >= T.A_OWNER && type <= T.A_MODE_ID)) line.type |= LINE_HAS_DEVLINK;
    else if (type === T.A_OPTIONS_STATIC_NODE) line.type |= LINE_HAS_STATIC_NODE;
    else if (type >= FIRST_ASSIGN || (type >= T.M_PROGRAM && type <= T.M_IMPORT_PARENT)) line.type |= LINE_UPDATE_SOMETHING;
    return tok;
  }
}

// ------------------------------------------------------------------ the keys, one handler each

type KeyHandler = (k: KeyCompiler) => void;

/** The match-only keys without attribute, and their token types. */
const SIMPLE_MATCHES: Readonly<Record<string, T>> = {
  ACTION: T.M_ACTION,
  DEVPATH: T.M_DEVPATH,
  KERNEL: T.M_KERNEL,
  SUBSYSTEM: T.M_SUBSYSTEM,
  DRIVER: T.M_DRIVER,
  KERNELS: T.M_PARENTS_KERNEL,
  SUBSYSTEMS: T.M_PARENTS_SUBSYSTEM,
  DRIVERS: T.M_PARENTS_DRIVER,
  TAGS: T.M_PARENTS_TAG,
  RESULT: T.M_RESULT,
};

function simpleMatch(k: KeyCompiler): void {
  k.noAttr();
  if (!k.isMatch) k.invalidOp();
  if (k.key === 'SUBSYSTEM' && (k.value === 'bus' || k.value === 'class')) k.warn(`"${k.value}" must be specified as "subsystem"`);
  k.add(SIMPLE_MATCHES[k.key]!);
}

function symlink(k: KeyCompiler): void {
  k.noAttr();
  if (k.isMatch) k.add(T.M_DEVLINK);
  else k.add(T.A_DEVLINK, { fmt: k.format(k.value, false) });
}

function name(k: KeyCompiler): void {
  k.noAttr();
  if (k.op === '-=') k.invalidOp();
  if (k.op === '+=') k.assumeAssign("'==', '!=', '=', or ':='");
  if (k.isMatch) {
    k.add(T.M_NAME);
    return;
  }
  if (k.value === '%k') k.err('ignoring NAME="%k", as it will take no effect');
  if (k.value === '') k.err('ignoring NAME="", as udev will not delete any network interfaces');
  k.add(T.A_NAME, { fmt: k.format(k.value, false) });
}

function env(k: KeyCompiler): void {
  k.needAttr();
  if (k.op === '-=') k.invalidOp();
  if (k.op === ':=') k.assumeAssign("'==', '!=', '=', or '+='");
  if (k.isMatch) k.add(T.M_ENV);
  else k.add(T.A_ENV, { fmt: k.format(k.value, false) });
}

function constant(k: KeyCompiler): void {
  if (k.attr !== 'arch' && k.attr !== 'virt') k.invalidAttr();
  if (!k.isMatch) k.invalidOp();
  k.add(T.M_CONST);
}

function tag(k: KeyCompiler): void {
  k.noAttr();
  if (k.op === ':=') k.assumeAssign("'==', '!=', '=', or '+='");
  if (k.isMatch) k.add(T.M_TAG);
  else k.add(T.A_TAG, { fmt: k.format(k.value, true) });
}

/** ATTR and SYSCTL. */
function attribute(k: KeyCompiler): void {
  const attr = k.checkAttrFormat();
  if (k.op === '-=') k.invalidOp();
  if (k.op === '+=' || k.op === ':=') k.assumeAssign("'==', '!=', or '='");
  const isAttr = k.key === 'ATTR';
  if (k.isMatch) {
    const t = k.add(isAttr ? T.M_ATTR : T.M_SYSCTL);
    if (!isAttr) t.attrFmt = compileFormat(attr);
  } else {
    const t = k.add(isAttr ? T.A_ATTR : T.A_SYSCTL, { fmt: k.format(k.value, false) });
    if (isAttr && attr.startsWith('[')) t.attrSubsys = true;
    t.attrFmt = compileFormat(attr);
  }
}

function parentAttribute(k: KeyCompiler): void {
  const attr = k.checkAttrFormat();
  if (!k.isMatch) k.invalidOp();
  if (attr.startsWith('device/')) k.warn("'device' link may not be available in future kernels");
  if (attr.includes('../')) k.warn('direct reference to parent sysfs directory, may break in future kernels');
  k.add(T.M_PARENTS_ATTR);
}

function test(k: KeyCompiler): void {
  let mode: number | undefined;
  if (k.attr !== undefined && k.attr !== '') {
    mode = parseMode(k.attr);
    if (mode === undefined) k.err(`failed to parse mode '${k.attr}'`);
  }
  const fmt = k.format(k.value, true);
  if (!k.isMatch) k.invalidOp();
  if (k.tin.caseInsensitive) k.err(`invalid prefix 'i' for ${k.key}`);
  k.add(T.M_TEST, { fmt, num: mode });
}

function program(k: KeyCompiler): void {
  k.noAttr();
  const fmt = k.format(k.value, true);
  if (k.op === '-=') k.invalidOp();
  if (!k.isMatch) k.op = '==';
  k.add(T.M_PROGRAM, { fmt });
}

/** The builtin a command line starts with. */
const firstWord = (value: string) => value.trim().split(/\s+/)[0] ?? '';

function importKey(k: KeyCompiler): void {
  const attr = k.needAttr();
  const fmt = k.format(k.value, true);
  if (k.op === '-=') k.invalidOp();
  if (!k.isMatch) k.op = '==';
  if (k.tin.caseInsensitive) k.err(`invalid prefix 'i' for ${k.key}`);
  const first = firstWord(k.value);
  switch (attr) {
    case 'file':
      k.add(T.M_IMPORT_FILE, { fmt });
      return;
    case 'program':
      if (UDEV_BUILTIN_NAMES.has(first) || isBuiltin(first)) {
        if (!isBuiltin(first)) k.warn(`builtin '${first}' is not implemented by devMaster; the import will fail`);
        k.add(T.M_IMPORT_BUILTIN, { fmt, builtin: first });
      } else k.add(T.M_IMPORT_PROGRAM, { fmt });
      return;
    case 'builtin':
      if (!isBuiltin(first)) {
        if (UDEV_BUILTIN_NAMES.has(first)) k.warn(`builtin '${first}' is not implemented by devMaster; the import will fail`);
        else k.warn(`unknown builtin command '${first}'; the import will fail`);
      }
      k.add(T.M_IMPORT_BUILTIN, { fmt, builtin: first });
      return;
    case 'db':
      k.add(T.M_IMPORT_DB);
      return;
    case 'cmdline':
      k.add(T.M_IMPORT_CMDLINE);
      return;
    case 'parent':
      k.add(T.M_IMPORT_PARENT, { fmt });
      return;
    default:
      k.invalidAttr();
  }
}

const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

function options(k: KeyCompiler): void {
  k.noAttr();
  if (k.isMatch || k.op === '-=') k.invalidOp();
  if (k.op === '+=') k.op = '=';
  const value = k.value;
  if (value === 'dump') k.add(T.A_OPTIONS_DUMP);
  else if (value === 'string_escape=none') k.add(T.A_OPTIONS_STRING_ESCAPE_NONE);
  else if (value === 'string_escape=replace') k.add(T.A_OPTIONS_STRING_ESCAPE_REPLACE);
  else if (value === 'db_persist') k.add(T.A_OPTIONS_DB_PERSIST);
  else if (value === 'watch') k.add(T.A_OPTIONS_WATCH, { num: 1 });
  else if (value === 'nowatch') k.add(T.A_OPTIONS_WATCH, { num: 0 });
  else if (value.startsWith('static_node=')) k.add(T.A_OPTIONS_STATIC_NODE, { value: value.slice('static_node='.length) });
  else if (value.startsWith('link_priority=')) {
    const p = value.slice('link_priority='.length);
    if (!/^[+-]?\d+$/.test(p.trim())) k.err(`failed to parse link priority '${p}'`);
    k.add(T.A_OPTIONS_LINK_PRIORITY, { num: Number(p.trim()) });
  } else if (value.startsWith('log_level=')) {
    const l = value.slice('log_level='.length);
    let level: number;
    if (l === 'reset') level = -1;
    else if (/^[0-7]$/.test(l)) level = Number(l);
    else if (LOG_LEVELS.includes(l)) level = LOG_LEVELS.indexOf(l);
    else return k.err(`failed to parse log level '${l}'`);
    k.add(T.A_OPTIONS_LOG_LEVEL, { num: level });
  } else k.warn(`invalid value for OPTIONS key, ignoring: '${value}'`);
}

/** OWNER and GROUP: a number, a name resolved now (resolve_names=early), or a value with substitutions. */
function ownerGroup(k: KeyCompiler): void {
  k.noAttr();
  if (k.isMatch || k.op === '-=') k.invalidOp();
  if (k.op === '+=') k.assumeAssign("'=' or ':='");
  const isOwner = k.key === 'OWNER';
  const id = parseId(k.value);
  if (id !== undefined) {
    k.add(isOwner ? T.A_OWNER_ID : T.A_GROUP_ID, { num: id });
  } else if (k.resolveNames === 'early' && !/[%$]/.test(k.value)) {
    if (k.lookUpNamesWhenRun) {
      k.add(isOwner ? T.A_OWNER_ID : T.A_GROUP_ID); // no num: exec.ts looks the name up when the token runs
      return;
    }
    const r = isOwner ? lookupUser(k.value) : lookupGroup(k.value);
    if (r === undefined) {
      // udev logs this as an error; it is the system's user database that lacks the name, not the rules
      // file that is wrong, so devMaster warns and keeps the file usable (a reload never rejects it for this)
      k.warn(`unknown ${isOwner ? 'user' : 'group'} "${k.value}", ignoring`);
      // udev keeps the token with an invalid id: it still counts as an assignment (and := still makes it final)
      k.add(isOwner ? T.A_OWNER_ID : T.A_GROUP_ID, { num: -1 });
    } else k.add(isOwner ? T.A_OWNER_ID : T.A_GROUP_ID, { num: r });
  } else if (k.resolveNames !== 'never') {
    k.add(isOwner ? T.A_OWNER : T.A_GROUP, { fmt: k.format(k.value, true) });
  }
}

function mode(k: KeyCompiler): void {
  k.noAttr();
  if (k.isMatch || k.op === '-=') k.invalidOp();
  if (k.op === '+=') k.assumeAssign("'=' or ':='");
  const m = parseMode(k.value);
  if (m !== undefined) k.add(T.A_MODE_ID, { num: m });
  else k.add(T.A_MODE, { fmt: k.format(k.value, true) });
}

function seclabel(k: KeyCompiler): void {
  k.needAttr();
  const fmt = k.format(k.value, true);
  if (k.isMatch || k.op === '-=') k.invalidOp();
  if (k.op === ':=') k.assumeAssign("'=' or '+='");
  k.add(T.A_SECLABEL, { fmt });
}

function run(k: KeyCompiler): void {
  if (k.isMatch || k.op === '-=') k.invalidOp();
  const fmt = k.format(k.value, true);
  if (k.attr === undefined || k.attr === 'program') {
    k.add(T.A_RUN_PROGRAM, { fmt });
    return;
  }
  if (k.attr !== 'builtin') k.invalidAttr();
  const first = firstWord(k.value);
  if (!isBuiltin(first)) {
    if (UDEV_BUILTIN_NAMES.has(first)) k.warn(`builtin '${first}' is not implemented by devMaster; RUN{builtin} will do nothing`);
    else k.warn(`unknown builtin command '${first}'; RUN{builtin} will do nothing`);
  }
  k.add(T.A_RUN_BUILTIN, { fmt, builtin: first });
}

function goto(k: KeyCompiler): void {
  k.noAttr();
  if (k.op !== '=') k.invalidOp();
  const line = k.line;
  if (line.type & LINE_HAS_GOTO) {
    k.warn(`contains multiple GOTO keys, ignoring GOTO="${k.value}"`);
    return;
  }
  line.gotoLabel = k.value;
  line.gotoColumn = k.tin.column;
  line.type |= LINE_HAS_GOTO;
}

function label(k: KeyCompiler): void {
  k.noAttr();
  if (k.op !== '=') k.invalidOp();
  const line = k.line;
  if (line.type & LINE_HAS_LABEL) k.warn(`contains multiple LABEL keys, ignoring LABEL="${line.label}"`);
  line.label = k.value;
  line.type |= LINE_HAS_LABEL;
}

function deprecated(k: KeyCompiler): void {
  k.err(`invalid key '${k.key}' (deprecated and no longer supported by udev)`);
}

function unknownKey(k: KeyCompiler): void {
  k.err(`invalid key '${k.key}'`);
}

/** Every key udev knows, and its handler. */
const KEYS: ReadonlyMap<string, KeyHandler> = new Map(Object.entries({
  ...Object.fromEntries(Object.keys(SIMPLE_MATCHES).map((key) => [key, simpleMatch])),
  SYMLINK: symlink,
  NAME: name,
  ENV: env,
  CONST: constant,
  TAG: tag,
  ATTR: attribute,
  SYSCTL: attribute,
  ATTRS: parentAttribute,
  TEST: test,
  PROGRAM: program,
  IMPORT: importKey,
  OPTIONS: options,
  OWNER: ownerGroup,
  GROUP: ownerGroup,
  MODE: mode,
  SECLABEL: seclabel,
  RUN: run,
  GOTO: goto,
  LABEL: label,
  ...Object.fromEntries(['BUS', 'SYSFS', 'ID', 'WAIT_FOR', 'WAIT_FOR_SYSFS', 'IGNORE_DEVICE', 'IGNORE_REMOVE', 'LAST_RULE'].map((key) => [key, deprecated])),
}));
