// Cost accounting: per rule line (file:line) how often it was evaluated and matched and the time spent in it —
// its keys, the programs and builtins it ran, the RUN items it added — and per event the time in the queue, in the
// rules, in applying the result and in RUN. A rule line, program or builtin that takes longer than the slow
// threshold is logged with file:line, device and time; a program or builtin while it is still running.
//
// What it costs: a clock read (nowMs()) takes about 0.3 µs under the daemon's V8 flags, and an event
// evaluates some 40 rule lines beyond their first key, so timing every line of every event would add ~8% to an
// event. Hence: every line evaluation is counted, by executeRules itself in typed arrays of the rules set (no
// call); programs, builtins, RUN items and the event's stages are timed on every event (a few clock reads); the
// time in a line's own keys is measured on one event in `sample` and scaled to all evaluations. A key that blocks
// (a slow sysfs read) on an event whose lines are not timed shows as the event's rules time outside programs and
// builtins, logged with the device when it passes the threshold.
//
// The daemon makes one StatsRecorder when stats are on and asks it for an EventCost per event (begin → processed
// → end); src/rules/exec.ts and src/event/process.ts call the EventCost's hooks. With stats off none of this
// exists: the hooks are one `undefined` check per rule line.
import type { Logger } from '../log.js';
import type { Line } from '../rules/compile.js';
import type { ChildKind, LineCounters } from '../rules/exec.js';
import type { RuleSet } from '../rules/load.js';
import type { CountingPlan } from '../rules/plan.js';
import type { EventCost } from '../event/process.js';
import { Latency, type LatencySnapshot } from './latency.js';
import { nowMs } from '../util/clock.js';

export const STAGES = ['queue', 'rules', 'apply', 'run', 'total'] as const;
export type Stage = (typeof STAGES)[number];

export const SORT_KEYS = ['time', 'max', 'mean', 'count', 'matched'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** How many slow occurrences are kept for `devctl stats`. */
const SLOW_KEPT = 32;

/**
 * The counters of a rules set that events still use (the set in force, and the one before a reload), by file and
 * line index like LineCounters: on timed events also the evaluations timed, the time in the line's own keys and the
 * longest evaluation. Typed arrays, so that a timed line costs no lookup by file:line and no number boxed in an object.
 * The GOTO lines at the top of files that every event of a kind passes (CountingPlan.heads) are counted by plan, in
 * `planEvents` by the plan's slot, and added to `outcomes` when the counts are read (foldPlans()).
 */
class SetCounters implements LineCounters {
  readonly outcomes: Uint32Array[];
  readonly timed: Uint32Array[];
  readonly keysMs: Float64Array[];
  readonly maxMs: Float64Array[];
  /** Events run to their end by each counting plan of the set, by slot, and the plans' heads. */
  readonly planEvents: number[] = [];
  readonly planHeads: Int32Array[] = [];

  constructor(readonly set: RuleSet) {
    const files = set.files;
    this.outcomes = files.map((f) => new Uint32Array(2 * f.lines.length));
    this.timed = files.map((f) => new Uint32Array(f.lines.length));
    this.keysMs = files.map((f) => new Float64Array(f.lines.length));
    this.maxMs = files.map((f) => new Float64Array(f.lines.length));
  }

  ran(plan: CountingPlan): void {
    const s = plan.slot;
    if (s < this.planEvents.length) this.planEvents[s]!++;
    else {
      while (this.planEvents.length < s) this.planEvents.push(0);
      this.planEvents.push(1);
    }
    this.planHeads[s] = plan.heads;
  }

  stopped(plan: CountingPlan, f: number): void {
    this.#countHeads(plan.heads, 1, f);
  }

  /** Adds the plans' counts of events to the heads' outcomes, and zeroes them. */
  foldPlans(): void {
    const events = this.planEvents;
    for (let s = 0; s < events.length; s++) {
      const n = events[s]!;
      if (n === 0) continue;
      this.#countHeads(this.planHeads[s]!, n, Infinity);
      events[s] = 0;
    }
  }

  /** Counts `n` matches of each head (file, line pairs in file order) of the files up to `lastFile`. */
  #countHeads(heads: Int32Array, n: number, lastFile: number): void {
    for (let k = 0; k < heads.length && heads[k]! <= lastFile; k += 2) this.outcomes[heads[k]!]![2 * heads[k + 1]! + 1]! += n;
  }
}
const LIVE_SETS = 2;

