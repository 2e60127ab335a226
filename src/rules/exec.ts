// Executes a compiled RuleSet on one event: the pure core of devMaster. It reads sysfs through the Device
// model and runs PROGRAM/IMPORT{program} children, but changes nothing on disk except ATTR/SYSCTL writes
// (skipped in test mode); nodes, links and the database are applied afterwards by src/event/.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Device, DeviceError } from '../device/device.js';
import type { DbRecord } from '../device/db.js';
import type { Roots } from '../device/roots.js';
import { DEV_PREFIX, devPath } from '../device/roots.js';
import type { Logger } from '../log.js';
import type { Builtin, BuiltinEventState } from '../builtins/types.js';
import { runsOnce } from '../builtins/registry.js';
import { isValidTag } from '../device/db.js';
import { ALLOWED_CHARS_INPUT, expandFormat, replaceChars, type Format, type FormatSource, type SubstPart } from './format.js';
import { fnmatch } from '../util/fnmatch.js';
import { runCommandLine } from './spawn.js';
import { cmdlineValue, readCmdline, splitCommand } from '../util/cmdline.js';
import { T, isParentToken, patternOf, LINE_HAS_DEVLINK, LINE_HAS_GOTO, LINE_HAS_NAME, LINE_UPDATE_SOMETHING, type Line, type Token } from './compile.js';
import type { RuleSet } from './load.js';
import { countingPlan, linePlan, type CountingPlan } from './plan.js';
import { lookupGroup, lookupUser, parseId, parseMode } from '../sys/users.js';
import { constArch, constVirt } from './const.js';
import { isSystemError, tryOr } from '../util/fs.js';
import { checkpoint } from '../util/cancel.js';
import { ConfinementError, hasDotDot, writeExisting } from '../device/confine.js';
import { nowMs } from '../util/clock.js';

export interface RunItem {
  command: string;
  /** Set for RUN{builtin}. */
  builtin?: string;
  file: string;
  line: number;
}

export interface TraceEntry {
  file: string;
  line: number;
  what: string;
}

export interface ExecEnv {
  roots: Roots;
  log: Logger;
  /** No side effects: ATTR/SYSCTL writes are skipped, RUN is only listed. */
  test: boolean;
  execTimeoutMs: number;
  /** Loaded builtins by name. */
  builtins: ReadonlyMap<string, Builtin>;
  /** Kernel command line (default: /proc/cmdline). */
  cmdline?: string;
  /** Collects what each rule line did (devctl test). */
  trace?: TraceEntry[];
  /** The daemon's warm-up (src/daemon/warm-up.ts): PROGRAM and IMPORT{program} fail without running anything. */
  noPrograms?: boolean;
  /** Set when the event was given up (its timeout): no further line runs, running programs are killed. */
  signal?: AbortSignal;
  /** Cost accounting (src/stats), only when stats are on: one check per rule line when off. */
  cost?: RuleCost;
}

/** What a program or builtin started by a rule is, for the cost accounting. */
export type ChildKind = 'program' | 'builtin' | 'run';

/**
 * Evaluations of the rule lines of one rules set, by file index in the set and by line index and outcome: line
 * `i`'s evaluations that failed at `outcomes[f][2 * i]`, those that matched at `outcomes[f][2 * i + 1]` (so its
 * evaluations are their sum). Counted by executeRules itself: one array increment per line, no call.
 */
export interface LineCounters {
  outcomes: Uint32Array[];
  /**
   * An event ran counting plan `plan` to its end: it passed the GOTO lines at the top of every file (plan.heads),
   * which the executor did not step over (one call per event, where each such line would cost a step and an increment).
   */
  ran(plan: CountingPlan): void;
  /** An event run by counting plan `plan` stopped in file `f` (an exception): it passed the heads of files 0..f. */
  stopped(plan: CountingPlan, f: number): void;
}

/**
 * Per-event cost accounting hooks (implemented by src/stats). An event runs one rule line, and at most one
 * program or builtin, at a time.
 */
export interface RuleCost {
  /** The counters of a rules set (asked once per event). */
  counters(rules: RuleSet): LineCounters;
  /** Whether this event's rule lines are timed (the accounting samples events; on the others they are counted). */
  readonly timeLines: boolean;
  /** On a timed event: line `i` of file `f` (`line`) was evaluated beyond its first key, since `startedAt` (nowMs()). */
  line(f: number, i: number, line: Line, startedAt: number): void;
  /** A program (PROGRAM, IMPORT{program}), builtin (IMPORT{builtin}) or RUN item of rule file:line starts. */
  childStart(kind: ChildKind, file: string, line: number, what: string): void;
  /** The child started last is done. */
  childEnd(): void;
}

type Esc = 'unset' | 'none' | 'replace';

