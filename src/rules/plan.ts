// Which rule lines an event can reach at all. ACTION and SUBSYSTEM cannot change while the rules run, and every
// token sorted before a SUBSYSTEM key is a match without side effects: a line with an ACTION or SUBSYSTEM key that
// fails for the event's values does nothing, wherever that key stands in the line. Nor does a line without what the
// event needs (udevd's line mask: GOTO, an update, a link for a node, a name for an interface). For one kind of
// event (mask, ACTION, SUBSYSTEM) that is fixed, so it is worked out once and kept with the rules set.
import { T, patternOf, type Line, type Token } from './compile.js';
import type { RuleSet } from './load.js';

/** Per file of the set: next[i] is the first line at or after i the event may match (lines.length: none). */
export type LinePlan = readonly Int32Array[];

/** Distinct event kinds kept per rules set; a set meets a few dozen (subsystems × actions). */
const MAX_PLANS = 256;

/**
 * Plans of one rules set by ACTION, then SUBSYSTEM, then a number (the line mask, and for line plans their kind):
 * looked up for every event, so by its parts, with no key string made of them. At most MAX_PLANS, then emptied.
 */
class PlanCache<P> {
  readonly #byAction = new Map<string, Map<string, Map<number, P>>>();
  #size = 0;

  get(action: string, subsystem: string, n: number): P | undefined {
    return this.#byAction.get(action)?.get(subsystem)?.get(n);
  }

  set(action: string, subsystem: string, n: number, plan: P): void {
    if (this.#size >= MAX_PLANS) {
      this.#byAction.clear();
      this.#size = 0;
    }
    let bySubsystem = this.#byAction.get(action);
    if (bySubsystem === undefined) this.#byAction.set(action, (bySubsystem = new Map()));
    let byN = bySubsystem.get(subsystem);
    if (byN === undefined) bySubsystem.set(subsystem, (byN = new Map()));
    byN.set(n, plan);
    this.#size++;
  }
}

const plans = new WeakMap<RuleSet, PlanCache<LinePlan>>();

/**
 * How a plan treats a line that is only ACTION and SUBSYSTEM keys and a GOTO forward, which every event of its kind
 * that reaches it takes:
 * - 'steps': the plan stops at it (devctl test traces the GOTOs taken);
 * - 'jumps': the plan steps over it to its LABEL.
 * The rule statistics count such lines as evaluated and matched without running them: countingPlan().
 */
export type PlanKind = 'steps' | 'jumps';

/** The plan of `rules` for events with this line mask, ACTION and SUBSYSTEM (undefined counts as ""). */
export function linePlan(rules: RuleSet, mask: number, action: string, subsystem: string, kind: PlanKind = 'steps'): LinePlan {
  let cache = plans.get(rules);
  if (cache === undefined) plans.set(rules, (cache = new PlanCache()));
  const n = mask * 2 + (kind === 'jumps' ? 1 : 0);
  let plan = cache.get(action, subsystem, n);
  if (plan === undefined) {
    plan = rules.files.map((f) => fileNext(f.lines, mask, action, subsystem, kind === 'jumps'));
    cache.set(action, subsystem, n, plan);
  }
  return plan;
}

/**
 * The plan the rule statistics run an event by: 'jumps', where the GOTO lines it steps over are still counted.
 * - `next`: per file, the 'jumps' plan, with -1 - g at an entry from which it goes over such a line g (the first on
 *   the way): the executor counts g and reads the entry of g's LABEL next, which may be another (exec.ts).
 * - `heads`: the GOTO lines every event of the kind passes from the top of a file, before any line it evaluates
 *   (file, line pairs in order; most files of a rules set begin with one). Their count is the number of events run
 *   by the plan, so the executor does not step over them one by one: `next[f][0]`, read only when file f is
 *   entered (a GOTO's LABEL is always after it), is the entry after them.
 * - `slot`: the plan's number among those of its rules set, where the statistics keep its count of events.
 */
export interface CountingPlan {
  readonly next: LinePlan;
  readonly heads: Int32Array;
  readonly slot: number;
}

const countingPlans = new WeakMap<RuleSet, { plans: PlanCache<CountingPlan>; slots: number }>();

/** The counting plan of `rules` for events with this line mask, ACTION and SUBSYSTEM. */
export function countingPlan(rules: RuleSet, mask: number, action: string, subsystem: string): CountingPlan {
  let c = countingPlans.get(rules);
  if (c === undefined) countingPlans.set(rules, (c = { plans: new PlanCache(), slots: 0 }));
  let plan = c.plans.get(action, subsystem, mask);
  if (plan === undefined) {
    const jumps = linePlan(rules, mask, action, subsystem, 'jumps');
    const heads: number[] = [];
    const next = rules.files.map((f, i) => fileCounting(f.lines, jumps[i]!, mask, action, subsystem, i, heads));
    // slots go on counting after the cache is emptied: the statistics may still hold counts of the plans dropped
    plan = { next, heads: Int32Array.from(heads), slot: c.slots++ };
    c.plans.set(action, subsystem, mask, plan);
  }
  return plan;
}