interface LineCost {
  file: string;
  line: number;
  evaluated: number;
  matched: number;
  /** Evaluations that were timed, and the time in the line's own keys then (programs and builtins not included). */
  timed: number;
  keysMs: number;
  /** The longest timed evaluation (programs and builtins included), or the longest program, builtin or RUN item. */
  maxMs: number;
  // evaluated, matched, timed, keysMs and the timed lines' maxMs: folded in from the rules sets' counters
  programs: number;
  programMs: number;
  builtins: number;
  builtinMs: number;
  /** RUN items the line added, run after the rules. */
  runs: number;
  runMs: number;
  slow: number;
}

export interface RuleLineStats {
  /** "file:line". */
  rule: string;
  file: string;
  line: number;
  /** Events for which the line was evaluated: not ruled out by an ACTION or SUBSYSTEM key, or a first DEVPATH or KERNEL key, that did not match. */
  evaluated: number;
  matched: number;
  /** Time in the line (keys, programs, builtins) plus the RUN items it added. */
  totalMs: number;
  /** Time in the line's own keys: measured on `sampled` of the evaluations, scaled to all of them. */
  keysMs: number;
  sampled: number;
  /** Time per evaluation (keys, programs, builtins). */
  meanMs: number;
  /** The longest timed evaluation, or program, builtin or RUN item. */
  maxMs: number;
  programs: { count: number; ms: number };
  builtins: { count: number; ms: number };
  run: { count: number; ms: number };
  /** Times the line or one of its programs took the slow threshold or longer. */
  slow: number;
}

export interface SlowEntry {
  /** When it was logged (ISO time). */
  at: string;
  /** "file:line"; empty for 'keys' (time in the keys of an event whose lines were not timed). */
  rule: string;
  kind: 'line' | 'keys' | ChildKind;
  what: string | undefined;
  devpath: string;
  seqnum: number;
  ms: number;
  /** Logged while still running (ms is the time then), or done. */
  running: boolean;
}

export interface StatsSnapshot {
  since: string;
  slowMs: number;
  /** The rule lines of one event in `sample` are timed. */
  sample: number;
  events: { count: number; failed: number };
  stages: Record<Stage, LatencySnapshot>;
  rules: { lines: number; sort: SortKey; top: RuleLineStats[] };
  slow: { total: number; recent: SlowEntry[] };
}

export interface StatsOptions {
  /** Log rule lines, programs and builtins that take this long (ms); 0 = never. */
  slowMs: number;
  /** Time the rule lines of one event in this many (1 = every event). */
  sample: number;
  log: Logger;
}

const CHILD_WORD: Record<ChildKind, string> = { program: 'program', builtin: 'builtin', run: 'RUN' };

/** The cost of one event; handed to the rules as EventContext.cost. */
export class EventCostImpl implements EventCost {
  // One of these is made per event: its fields are plain properties assigned once, in the constructor (a class
  // field is defined, then assigned again), which V8's interpreter (the daemon runs with --no-opt) also reads faster
  // than private (#) ones.
  declare rulesMs: number;
  declare readonly timeLines: boolean;
  declare readonly devpath: string;
  declare readonly seqnum: number;
  declare private readonly rec: StatsRecorder;
  declare private readonly queuedAt: number;
  declare private readonly startedAt: number;
  declare private processedAt: number;
  // the running child (one at a time per event)
  declare childKind: ChildKind | undefined;
  declare childFile: string;
  declare childLine: number;
  declare childWhat: string;
  declare childStartedAt: number;
  /** The slow entry logged for the running child while it ran. */
  declare childSlow: SlowEntry | undefined;
  /** A child of the current line was logged as slow: the line itself is not logged again. */
  declare private childWasSlow: boolean;
  /** Time in programs and builtins: of the current line, and of the whole rules run. */
  declare private childMsInLine: number;
  declare private childMsInRules: number;
  /** The counters of the rules set the event runs (counters() is asked before any line). */
  declare private set: SetCounters | undefined;

