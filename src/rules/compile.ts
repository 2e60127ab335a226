// Compiles parsed rule lines into executable tokens: keys are checked against udev(7) (operators, attributes,
// values), patterns and substitutions are compiled once, OWNER/GROUP names are resolved, tokens are ordered as
// udev orders them (matches first), and GOTOs are linked to their LABELs.
import { compileFormat, type Format, type FormatIssue } from './format.js';
import { compilePattern, type CompiledPattern } from './pattern.js';
import { lookupGroup, lookupUser, parseId, parseMode } from '../util/users.js';
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
  /** Match tokens: the compiled pattern. */
  pattern?: CompiledPattern;
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
  /** "KEY{attr}==\"value\"" for logs. */
  text: string;
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
}

class LineError extends Error {}

const ALTERNATIVE_TYPES = (t: T) => t < T.M_TEST || t === T.M_RESULT;

/** Compiles the parsed lines of one rules file. */
export function compileLines(file: string, inputs: readonly LineInput[], opts: CompileOptions = {}, diagnostics: Diagnostic[] = []): CompiledFile {
  const resolveNames = opts.resolveNames ?? 'early';
  const lines: Line[] = [];
  const diag = (severity: Severity, line: number, column: number, message: string) => diagnostics.push({ file, line, column, severity, message });

  for (const input of inputs) {
    const line: Line = { file, line: input.line, tokens: [], type: 0 };
    try {
      for (const tin of input.tokens) compileToken(tin, line);
    } catch (e) {
      if (e instanceof LineError) continue; // the whole line is ignored, as udev does
      throw e;
    }
    if (line.type === 0) {
      diag('warning', input.line, input.column ?? 1, 'the line has no effect, ignoring');
      continue;
    }
    line.tokens.sort((a, b) => a.type - b.type);
    lines.push(line);
  }

  // GOTO → LABEL, forward only, within the file
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
      lines[found]!.type |= 64; // referenced
    }
  }
  const kept = lines.filter((l) => l.type & ~(LINE_HAS_LABEL | 64) || l.type & 64);
  // re-link gotos after dropping lines that do nothing
  if (kept.length !== lines.length) {
    const index = new Map(kept.map((l, i) => [l, i]));
    for (const l of kept) if (l.gotoIndex !== undefined) l.gotoIndex = index.get(lines[l.gotoIndex]!);
  }
  const errors = diagnostics.filter((d) => d.severity === 'error' && d.file === file).length;
  return { path: file, lines: kept, diagnostics, errors };

  // ---------------------------------------------------------------------------------------------------------

  function compileToken(tin: TokenInput, line: Line): void {
    const { key, attr, value } = tin;
    let op = tin.op;
    const isMatch = op === '==' || op === '!=';
    const text = `${key}${attr !== undefined ? `{${attr}}` : ''}${op}"${value}"`;
    const err = (message: string): never => {
      diag('error', tin.line, tin.column, message);
      throw new LineError(message);
    };
    const warn = (message: string) => diag('warning', tin.line, tin.column, message);
    const invalidOp = () => err(`invalid operator '${op}' for ${key}`);
    const invalidAttr = () => err(`invalid attribute for ${key}`);
    const noAttr = () => {
      if (attr !== undefined) invalidAttr();
    };
    const checkFormat = (v: string, what: string, nonEmpty: boolean): Format => {
      if (nonEmpty && v === '') diag('error', tin.line, tin.column, `invalid value "" for ${what} (empty value)`);
      const issues: FormatIssue[] = [];
      const f = compileFormat(v, issues);
      for (const is of issues) diag('error', tin.line, tin.column, `invalid value "${v}" for ${what} (char ${is.offset + 1}: ${is.message})`);
      return f;
    };
    const checkAttrFormat = (a: string | undefined): void => {
      if (a === undefined || a === '') invalidAttr();
      const issues: FormatIssue[] = [];
      compileFormat(a!, issues);
      for (const is of issues) diag('error', tin.line, tin.column, `invalid attribute "${a}" for ${key} (char ${is.offset + 1}: ${is.message})`);
    };
    if (!isMatch && tin.caseInsensitive) err(`invalid prefix 'i' for '${key}': it can be used only with '==' or '!='`);

    const add = (type: T, extra: Partial<Token> = {}) => {
      const tok: Token = { type, op, key, attr, value, file, line: tin.line, column: tin.column, text, ...extra };
      if (type < FIRST_ASSIGN && (type < T.M_TEST || type === T.M_RESULT)) {
        const p = compilePattern(value, { alternatives: ALTERNATIVE_TYPES(type), subsystemKey: type === T.M_SUBSYSTEM || type === T.M_PARENTS_SUBSYSTEM, caseInsensitive: tin.caseInsensitive });
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
    };
    const assumeAssign = (takes: string) => {
      warn(`${key} key takes ${takes} operator, assuming '='`);
      op = '=';
    };

    switch (key) {
      case 'ACTION':
      case 'DEVPATH':
      case 'KERNEL':
      case 'SUBSYSTEM':
      case 'DRIVER':
      case 'KERNELS':
      case 'SUBSYSTEMS':
      case 'DRIVERS':
      case 'TAGS':
      case 'RESULT': {
        noAttr();
        if (!isMatch) invalidOp();
        if (key === 'SUBSYSTEM' && (value === 'bus' || value === 'class')) warn(`"${value}" must be specified as "subsystem"`);
        const map: Record<string, T> = {
          ACTION: T.M_ACTION, DEVPATH: T.M_DEVPATH, KERNEL: T.M_KERNEL, SUBSYSTEM: T.M_SUBSYSTEM, DRIVER: T.M_DRIVER,
          KERNELS: T.M_PARENTS_KERNEL, SUBSYSTEMS: T.M_PARENTS_SUBSYSTEM, DRIVERS: T.M_PARENTS_DRIVER, TAGS: T.M_PARENTS_TAG, RESULT: T.M_RESULT,
        };
        add(map[key]!);
        return;
      }
      case 'SYMLINK':
        noAttr();
        if (isMatch) add(T.M_DEVLINK);
        else add(T.A_DEVLINK, { fmt: checkFormat(value, key, false) });
        return;
      case 'NAME':
        noAttr();
        if (op === '-=') invalidOp();
        if (op === '+=') assumeAssign("'==', '!=', '=', or ':='");
        if (isMatch) {
          add(T.M_NAME);
          return;
        }
        if (value === '%k') err('ignoring NAME="%k", as it will take no effect');
        if (value === '') err('ignoring NAME="", as udev will not delete any network interfaces');
        add(T.A_NAME, { fmt: checkFormat(value, key, false) });
        return;
      case 'ENV':
        if (attr === undefined || attr === '') invalidAttr();
        if (op === '-=') invalidOp();
        if (op === ':=') assumeAssign("'==', '!=', '=', or '+='");
        if (isMatch) add(T.M_ENV);
        else add(T.A_ENV, { fmt: checkFormat(value, key, false) });
        return;
      case 'CONST':
        if (attr !== 'arch' && attr !== 'virt') invalidAttr();
        if (!isMatch) invalidOp();
        add(T.M_CONST);
        return;
      case 'TAG':
        noAttr();
        if (op === ':=') assumeAssign("'==', '!=', '=', or '+='");
        if (isMatch) add(T.M_TAG);
        else add(T.A_TAG, { fmt: checkFormat(value, key, true) });
        return;
      case 'ATTR':
      case 'SYSCTL': {
        checkAttrFormat(attr);
        if (op === '-=') invalidOp();
        if (op === '+=' || op === ':=') assumeAssign("'==', '!=', or '='");
        const isAttr = key === 'ATTR';
        if (isMatch) {
          const t = add(isAttr ? T.M_ATTR : T.M_SYSCTL);
          if (!isAttr) t.attrFmt = compileFormat(attr!);
        } else {
          const t = add(isAttr ? T.A_ATTR : T.A_SYSCTL, { fmt: checkFormat(value, key, false) });
          if (isAttr && attr!.startsWith('[')) t.attrSubsys = true;
          t.attrFmt = compileFormat(attr!);
        }
        return;
      }
      case 'ATTRS':
        checkAttrFormat(attr);
        if (!isMatch) invalidOp();
        if (attr!.startsWith('device/')) warn("'device' link may not be available in future kernels");
        if (attr!.includes('../')) warn('direct reference to parent sysfs directory, may break in future kernels');
        add(T.M_PARENTS_ATTR);
        return;
      case 'TEST': {
        let mode: number | undefined;
        if (attr !== undefined && attr !== '') {
          mode = parseMode(attr);
          if (mode === undefined) err(`failed to parse mode '${attr}'`);
        }
        const fmt = checkFormat(value, key, true);
        if (!isMatch) invalidOp();
        if (tin.caseInsensitive) err(`invalid prefix 'i' for ${key}`);
        add(T.M_TEST, { fmt, num: mode });
        return;
      }
      case 'PROGRAM': {
        noAttr();
        const fmt = checkFormat(value, key, true);
        if (op === '-=') invalidOp();
        if (!isMatch) op = '==';
        add(T.M_PROGRAM, { fmt });
        return;
      }
      case 'IMPORT': {
        if (attr === undefined || attr === '') invalidAttr();
        const fmt = checkFormat(value, key, true);
        if (op === '-=') invalidOp();
        if (!isMatch) op = '==';
        if (tin.caseInsensitive) err(`invalid prefix 'i' for ${key}`);
        const first = value.trim().split(/\s+/)[0] ?? '';
        switch (attr) {
          case 'file':
            add(T.M_IMPORT_FILE, { fmt });
            return;
          case 'program':
            if (UDEV_BUILTIN_NAMES.has(first) || isBuiltin(first)) {
              if (!isBuiltin(first)) warn(`builtin '${first}' is not implemented by devMaster; the import will fail`);
              add(T.M_IMPORT_BUILTIN, { fmt, builtin: first });
            } else add(T.M_IMPORT_PROGRAM, { fmt });
            return;
          case 'builtin':
            if (!isBuiltin(first)) {
              if (UDEV_BUILTIN_NAMES.has(first)) warn(`builtin '${first}' is not implemented by devMaster; the import will fail`);
              else warn(`unknown builtin command '${first}'; the import will fail`);
            }
            add(T.M_IMPORT_BUILTIN, { fmt, builtin: first });
            return;
          case 'db':
            add(T.M_IMPORT_DB);
            return;
          case 'cmdline':
            add(T.M_IMPORT_CMDLINE);
            return;
          case 'parent':
            add(T.M_IMPORT_PARENT, { fmt });
            return;
          default:
            invalidAttr();
        }
        return;
      }
      case 'OPTIONS': {
        noAttr();
        if (isMatch || op === '-=') invalidOp();
        if (op === '+=') op = '=';
        if (value === 'dump') add(T.A_OPTIONS_DUMP);
        else if (value === 'string_escape=none') add(T.A_OPTIONS_STRING_ESCAPE_NONE);
        else if (value === 'string_escape=replace') add(T.A_OPTIONS_STRING_ESCAPE_REPLACE);
        else if (value === 'db_persist') add(T.A_OPTIONS_DB_PERSIST);
        else if (value === 'watch') add(T.A_OPTIONS_WATCH, { num: 1 });
        else if (value === 'nowatch') add(T.A_OPTIONS_WATCH, { num: 0 });
        else if (value.startsWith('static_node=')) add(T.A_OPTIONS_STATIC_NODE, { value: value.slice('static_node='.length) });
        else if (value.startsWith('link_priority=')) {
          const s = value.slice('link_priority='.length);
          if (!/^[+-]?\d+$/.test(s.trim())) err(`failed to parse link priority '${s}'`);
          add(T.A_OPTIONS_LINK_PRIORITY, { num: Number(s.trim()) });
        } else if (value.startsWith('log_level=')) {
          const s = value.slice('log_level='.length);
          const levels = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];
          let lvl: number;
          if (s === 'reset') lvl = -1;
          else if (/^[0-7]$/.test(s)) lvl = Number(s);
          else if (levels.includes(s)) lvl = levels.indexOf(s);
          else err(`failed to parse log level '${s}'`);
          add(T.A_OPTIONS_LOG_LEVEL, { num: lvl! });
        } else warn(`invalid value for OPTIONS key, ignoring: '${value}'`);
        return;
      }
      case 'OWNER':
      case 'GROUP': {
        noAttr();
        if (isMatch || op === '-=') invalidOp();
        if (op === '+=') assumeAssign("'=' or ':='");
        const isOwner = key === 'OWNER';
        const id = parseId(value);
        if (id !== undefined) {
          add(isOwner ? T.A_OWNER_ID : T.A_GROUP_ID, { num: id });
        } else if (resolveNames === 'early' && !/[%$]/.test(value)) {
          const r = isOwner ? lookupUser(value) : lookupGroup(value);
          if (r === undefined) {
            // udev logs this as an error; it is the system's user database that lacks the name, not the rules
            // file that is wrong, so devMaster warns and keeps the file usable (a reload never rejects it for this)
            diag('warning', tin.line, tin.column, `unknown ${isOwner ? 'user' : 'group'} "${value}", ignoring`);
            // udev keeps the token with an invalid id: it still counts as an assignment (and := still makes it final)
            add(isOwner ? T.A_OWNER_ID : T.A_GROUP_ID, { num: -1 });
          } else add(isOwner ? T.A_OWNER_ID : T.A_GROUP_ID, { num: r });
        } else if (resolveNames !== 'never') {
          add(isOwner ? T.A_OWNER : T.A_GROUP, { fmt: checkFormat(value, key, true) });
        }
        return;
      }
      case 'MODE': {
        noAttr();
        if (isMatch || op === '-=') invalidOp();
        if (op === '+=') assumeAssign("'=' or ':='");
        const m = parseMode(value);
        if (m !== undefined) add(T.A_MODE_ID, { num: m });
        else add(T.A_MODE, { fmt: checkFormat(value, key, true) });
        return;
      }
      case 'SECLABEL': {
        if (attr === undefined || attr === '') invalidAttr();
        const fmt = checkFormat(value, key, true);
        if (isMatch || op === '-=') invalidOp();
        if (op === ':=') assumeAssign("'=' or '+='");
        add(T.A_SECLABEL, { fmt });
        return;
      }
      case 'RUN': {
        if (isMatch || op === '-=') invalidOp();
        const fmt = checkFormat(value, key, true);
        if (attr === undefined || attr === 'program') add(T.A_RUN_PROGRAM, { fmt });
        else if (attr === 'builtin') {
          const first = value.trim().split(/\s+/)[0] ?? '';
          if (!isBuiltin(first)) {
            if (UDEV_BUILTIN_NAMES.has(first)) warn(`builtin '${first}' is not implemented by devMaster; RUN{builtin} will do nothing`);
            else warn(`unknown builtin command '${first}'; RUN{builtin} will do nothing`);
          }
          add(T.A_RUN_BUILTIN, { fmt, builtin: first });
        } else invalidAttr();
        return;
      }
      case 'GOTO':
        noAttr();
        if (op !== '=') invalidOp();
        if (line.type & LINE_HAS_GOTO) {
          warn(`contains multiple GOTO keys, ignoring GOTO="${value}"`);
          return;
        }
        line.gotoLabel = value;
        line.gotoColumn = tin.column;
        line.type |= LINE_HAS_GOTO;
        return;
      case 'LABEL':
        noAttr();
        if (op !== '=') invalidOp();
        if (line.type & LINE_HAS_LABEL) warn(`contains multiple LABEL keys, ignoring LABEL="${line.label}"`);
        line.label = value;
        line.type |= LINE_HAS_LABEL;
        return;
      case 'BUS':
      case 'SYSFS':
      case 'ID':
      case 'WAIT_FOR':
      case 'WAIT_FOR_SYSFS':
      case 'IGNORE_DEVICE':
      case 'IGNORE_REMOVE':
      case 'LAST_RULE':
        err(`invalid key '${key}' (deprecated and no longer supported by udev)`);
        return;
      default:
        err(`invalid key '${key}'`);
    }
  }
}