/** Everything one event accumulates while the rules run (udev's UdevEvent). */
export class EventState {
  readonly device: Device;
  /** The device's previous database record (IMPORT{db}, old links and tags). */
  readonly dbOld: DbRecord | undefined;
  /** The ancestor that the last parent-key group matched (for $id and $driver). */
  devParent: Device | undefined;
  /** NAME= for network interfaces. */
  name: string | undefined;
  uid: number | undefined;
  gid: number | undefined;
  mode: number | undefined;
  ownerFinal = false;
  groupFinal = false;
  modeFinal = false;
  nameFinal = false;
  devlinkFinal = false;
  runFinal = false;
  watchFinal = false;
  watch: boolean | undefined;
  esc: Esc = 'unset';
  programResult: string | undefined;
  readonly runList: RunItem[] = [];
  /** SECLABEL{module}= values (made by the first such assignment: most events have none). */
  seclabels: Map<string, string> | undefined;
  /** What the builtins that run once per event returned, by name (made by the first one). */
  builtinOutcomes: Map<string, boolean> | undefined;
  /** OPTIONS+="log_level=..." (syslog number, -1 = reset). */
  logLevel: number | undefined;
  /** Something went wrong that fails the event (a program timed out). */
  failed = false;
  readonly errors: string[] = [];
  /** ATTR{}= and SYSCTL{}= writes (done, or would-be in test mode). */
  readonly writes: { path: string; value: string }[] = [];
  /** What builtins hand to the apply step (net_setup_link's alternative names). */
  readonly builtinEvent: BuiltinEventState = {};

  constructor(device: Device, dbOld: DbRecord | undefined) {
    this.device = device;
    this.dbOld = dbOld;
  }
}

/**
 * Runs every rule line of the set on the event. Synchronous until a line that waits for a program or a builtin
 * is reached: only then (and from there on) it returns a promise, so an event whose lines never wait costs no
 * promise and no await at all.
 */
export function executeRules(rules: RuleSet, ev: EventState, env: ExecEnv): void | Promise<void> {
  const dev = ev.device;
  const action = dev.action ?? 'add';
  let mask = LINE_HAS_GOTO | LINE_UPDATE_SOMETHING;
  if (action !== 'remove') {
    if (dev.devnum) mask |= LINE_HAS_DEVLINK;
    if (dev.ifindex !== undefined) mask |= LINE_HAS_NAME;
  }
  const cost = env.cost;
  const counters = cost?.counters(rules);
  const timed = cost?.timeLines === true;
  const files = rules.files;
  // the lines this kind of event can reach (plan.ts): the others are stepped over without a look; a trace has every
  // GOTO taken in it; with the statistics on, the GOTO lines the plan steps over are counted: those at the top of a
  // file once per event (counters.ran()), the others where the event passes them
  const counting = counters !== undefined && env.trace === undefined ? countingPlan(rules, mask, dev.action ?? '', dev.subsystem ?? '') : undefined;
  const plan = counting !== undefined ? counting.next : linePlan(rules, mask, dev.action ?? '', dev.subsystem ?? '', env.trace !== undefined ? 'steps' : 'jumps');
  // the signal can only be aborted while the event awaits: checked here and after each await of a token
  checkpoint(env.signal);

  /**
   * Runs from line `start` of file `f0` on (-1: from the first line the plan has); hands over to waitAt() at the
   * first line that waits. `resumed` is the result of line `start`, when it waited and is done (`t0`: when it started).
   */
  const runFrom = (f0: number, start: number, resumed?: boolean, t0Resumed = 0): void | Promise<void> => {
    let f = f0;
    try {
      for (; f < files.length; f++) {
        const lines = files[f]!.lines;
        const next = plan[f]!;
        const outcomes = counters?.outcomes[f];
        let i = f !== f0 || start < 0 ? next[0]! : start;
        for (;;) {
          // with the statistics: a GOTO line the plan steps over (-1 - its index, a counting plan), counted, then its LABEL's entry
          while (i < 0) {
            const g = -1 - i;
            outcomes![2 * g + 1]!++;
            i = next[lines[g]!.gotoIndex!]!;
          }
          if (i >= lines.length) break;
          const line = lines[i]!;
          let ok: boolean;
          let t0 = t0Resumed;
          if (resumed !== undefined) {
            ok = resumed;
            resumed = undefined;
          } else {
            // Many lines fail on a first DEVPATH or KERNEL key: decide those here, cheaply.
            const first = line.tokens[0];
            if (first !== undefined && (first.type === T.M_DEVPATH || first.type === T.M_KERNEL)) {
              if ((first.pattern ?? patternOf(first)).test(first.type === T.M_DEVPATH ? dev.devpath : dev.sysname) !== (first.op === '==')) {
                i = next[i + 1]!;
                continue;
              }
            }
            t0 = timed ? nowMs() : 0;
            const r = applyLine(line, ev, env);
            if (typeof r !== 'boolean') return waitAt(f, i, r, t0);
            ok = r;
          }
          if (outcomes !== undefined) {
            if (ok) outcomes[2 * i + 1]!++;
            else outcomes[2 * i]!++;
            if (timed) cost!.line(f, i, line, t0);
          }
          // on to the next line, or to the GOTO's LABEL
          let p = i + 1;
          if (ok && line.gotoIndex !== undefined) {
            env.trace?.push({ file: line.file, line: line.line, what: `GOTO="${line.gotoLabel}"` });
            p = line.gotoIndex;
          }
          i = next[p]!;
        }
      }
    } catch (e) {
      // the files after f were not entered
      if (counting !== undefined) counters!.stopped(counting, f);
      throw e;
    }
    if (counting !== undefined) counters!.ran(counting);
  };

  /** A line that waits for a program or a builtin, then the rest of the rules. */
  const waitAt = async (f: number, i: number, pending: Promise<boolean>, t0: number): Promise<void> => {
    let ok: boolean;
    try {
      ok = await pending;
    } catch (e) {
      if (counting !== undefined) counters!.stopped(counting, f);
      throw e;
    }
    await runFrom(f, i, ok, t0);
  };

  return runFrom(0, -1);
}