  constructor(rec: StatsRecorder, devpath: string, seqnum: number, queuedAt: number, now: number, timeLines: boolean) {
    this.rulesMs = 0;
    this.timeLines = timeLines;
    this.devpath = devpath;
    this.seqnum = seqnum;
    this.rec = rec;
    this.queuedAt = queuedAt;
    this.startedAt = now;
    this.processedAt = -1;
    this.childKind = undefined;
    this.childFile = '';
    this.childLine = 0;
    this.childWhat = '';
    this.childStartedAt = 0;
    this.childSlow = undefined;
    this.childWasSlow = false;
    this.childMsInLine = 0;
    this.childMsInRules = 0;
    this.set = undefined;
  }

  counters(rules: RuleSet): LineCounters {
    return (this.set = this.rec.counters(rules));
  }

  line(f: number, i: number, line: Line, startedAt: number): void {
    const ms = nowMs() - startedAt;
    const k = this.set!;
    const keysMs = ms - this.childMsInLine;
    this.childMsInLine = 0;
    k.timed[f]![i]!++;
    if (keysMs > 0) k.keysMs[f]![i]! += keysMs;
    const max = k.maxMs[f]!;
    if (ms > max[i]!) max[i] = ms;
    const slowMs = this.rec.slowMs;
    if (slowMs > 0 && ms >= slowMs) {
      if (this.childWasSlow) this.childWasSlow = false;
      else {
        this.rec.costAt(line.file, line.line).slow++;
        this.rec.slowDone(this, `${line.file}:${line.line}`, 'line', undefined, ms, undefined);
      }
    }
  }

  childStart(kind: ChildKind, file: string, line: number, what: string): void {
    this.childKind = kind;
    this.childFile = file;
    this.childLine = line;
    this.childWhat = what;
    this.childSlow = undefined;
    this.childStartedAt = nowMs();
    this.rec.childRunning(this);
  }

  childEnd(): void {
    const kind = this.childKind;
    if (kind === undefined) return;
    this.childKind = undefined;
    this.rec.childDone(this);
    const ms = nowMs() - this.childStartedAt;
    const c = this.rec.costAt(this.childFile, this.childLine);
    if (kind === 'program') {
      c.programs++;
      c.programMs += ms;
    } else if (kind === 'builtin') {
      c.builtins++;
      c.builtinMs += ms;
    } else {
      c.runs++;
      c.runMs += ms;
    }
    if (kind !== 'run') {
      this.childMsInLine += ms;
      this.childMsInRules += ms;
    }
    if (ms > c.maxMs) c.maxMs = ms;
    const slowMs = this.rec.slowMs;
    if (slowMs > 0 && ms >= slowMs) {
      if (!this.childSlow) c.slow++;
      this.childWasSlow = kind !== 'run';
      this.rec.slowDone(this, `${this.childFile}:${this.childLine}`, kind, this.childWhat, ms, this.childSlow);
    }
    this.childSlow = undefined;
  }

  /**
   * processEvent is done (rules and apply) and the RUN items follow. Not called for an event without any (most):
   * end() is then the end of both, and the run stage 0.
   */
  processed(): void {
    this.processedAt = nowMs();
  }