/**
 * What the plans of one file need from its lines, whatever the event (worked out once per file): each line's mask
 * bits and its ACTION and SUBSYSTEM keys, and its LABEL where it is only such keys and a GOTO forward — a line every
 * event that reaches it takes (-1 for the others).
 */
interface FileShape {
  types: Int32Array;
  keys: (readonly Token[] | undefined)[];
  jumpTo: Int32Array;
  /** The lines with a jumpTo, in order. */
  jumpLines: number[];
}

const shapes = new WeakMap<readonly Line[], FileShape>();

function shapeOf(lines: readonly Line[]): FileShape {
  let shape = shapes.get(lines);
  if (shape === undefined) {
    const types = new Int32Array(lines.length);
    const jumpTo = new Int32Array(lines.length).fill(-1);
    const jumpLines: number[] = [];
    const keys = lines.map((line, i) => {
      types[i] = line.type;
      if (line.gotoIndex !== undefined && line.gotoIndex > i && line.tokens.every(isEventKindKey)) {
        jumpTo[i] = line.gotoIndex;
        jumpLines.push(i);
      }
      const kind: Token[] = [];
      for (const tok of line.tokens) {
        if (tok.type > T.M_SUBSYSTEM) break;
        if (isEventKindKey(tok)) kind.push(tok);
      }
      return kind.length ? kind : undefined;
    });
    shape = { types, keys, jumpTo, jumpLines };
    shapes.set(lines, shape);
  }
  return shape;
}

function fileNext(lines: readonly Line[], mask: number, action: string, subsystem: string, jumps: boolean): Int32Array {
  const { types, keys, jumpTo } = shapeOf(lines);
  const n = lines.length;
  const next = new Int32Array(n + 1);
  next[n] = n;
  for (let i = n - 1; i >= 0; i--) {
    // reachable(), written out: this loop runs over every line for each kind of event a rules set meets
    const k = keys[i];
    if ((types[i]! & mask) === 0 || (k !== undefined && !keysMatch(k, action, subsystem))) next[i] = next[i + 1]!;
    // LABELs are later in the file: the target's entry is known already
    else if (jumps && jumpTo[i]! >= 0) next[i] = next[jumpTo[i]!]!;
    else next[i] = i;
  }
  return next;
}

/**
 * A counting plan's entries for one file (index `f` in the set), from its 'jumps' plan (`next`): the entries that
 * differ are those from which the plan goes over a GOTO line it steps over (a reachable line with a jumpTo), back
 * from that line to the nearest line the plan stops at or another such GOTO. The GOTO lines passed from the file's
 * top go to `heads` (f, g), and entry 0 becomes the entry after them.
 */
function fileCounting(lines: readonly Line[], next: Int32Array, mask: number, action: string, subsystem: string, f: number, heads: number[]): Int32Array {
  // copied only where it differs: in many files an event of a kind passes no such line
  let counting: Int32Array | undefined;
  const { types, keys, jumpTo, jumpLines } = shapeOf(lines);
  for (const g of jumpLines) {
    if (!reachable(types, keys, g, mask, action, subsystem)) continue;
    counting ??= next.slice();
    counting[g] = -1 - g;
    for (let p = g - 1; p >= 0 && next[p] !== p && counting[p]! >= 0; p--) counting[p] = -1 - g;
  }
  if (counting === undefined) return next;
  let e = counting[0]!;
  while (e < 0) {
    heads.push(f, -1 - e);
    e = counting[jumpTo[-1 - e]!]!;
  }
  counting[0] = e;
  return counting;
}

/** Whether an event of this kind can match line `i` at all (its line mask, its ACTION and SUBSYSTEM keys). */
function reachable(types: Int32Array, keys: (readonly Token[] | undefined)[], i: number, mask: number, action: string, subsystem: string): boolean {
  const k = keys[i];
  return (types[i]! & mask) !== 0 && (k === undefined || keysMatch(k, action, subsystem));
}

function isEventKindKey(tok: Token): boolean {
  return tok.type === T.M_ACTION || tok.type === T.M_SUBSYSTEM;
}

function keysMatch(keys: readonly Token[], action: string, subsystem: string): boolean {
  for (let k = 0; k < keys.length; k++) {
    const tok = keys[k]!;
    if ((tok.pattern ?? patternOf(tok)).test(tok.type === T.M_ACTION ? action : subsystem) !== (tok.op === '==')) return false;
  }
  return true;
}