/**
 * Applies a line's tokens in order; false when one of them stops the line. Synchronous until a token waits for a
 * program or a builtin (PROGRAM, IMPORT{program}, IMPORT{builtin}): from there on a promise, so that most lines
 * cost no promise and no await.
 */
function applyLine(line: Line, ev: EventState, env: ExecEnv): boolean | Promise<boolean> {
  ev.esc = 'unset';
  return applyTokens(line.tokens, 0, false, ev, env);
}

function applyTokens(toks: readonly Token[], start: number, parentsDone: boolean, ev: EventState, env: ExecEnv): boolean | Promise<boolean> {
  for (let i = start; i < toks.length; i++) {
    const tok = toks[i]!;
    if (isParentToken(tok.type)) {
      if (parentsDone) continue;
      if (!matchParents(toks, i, ev, env)) return false;
      parentsDone = true;
      continue;
    }
    if (isWaitingToken(tok.type)) return waitThenApply(toks, i, parentsDone, ev, env);
    if (!applyToken(tok, ev.device, ev, env)) return false;
  }
  return true;
}

/**
 * Token `i` waits (a program or a builtin); the line's tokens after it follow. Kept out of applyTokens(): a closure
 * there would capture its loop variables, and V8 would then allocate a context on every call and every turn of the
 * loop, waiting token or not.
 */
function waitThenApply(toks: readonly Token[], i: number, parentsDone: boolean, ev: EventState, env: ExecEnv): Promise<boolean> {
  return applyWaitingToken(toks[i]!, ev.device, ev, env).then((ok) => ok && applyTokens(toks, i + 1, parentsDone, ev, env));
}