  /** The event is done (RUN included). */
  end(failed: boolean): void {
    const now = nowMs();
    if (this.childKind !== undefined) {
      // a program or builtin that threw: it is not running any more
      this.childKind = undefined;
      this.rec.childDone(this);
    }
    const processedAt = this.processedAt < 0 ? now : this.processedAt;
    // a key that blocked on an event whose lines were not timed: the line is unknown, the device and time are not
    const keysMs = this.rulesMs - this.childMsInRules;
    const slowMs = this.rec.slowMs;
    if (!this.timeLines && slowMs > 0 && keysMs >= slowMs) this.rec.slowKeys(this, keysMs);
    this.rec.events.add(failed, this.startedAt - this.queuedAt, this.rulesMs, Math.max(0, processedAt - this.startedAt - this.rulesMs), now - processedAt);
  }
}

export class StatsRecorder {
  readonly slowMs: number;
  readonly sample: number;
  readonly #log: Logger;
  #sampled = 0;
  #since = new Date();
  /** Costs by file, indexed by line number (a reload's lines continue the counts of the same file:line). */
  #files = new Map<string, LineCost[]>();
  /** Evaluation and match counters of the rules sets events use, the newest last. */
  #sets: SetCounters[] = [];
  /** The events done, and their stage times (EventCostImpl.end() adds to it). */
  events = new EventStages();
  /** Events with a program, builtin or RUN item running, which the watchdog looks at (with slowMs > 0). */
  #running = new Set<EventCostImpl>();
  #timer: NodeJS.Timeout | undefined;
  #slow: SlowEntry[] = [];
  #slowTotal = 0;

  constructor(opts: StatsOptions) {
    this.slowMs = opts.slowMs;
    this.sample = Math.max(1, opts.sample);
    this.#log = opts.log;
  }

  /**
   * Starts accounting one event that was queued at `queuedAt` and started at `startedAt` (nowMs(); the daemon's
   * queue stamps both).
   */
  begin(devpath: string, seqnum: number, queuedAt: number, startedAt = nowMs()): EventCostImpl {
    return new EventCostImpl(this, devpath, seqnum, queuedAt, startedAt, this.#sampled++ % this.sample === 0);
  }

  /** A program, builtin or RUN item of event `c` starts: the watchdog looks at it while it runs. */
  childRunning(c: EventCostImpl): void {
    if (this.slowMs <= 0) return;
    this.#running.add(c);
    // the watchdog stops at a tick without any child running
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#watch(), Math.min(250, Math.max(10, this.slowMs / 4)));
      this.#timer.unref();
    }
  }

  childDone(c: EventCostImpl): void {
    if (this.slowMs > 0) this.#running.delete(c);
  }

  /** The counters of a rules set; a new set (a reload) folds the counts of sets no event should use any more. */
  counters(rules: RuleSet): SetCounters {
    const sets = this.#sets;
    for (let i = sets.length - 1; i >= 0; i--) if (sets[i]!.set === rules) return sets[i]!;
    const n = new SetCounters(rules);
    sets.push(n);
    // an event still running on an older set after this loses the evaluations it counts from now on
    while (sets.length > LIVE_SETS) this.#fold(sets.shift()!);
    return n;
  }

  /** Adds a set's counts to the costs by file:line, and zeroes them. */
  #fold(s: SetCounters): void {
    s.foldPlans();
    const files = s.set.files;
    for (let f = 0; f < files.length; f++) {
      const lines = files[f]!.lines;
      const o = s.outcomes[f]!;
      const timed = s.timed[f]!;
      const keysMs = s.keysMs[f]!;
      const maxMs = s.maxMs[f]!;
      for (let i = 0; i < lines.length; i++) {
        const failed = o[2 * i]!;
        const matched = o[2 * i + 1]!;
        if (failed === 0 && matched === 0 && timed[i] === 0) continue;
        const c = this.costAt(lines[i]!.file, lines[i]!.line);
        c.evaluated += failed + matched;
        c.matched += matched;
        c.timed += timed[i]!;
        c.keysMs += keysMs[i]!;
        if (maxMs[i]! > c.maxMs) c.maxMs = maxMs[i]!;
        o[2 * i] = o[2 * i + 1] = timed[i] = 0;
        keysMs[i] = maxMs[i] = 0;
      }
    }
  }

  /** The costs of one line, by file and line number. */
  costAt(file: string, line: number): LineCost {
    let costs = this.#files.get(file);
    if (costs === undefined) {
      costs = [];
      this.#files.set(file, costs);
    }
    let c = costs[line];
    if (c === undefined) {
      c = { file, line, evaluated: 0, matched: 0, timed: 0, keysMs: 0, maxMs: 0, programs: 0, programMs: 0, builtins: 0, builtinMs: 0, runs: 0, runMs: 0, slow: 0 };
      costs[line] = c;
    }
    return c;
  }

  /** Logs (and keeps) a slow line or child that is done; `running` is the entry logged while it ran, if any. */
  slowDone(c: EventCostImpl, rule: string, kind: 'line' | ChildKind, what: string | undefined, ms: number, running: SlowEntry | undefined): void {
    const rounded = Math.round(ms);
    const thing = kind === 'line' ? 'the rule line' : `${CHILD_WORD[kind]} "${what}"`;
    this.#log.warn({ rule, kind, what, devpath: c.devpath, seqnum: c.seqnum, ms: rounded }, `slow rule ${rule}: ${thing} took ${rounded} ms (${c.devpath})`);
    if (running) {
      running.ms = rounded;
      running.running = false;
      return;
    }
    this.#keep({ at: new Date().toISOString(), rule, kind, what, devpath: c.devpath, seqnum: c.seqnum, ms: rounded, running: false });
  }

  /** An event whose lines were not timed spent `ms` in rule keys (outside programs and builtins). */
  slowKeys(c: EventCostImpl, ms: number): void {
    const rounded = Math.round(ms);
    this.#log.warn(
      { devpath: c.devpath, seqnum: c.seqnum, ms: rounded, kind: 'keys' },
      `slow rules: ${rounded} ms in rule keys outside programs and builtins (${c.devpath}); its lines were not timed (stats_sample = ${this.sample}), devctl stats shows the lines timed on other events`,
    );
    this.#keep({ at: new Date().toISOString(), rule: '', kind: 'keys', what: undefined, devpath: c.devpath, seqnum: c.seqnum, ms: rounded, running: false });
  }

  #keep(e: SlowEntry): void {
    this.#slowTotal++;
    this.#slow.push(e);
    if (this.#slow.length > SLOW_KEPT) this.#slow.shift();
  }

  /** Logs the programs and builtins that are still running past the threshold (once each). */
  #watch(): void {
    if (this.#running.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = nowMs();
    for (const c of this.#running) {
      const kind = c.childKind;
      if (kind === undefined || c.childSlow !== undefined) continue;
      const ms = now - c.childStartedAt;
      if (ms < this.slowMs) continue;
      const rule = `${c.childFile}:${c.childLine}`;
      const rounded = Math.round(ms);
      this.#log.warn(
        { rule, kind, what: c.childWhat, devpath: c.devpath, seqnum: c.seqnum, ms: rounded, running: true },
        `slow rule ${rule}: ${CHILD_WORD[kind]} "${c.childWhat}" still running after ${rounded} ms (${c.devpath})`,
      );
      c.childSlow = { at: new Date().toISOString(), rule, kind, what: c.childWhat, devpath: c.devpath, seqnum: c.seqnum, ms: rounded, running: true };
      this.costAt(c.childFile, c.childLine).slow++;
      this.#keep(c.childSlow);
    }
  }

  snapshot(opts: { top?: number; sort?: SortKey } = {}): StatsSnapshot {
    for (const set of this.#sets) this.#fold(set);
    const sort = opts.sort ?? 'time';
    const all: RuleLineStats[] = [];
    for (const costs of this.#files.values()) for (const c of costs) if (c !== undefined && (c.evaluated > 0 || c.runs > 0)) all.push(lineStats(c));
    const key: Record<SortKey, (s: RuleLineStats) => number> = {
      time: (s) => s.totalMs,
      max: (s) => s.maxMs,
      mean: (s) => s.meanMs,
      count: (s) => s.evaluated,
      matched: (s) => s.matched,
    };
    const k = key[sort];
    all.sort((a, b) => k(b) - k(a) || (a.rule < b.rule ? -1 : 1));
    const stages = {} as Record<Stage, LatencySnapshot>;
    const latency = this.events.fold();
    for (const s of STAGES) stages[s] = latency[s].snapshot();
    return {
      since: this.#since.toISOString(),
      slowMs: this.slowMs,
      sample: this.sample,
      events: { count: this.events.count, failed: this.events.failed },
      stages,
      rules: { lines: all.length, sort, top: all.slice(0, opts.top ?? 20) },
      slow: { total: this.#slowTotal, recent: [...this.#slow].reverse() },
    };
  }

  /** Forgets everything counted so far (events under way keep going and are counted when done). */
  reset(): void {
    this.#since = new Date();
    for (const set of this.#sets) this.#fold(set); // zeroes them
    this.#files = new Map();
    this.events = new EventStages();
    this.#slow = [];
    this.#slowTotal = 0;
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#running.clear();
    this.#sets = [];
  }
}

/** Events whose stage times are kept as they are before they go into the distributions. */
const BUFFERED = 64;

/** A buffered event's row: its stage times in STAGES' order, the total last. */
const WIDTH = STAGES.length;

/**
 * The events done, those failed, and the five stage latencies. Each event adds one row to a buffer (five stores;
 * its total is the sum of the four stages: queued → started → rules → apply → run), which goes into the stages'
 * distributions in batches, a column at a time, and before they are read: the per-event part is one call.
 */
class EventStages {
  failed = 0;
  readonly #latency: Record<Stage, Latency> = { queue: new Latency(), rules: new Latency(), apply: new Latency(), run: new Latency(), total: new Latency() };
  readonly #rows = new Float64Array(BUFFERED * WIDTH);
  #n = 0;

  add(failed: boolean, queue: number, rules: number, apply: number, run: number): void {
    if (failed) this.failed++;
    if (this.#n === BUFFERED) this.fold();
    const rows = this.#rows;
    const k = this.#n++ * WIDTH;
    rows[k] = queue;
    rows[k + 1] = rules;
    rows[k + 2] = apply;
    rows[k + 3] = run;
    rows[k + 4] = queue + rules + apply + run;
  }

  /** The events added so far: those in the distributions, and those still buffered. */
  get count(): number {
    return this.#latency.total.count + this.#n;
  }

  /** The distributions, with every event added so far. */
  fold(): Record<Stage, Latency> {
    const l = this.#latency;
    for (let s = 0; s < WIDTH; s++) l[STAGES[s]!].addColumn(this.#rows, this.#n, WIDTH, s);
    this.#n = 0;
    return l;
  }
}

function lineStats(c: LineCost): RuleLineStats {
  const keysMs = c.timed ? (c.keysMs * c.evaluated) / c.timed : 0;
  const lineMs = keysMs + c.programMs + c.builtinMs;
  return {
    rule: `${c.file}:${c.line}`,
    file: c.file,
    line: c.line,
    evaluated: c.evaluated,
    matched: c.matched,
    totalMs: lineMs + c.runMs,
    keysMs,
    sampled: c.timed,
    meanMs: c.evaluated ? lineMs / c.evaluated : 0,
    maxMs: c.maxMs,
    programs: { count: c.programs, ms: c.programMs },
    builtins: { count: c.builtins, ms: c.builtinMs },
    run: { count: c.runs, ms: c.runMs },
    slow: c.slow,
  };
}