/** The run of parent tokens starting at `start` must all match on one ancestor (or the device itself). */
function matchParents(toks: readonly Token[], start: number, ev: EventState, env: ExecEnv): boolean {
  for (let d: Device | undefined = ev.device; d; d = d.parent()) {
    ev.devParent = d;
    let all = true;
    for (let i = start; i < toks.length && isParentToken(toks[i]!.type); i++) {
      if (!matchSync(toks[i]!, d, ev, env)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  ev.devParent = undefined;
  return false;
}

function result(tok: Token, matched: boolean): boolean {
  return tok.op === (matched ? '==' : '!=');
}

function matchString(tok: Token, s: string | undefined): boolean {
  return result(tok, (tok.pattern ?? patternOf(tok)).test(s ?? ''));
}

function matchAny(tok: Token, values: Iterable<string>): boolean {
  const pattern = tok.pattern ?? patternOf(tok);
  for (const v of values) if (pattern.test(v)) return tok.op === '==';
  return tok.op === '!=';
}

/** The matches that never run programs. */
function matchSync(tok: Token, dev: Device, ev: EventState, env: ExecEnv): boolean {
  switch (tok.type) {
    case T.M_ACTION:
      return matchString(tok, dev.action);
    case T.M_DEVPATH:
      return matchString(tok, dev.devpath);
    case T.M_KERNEL:
    case T.M_PARENTS_KERNEL:
      return matchString(tok, dev.sysname);
    case T.M_DEVLINK:
      return matchAny(tok, [...dev.devlinks].map((l) => (l.startsWith(DEV_PREFIX + '/') ? l.slice(DEV_PREFIX.length + 1) : '')));
    case T.M_NAME:
      return matchString(tok, ev.name);
    case T.M_ENV:
      return matchString(tok, dev.property(tok.attr!));
    case T.M_CONST:
      return matchString(tok, tok.attr === 'arch' ? constArch() : constVirt(env.roots));
    case T.M_TAG:
      return matchAny(tok, dev.currentTags);
    case T.M_PARENTS_TAG:
      if (dev !== ev.device) dev.loadDb();
      return matchAny(tok, dev.currentTags);
    case T.M_SUBSYSTEM:
    case T.M_PARENTS_SUBSYSTEM:
      return matchString(tok, dev.subsystem);
    case T.M_DRIVER:
    case T.M_PARENTS_DRIVER:
      return matchString(tok, dev === ev.device && dev.action !== undefined ? dev.property('DRIVER') ?? dev.driver : dev.driver);
    case T.M_ATTR:
    case T.M_PARENTS_ATTR: {
      let value: string | undefined;
      if (tok.attrSubsys) value = resolveSubsysAttr(env.roots, tok.attr!, true);
      else {
        const name = tok.attrFmt ? expand(tok.attrFmt, ev, env) : tok.attr!;
        value = dev.sysattr(name);
      }
      if (value === undefined) return false;
      if (tok.trimValue) value = value.replace(/\s+$/, '');
      return matchString(tok, value);
    }
    case T.M_SYSCTL: {
      const name = normalizeSysctl(expand(tok.attrFmt!, ev, env));
      // a sysctl that cannot be read (missing, not permitted, a name leaving /proc/sys) matches as empty
      const value = hasDotDot(name) ? '' : tryOr(() => readFileSync(join(SYSCTL_ROOT, name), 'utf8').trim(), '');
      return matchString(tok, value);
    }
    case T.M_RESULT:
      return matchString(tok, ev.programResult);
    case T.M_TEST:
      return matchTest(tok, dev, ev, env);
    case T.M_IMPORT_DB: {
      const v = ev.dbOld?.properties.get(tok.value);
      if (v === undefined) return result(tok, false);
      dev.setProperty(tok.value, v);
      return result(tok, true);
    }
    case T.M_IMPORT_CMDLINE: {
      // a bare KEY (no value) imports "1", as udev does
      const v = cmdlineValue(env.cmdline ?? readCmdline(), tok.value, { valueOptional: true });
      if (v === undefined) return result(tok, false);
      dev.setProperty(tok.value, v ?? '1');
      return result(tok, true);
    }
    case T.M_IMPORT_PARENT: {
      const glob = expand(tok.fmt!, ev, env);
      const parent = dev.parent();
      if (!parent) return result(tok, false);
      parent.loadDb();
      let have = false;
      for (const [k, v] of parent.properties) {
        if (!fnmatch(glob, k)) continue;
        dev.setProperty(k, v);
        have = true;
      }
      return result(tok, have);
    }
    case T.M_IMPORT_FILE: {
      const path = hostPath(env.roots, expand(tok.fmt!, ev, env));
      const text = tryOr(() => readFileSync(path, 'utf8'), undefined);
      if (text === undefined) return result(tok, false);
      for (const l of text.split('\n')) {
        const kv = propertyFromLine(l);
        if (kv) dev.setProperty(kv[0], kv[1]);
      }
      return result(tok, true);
    }
  }
  throw new Error(`internal: token ${tok.key} (${tok.file}:${tok.line}:${tok.column}) is not a synchronous match`);
}

/** The tokens that wait for a program or a builtin. */
function isWaitingToken(t: T): boolean {
  return t === T.M_PROGRAM || t === T.M_IMPORT_PROGRAM || t === T.M_IMPORT_BUILTIN;
}

/** PROGRAM, IMPORT{program} and IMPORT{builtin}; returns false when the line stops here. */
async function applyWaitingToken(tok: Token, dev: Device, ev: EventState, env: ExecEnv): Promise<boolean> {
  const trace = (what: string) => env.trace?.push({ file: tok.file, line: tok.line, what });
  switch (tok.type) {
    case T.M_PROGRAM: {
      ev.programResult = undefined;
      const cmd = expandCommand(tok.fmt!, ev, env);
      const r = await spawnFor(tok, cmd, ev, env, true);
      checkpoint(env.signal);
      if (!r.ok) return result(tok, false);
      ev.programResult = replaceChars(r.stdout.replace(/\n+$/, ''), ALLOWED_CHARS_INPUT);
      trace(`PROGRAM "${cmd}" → "${ev.programResult}"`);
      return result(tok, true);
    }
    case T.M_IMPORT_PROGRAM: {
      const cmd = expandCommand(tok.fmt!, ev, env);
      const r = await spawnFor(tok, cmd, ev, env, true);
      checkpoint(env.signal);
      if (!r.ok) return result(tok, false);
      let out = r.stdout;
      if (r.truncated) out = out.slice(0, Math.max(0, out.lastIndexOf('\n')));
      const imported: string[] = [];
      for (const l of out.split('\n')) {
        const kv = propertyFromLine(l);
        if (!kv) continue;
        dev.setProperty(kv[0], kv[1]);
        imported.push(`${kv[0]}=${kv[1]}`);
      }
      trace(`IMPORT{program} "${cmd}" → ${imported.join(' ') || '(nothing)'}`);
      return result(tok, true);
    }
    case T.M_IMPORT_BUILTIN: {
      const name = tok.builtin!;
      const b = env.builtins.get(name);
      const once = runsOnce(name);
      if (once) {
        const outcome = ev.builtinOutcomes?.get(name);
        if (outcome !== undefined) return result(tok, outcome);
      }
      const cmd = expand(tok.fmt!, ev, env);
      ev.builtinEvent.notes = env.trace ? [] : undefined;
      env.cost?.childStart('builtin', tok.file, tok.line, cmd);
      const ok = await runBuiltin(b, name, cmd, dev, ev, env, tok);
      env.cost?.childEnd();
      checkpoint(env.signal);
      if (once) (ev.builtinOutcomes ??= new Map()).set(name, ok);
      const notes = ev.builtinEvent.notes?.length ? `: ${ev.builtinEvent.notes.join('; ')}` : '';
      trace(`IMPORT{builtin} "${cmd}" ${ok ? 'succeeded' : 'failed'}${notes}`);
      return result(tok, ok);
    }
  }
  throw new Error(`internal: token ${tok.key} (${tok.file}:${tok.line}:${tok.column}) does not wait`);
}

/**
 * What devctl test notes of a token, made only where it collects them. (A closure made in applyToken() itself would
 * make V8 allocate a context for its arguments on every call.)
 */
function tracer(trace: TraceEntry[], tok: Token): (what: string) => void {
  return (what) => trace.push({ file: tok.file, line: tok.line, what });
}

/** Applies one token that does not wait; returns false when the line stops here. */
function applyToken(tok: Token, dev: Device, ev: EventState, env: ExecEnv): boolean {
  // undefined unless devctl test collects it: trace?.(...) then builds no string
  const trace = env.trace && tracer(env.trace, tok);
  switch (tok.type) {
    case T.A_OPTIONS_DUMP:
      env.log.info({ device: dev.devpath, properties: Object.fromEntries(dev.properties) }, `${tok.file}:${tok.line} OPTIONS="dump"`);
      return true;
    case T.A_OPTIONS_STRING_ESCAPE_NONE:
      ev.esc = 'none';
      return true;
    case T.A_OPTIONS_STRING_ESCAPE_REPLACE:
      ev.esc = 'replace';
      return true;
    case T.A_OPTIONS_DB_PERSIST:
      dev.dbPersist = true;
      trace?.('OPTIONS+="db_persist"');
      return true;
    case T.A_OPTIONS_WATCH:
      if (ev.watchFinal) return true;
      if (tok.op === ':=') ev.watchFinal = true;
      ev.watch = tok.num === 1;
      trace?.(`OPTIONS="${ev.watch ? 'watch' : 'nowatch'}"`);
      return true;
    case T.A_OPTIONS_LINK_PRIORITY:
      dev.devlinkPriority = tok.num!;
      trace?.(`link_priority=${tok.num}`);
      return true;
    case T.A_OPTIONS_LOG_LEVEL:
      ev.logLevel = tok.num;
      return true;
    case T.A_OWNER:
    case T.A_OWNER_ID:
      if (ev.ownerFinal) return true;
      if (tok.op === ':=') ev.ownerFinal = true;
      ev.uid = assignedId(tok, ev, env, 'user', ev.uid);
      trace?.(`OWNER=${ev.uid ?? '(unset)'}`);
      return true;
    case T.A_GROUP:
    case T.A_GROUP_ID:
      if (ev.groupFinal) return true;
      if (tok.op === ':=') ev.groupFinal = true;
      ev.gid = assignedId(tok, ev, env, 'group', ev.gid);
      trace?.(`GROUP=${ev.gid ?? '(unset)'}`);
      return true;
    case T.A_MODE:
    case T.A_MODE_ID: {
      if (ev.modeFinal) return true;
      if (tok.op === ':=') ev.modeFinal = true;
      if (tok.type === T.A_MODE_ID) ev.mode = tok.num;
      else {
        const s = expand(tok.fmt!, ev, env);
        const m = parseMode(s);
        if (m === undefined) env.log.error(`${tok.file}:${tok.line} failed to parse mode "${s}", ignoring`);
        else ev.mode = m;
      }
      trace?.(`MODE=${ev.mode?.toString(8).padStart(4, '0') ?? '(unset)'}`);
      return true;
    }
    case T.A_SECLABEL: {
      const label = expand(tok.fmt!, ev, env) || tok.value;
      if (tok.op === '=' || ev.seclabels === undefined) ev.seclabels = new Map();
      ev.seclabels.set(tok.attr!, label);
      trace?.(`SECLABEL{${tok.attr}}="${label}"`);
      return true;
    }
    case T.A_ENV: {
      const name = tok.attr!;
      if (tok.value === '') {
        if (tok.op === '+=') return true;
        dev.setProperty(name, '');
        trace?.(`ENV{${name}} removed`);
        return true;
      }
      let v = '';
      if (tok.op === '+=') {
        const old = dev.property(name);
        if (old !== undefined) v = old + ' ';
      }
      let add = expand(tok.fmt!, ev, env);
      if (ev.esc === 'replace') add = replaceChars(add);
      v += add;
      dev.setProperty(name, v);
      trace?.(`ENV{${name}}="${v}"`);
      return true;
    }
    case T.A_TAG: {
      const tag = expand(tok.fmt!, ev, env);
      if (tok.op === '-=') {
        dev.tags.delete(tag);
        dev.currentTags.delete(tag);
        trace?.(`TAG-="${tag}"`);
        return true;
      }
      if (tok.op === '=') {
        dev.tags.clear();
        dev.currentTags.clear();
      }
      if (!isValidTag(tag)) {
        env.log.warn(`${tok.file}:${tok.line} invalid tag "${tag}", ignoring`);
        return true;
      }
      dev.tags.add(tag);
      dev.currentTags.add(tag);
      trace?.(`TAG+="${tag}"`);
      return true;
    }
    case T.A_NAME: {
      if (ev.nameFinal) return true;
      if (tok.op === ':=') ev.nameFinal = true;
      if (dev.ifindex === undefined) {
        env.log.warn(`${tok.file}:${tok.line} only network interfaces can be renamed, ignoring NAME`);
        return true;
      }
      let name = expand(tok.fmt!, ev, env);
      if (ev.esc === 'unset' || ev.esc === 'replace') name = replaceChars(name, '/').replace(/\//g, '_');
      ev.name = name;
      trace?.(`NAME="${name}"`);
      return true;
    }
    case T.A_DEVLINK: {
      if (ev.devlinkFinal) return true;
      if (!dev.devnum) return true;
      if (tok.op === ':=') ev.devlinkFinal = true;
      if (tok.op === '=' || tok.op === ':=') dev.devlinks.clear();
      let buf = expand(tok.fmt!, ev, env, ev.esc !== 'none');
      if (ev.esc === 'unset') buf = replaceChars(buf, '/ ');
      else if (ev.esc === 'replace') buf = replaceChars(buf, '/');
      for (const word of splitCommand(buf)) {
        const link = mangleDevlink(word);
        if (!link) {
          env.log.warn({ devpath: ev.device.devpath }, `${tok.file}:${tok.line} invalid symlink name "${word}" (it leaves /dev), ignoring`);
          continue;
        }
        if (tok.op === '-=') {
          if (dev.devlinks.delete(link)) trace?.(`SYMLINK-="${link}"`);
        } else {
          dev.devlinks.add(link);
          trace?.(`SYMLINK+="${link}"`);
        }
      }
      return true;
    }
    case T.A_ATTR: {
      // the attribute's path, normalized: ".." may climb inside sysfs (ATTR{../uevent}), never out of it
      let path: string | undefined;
      if (tok.attrSubsys) path = resolveSubsysAttr(env.roots, tok.attr!, false);
      if (path === undefined) path = join(dev.syspath, tok.attrFmt ? expand(tok.attrFmt, ev, env) : tok.attr!);
      const sub = substSubdir(path);
      if (!sub) {
        env.log.error({ devpath: ev.device.devpath }, `${tok.file}:${tok.line} could not find file matching "${path}", ignoring`);
        return true;
      }
      writeValue(tok, ev, env, env.roots.sysfs, sub, expand(tok.fmt!, ev, env), 'sysfs attribute');
      return true;
    }
    case T.A_SYSCTL: {
      const name = normalizeSysctl(expand(tok.attrFmt!, ev, env));
      const value = expand(tok.fmt!, ev, env);
      // as udev's sysctl_write: a name that is not normalized ("..") is refused before anything is opened
      if (hasDotDot(name) || name === '') {
        env.log.error({ devpath: ev.device.devpath }, `${tok.file}:${tok.line} refusing to write SYSCTL{${name}}="${value}": the name leaves ${SYSCTL_ROOT}`);
        return true;
      }
      writeValue(tok, ev, env, SYSCTL_ROOT, join(SYSCTL_ROOT, name), value, 'sysctl');
      return true;
    }
    case T.A_RUN_BUILTIN:
    case T.A_RUN_PROGRAM: {
      if (ev.runFinal) return true;
      if (tok.op === ':=') ev.runFinal = true;
      if (tok.op === '=' || tok.op === ':=') ev.runList.length = 0;
      const cmd = tok.type === T.A_RUN_BUILTIN ? expand(tok.fmt!, ev, env) : expandCommand(tok.fmt!, ev, env);
      const builtin = tok.type === T.A_RUN_BUILTIN ? tok.builtin : undefined;
      if (!ev.runList.some((r) => r.command === cmd && r.builtin === builtin)) ev.runList.push({ command: cmd, builtin, file: tok.file, line: tok.line });
      trace?.(`RUN${builtin ? '{builtin}' : ''} "${cmd}"`);
      return true;
    }
    case T.A_OPTIONS_STATIC_NODE:
      return true;
    default:
      return matchSync(tok, dev, ev, env);
  }
}

/** Where SYSCTL{} names live (the running kernel's, not an injectable root). */
export const SYSCTL_ROOT = '/proc/sys';

/**
 * ATTR{}= and SYSCTL{}=: records the write, and does it unless in test mode, to an existing file under `root` only
 * (src/device/confine.ts); a refusal or a failure is logged with the rule's file:line and the device, never fatal.
 */
function writeValue(tok: Token, ev: EventState, env: ExecEnv, root: string, path: string, value: string, what: string): void {
  ev.writes.push({ path, value });
  if (!env.test) {
    try {
      writeExisting(root, path, value, what);
    } catch (e) {
      if (!(e instanceof ConfinementError) && !isSystemError(e)) throw e;
      const why = e instanceof ConfinementError ? `refusing to write "${value}": ${e.message}` : `failed to write "${value}" to ${what} "${path}", ignoring: ${(e as Error).message}`;
      env.log.error({ devpath: ev.device.devpath }, `${tok.file}:${tok.line} ${why}`);
    }
  }
  env.trace?.push({ file: tok.file, line: tok.line, what: `${tok.key} "${path}" ← "${value}"${env.test ? ' (test: not written)' : ''}` });
}

/**
 * The uid/gid an OWNER/GROUP token assigns: a number resolved at load (-1: the name was unknown, the value is
 * unset) or, compiled with lookUpNamesWhenRun, a name resolved the same way when the token first runs; or a name
 * substituted and resolved now (unknown: the previous value stays).
 */
function assignedId(tok: Token, ev: EventState, env: ExecEnv, kind: 'user' | 'group', previous: number | undefined): number | undefined {
  if (tok.type === T.A_OWNER_ID || tok.type === T.A_GROUP_ID) {
    if (tok.num !== undefined) return tok.num >= 0 ? tok.num : undefined;
    const id = kind === 'user' ? lookupUser(tok.value) : lookupGroup(tok.value);
    if (id === undefined) env.log.warn(`${tok.file}:${tok.line} unknown ${kind} "${tok.value}", ignoring`);
    return id;
  }
  const name = expand(tok.fmt!, ev, env);
  const id = parseId(name) ?? (kind === 'user' ? lookupUser(name) : lookupGroup(name));
  if (id !== undefined) return id;
  env.log.error(`${tok.file}:${tok.line} unknown ${kind} "${name}", ignoring`);
  return previous;
}

async function spawnFor(tok: Token, cmd: string, ev: EventState, env: ExecEnv, capture: boolean): Promise<{ ok: boolean; stdout: string; truncated: boolean }> {
  if (env.noPrograms) return { ok: false, stdout: '', truncated: false };
  const first = cmd.trim().split(/\s+/)[0] ?? '';
  env.cost?.childStart('program', tok.file, tok.line, cmd);
  const r = await runCommandLine(cmd, { env: propertiesEnv(ev.device), timeoutMs: env.execTimeoutMs, captureStdout: capture, signal: env.signal });
  env.cost?.childEnd();
  if (r.stderr) for (const l of r.stderr.replace(/\n$/, '').split('\n')) env.log.debug(`${tok.file}:${tok.line} '${first}'(err) '${l}'`);
  if (r.timedOut) {
    ev.failed = true;
    const msg = `${tok.file}:${tok.line} command "${cmd}" timed out after ${env.execTimeoutMs} ms, killed`;
    ev.errors.push(msg);
    env.log.error(msg);
    return { ok: false, stdout: '', truncated: false };
  }
  if (r.error) {
    env.log.warn(`${tok.file}:${tok.line} failed to execute "${cmd}": ${r.error.message}`);
    return { ok: false, stdout: '', truncated: false };
  }
  if (r.code !== 0) {
    env.log.debug(`${tok.file}:${tok.line} command "${cmd}" returned ${r.code ?? r.signal} (error)`);
    return { ok: false, stdout: r.stdout, truncated: r.truncated };
  }
  return { ok: true, stdout: r.stdout, truncated: r.truncated };
}

/** The environment a rules program sees: the device's properties (udev passes nothing else). */
export function propertiesEnv(dev: Device): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of dev.properties) env[k] = v;
  return env;
}

export async function runBuiltin(b: Builtin | undefined, name: string, cmd: string, dev: Device, ev: EventState | undefined, env: ExecEnv, tok?: Token): Promise<boolean> {
  const where = tok ? `${tok.file}:${tok.line} ` : '';
  if (!b) {
    env.log.debug(`${where}builtin '${name}' is not available`);
    return false;
  }
  try {
    return await b.run(
      {
        device: dev,
        action: dev.action ?? 'add',
        roots: env.roots,
        test: env.test,
        log: env.log,
        setProperty: (k, v) => dev.setProperty(k, v),
        builtins: env.builtins,
        dbProperties: ev?.dbOld?.properties,
        event: ev?.builtinEvent,
      },
      splitCommand(cmd),
    );
  } catch (e) {
    env.log.warn(`${where}builtin '${name}' failed: ${(e as Error).message}`);
    if (ev) ev.errors.push(`${where}builtin '${name}' failed: ${(e as Error).message}`);
    return false;
  }
}

// ------------------------------------------------------------------------------------------------ helpers

function expand(fmt: Format, ev: EventState, env: ExecEnv, replaceWs = false, forCommand = false): string {
  if (fmt.plain) return fmt.parts.length ? (fmt.parts[0] as string) : '';
  return expandFormat(fmt, new Subst(ev, env, forCommand), replaceWs);
}

/**
 * Command lines (PROGRAM, IMPORT{program}, RUN) get $devnode, $root and $sys as paths under the injected
 * roots, so a program started with --dev/--sysfs finds the real files; everywhere else they stay logical.
 */
function expandCommand(fmt: Format, ev: EventState, env: ExecEnv): string {
  return expand(fmt, ev, env, false, true);
}

class Subst implements FormatSource {
  constructor(
    private ev: EventState,
    private env: ExecEnv,
    private forCommand: boolean,
  ) {}
  subst(p: SubstPart): string {
    const ev = this.ev;
    const dev = ev.device;
    switch (p.kind) {
      case 'devnode':
        return dev.devname ? (this.forCommand ? devPath(this.env.roots, dev.devname) : dev.devname) : '';
      case 'attr': {
        if (!p.arg) return '';
        let v: string | undefined;
        if (p.arg.startsWith('[')) v = resolveSubsysAttr(this.env.roots, p.arg, true);
        if (v === undefined) v = dev.sysattr(p.arg);
        if (v === undefined && ev.devParent && ev.devParent !== dev) v = ev.devParent.sysattr(p.arg);
        if (v === undefined) return '';
        return replaceChars(v.replace(/\s+$/, ''), ALLOWED_CHARS_INPUT);
      }
      case 'env':
        return p.arg ? dev.property(p.arg) ?? '' : '';
      case 'kernel':
        return dev.sysname;
      case 'number':
        return dev.sysnum ?? '';
      case 'driver':
        return ev.devParent?.driver ?? '';
      case 'devpath':
        return dev.devpath;
      case 'id':
        return ev.devParent?.sysname ?? '';
      case 'major':
        return String(dev.devnum?.major ?? 0);
      case 'minor':
        return String(dev.devnum?.minor ?? 0);
      case 'result':
        return resultPart(ev.programResult, p);
      case 'parent': {
        const parent = dev.parent();
        const n = parent?.devname;
        return n ? n.slice(DEV_PREFIX.length + 1) : '';
      }
      case 'name':
        if (ev.name) return ev.name;
        if (dev.devname) return dev.devname.slice(DEV_PREFIX.length + 1);
        return dev.sysname;
      case 'links':
        return [...dev.devlinks].map((l) => l.slice(DEV_PREFIX.length + 1)).join(' ');
      case 'root':
        return this.forCommand ? this.env.roots.dev : DEV_PREFIX;
      case 'sys':
        return this.forCommand ? this.env.roots.sysfs : '/sys';
    }
  }
}

function resultPart(res: string | undefined, p: SubstPart): string {
  if (res === undefined) return '';
  if (!p.index) return res;
  const words = res.replace(/^\s+/, '');
  let rest = words;
  for (let i = 1; i < p.index; i++) {
    const m = /^\S*\s*/.exec(rest)!;
    rest = rest.slice(m[0].length);
    if (rest === '') return '';
  }
  if (p.rest) return rest;
  return /^\S*/.exec(rest)![0];
}

/** "[subsystem/sysname]attr": the value (readValue) or the path of the attribute (or the device). */
export function resolveSubsysAttr(roots: Roots, s: string, readValue: boolean): string | undefined {
  const m = /^\[([^/\]]+)\/([^\]]+)\](.*)$/.exec(s);
  if (!m) return undefined;
  let attr = m[3]!;
  if (attr.startsWith('/')) attr = attr.slice(1);
  if (readValue && attr === '') return undefined;
  let d: Device;
  try {
    d = Device.fromSubsystemSysname(roots, m[1]!, m[2]!);
  } catch (e) {
    if (e instanceof DeviceError) return undefined;
    throw e;
  }
  if (readValue) return d.sysattr(attr) ?? '';
  return attr ? join(d.syspath, attr) : d.syspath;
}

/** Resolves one "/*\/" component to the first existing match (udev's attr_subst_subdir). */
function substSubdir(path: string): string | undefined {
  const at = path.indexOf('/*/');
  if (at < 0) return path;
  const dir = path.slice(0, at + 1);
  const tail = path.slice(at + 2);
  const names = tryOr(() => readdirSync(dir), undefined);
  if (!names) return undefined;
  for (const n of names) {
    if (n.startsWith('.')) continue;
    const cand = dir + n + tail;
    if (existsSync(cand)) return cand;
  }
  return undefined;
}

function matchTest(tok: Token, dev: Device, ev: EventState, env: ExecEnv): boolean {
  let path = expand(tok.fmt!, ev, env);
  if (!path.startsWith('/')) {
    const sub = resolveSubsysAttr(env.roots, path, false);
    path = sub ?? join(dev.syspath, path);
  } else path = hostPath(env.roots, path);
  const resolved = substSubdir(path);
  if (!resolved) return result(tok, false);
  const st = tryOr(() => statSync(resolved, { throwIfNoEntry: false }), undefined); // absent is no exception: many TESTs look for what is not there
  if (!st) return result(tok, false);
  if (tok.num === undefined) return result(tok, true);
  return result(tok, (st.mode & tok.num) > 0);
}

/** Maps absolute paths under /sys and /dev into the injected roots; everything else is the host's. */
export function hostPath(roots: Roots, p: string): string {
  if (p === '/sys' || p.startsWith('/sys/')) return roots.sysfs + p.slice(4);
  if (p === DEV_PREFIX || p.startsWith(DEV_PREFIX + '/')) return roots.dev + p.slice(DEV_PREFIX.length);
  return p;
}

/** sysctl names: "net.ipv4.conf.eth0/1.forwarding" style; a '/' before any '.' keeps '/' separators. */
export function normalizeSysctl(name: string): string {
  const s = name.replace(/^\/+/, '');
  const slash = s.indexOf('/');
  const dot = s.indexOf('.');
  if (dot >= 0 && (slash < 0 || dot < slash)) {
    // dots separate, slashes stand for dots
    return s.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
  }
  return s;
}

/** KEY=VALUE lines of IMPORT{file}/IMPORT{program}: comments and blanks skipped, one level of quotes removed. */
export function propertyFromLine(line: string): [string, string] | undefined {
  const l = line.replace(/^\s+/, '');
  if (l === '' || l.startsWith('#')) return undefined;
  const eq = l.indexOf('=');
  if (eq < 0) return undefined;
  const key = l.slice(0, eq).trim();
  let val = l.slice(eq + 1).trim();
  if (key === '' || val === '') return undefined;
  if (val[0] === '"' || val[0] === "'") {
    if (val.length === 1 || val[val.length - 1] !== val[0]) return undefined;
    val = val.slice(1, -1);
  }
  return [key, val];
}

/**
 * Normalizes a SYMLINK name to a logical "/dev/..." path like sd-device's mangle_devname: relative names are
 * put under /dev, absolute ones must be under /dev, "." and duplicate slashes fold away, ".." is refused.
 */
export function mangleDevlink(name: string): string | undefined {
  if (name === '') return undefined;
  let comps = name.split('/').filter((p) => p !== '' && p !== '.');
  if (comps.includes('..')) return undefined;
  if (name.startsWith('/')) {
    if (comps[0] !== 'dev') return undefined;
    comps = comps.slice(1);
  }
  if (comps.length === 0) return undefined;
  return `${DEV_PREFIX}/${comps.join('/')}`;
}
