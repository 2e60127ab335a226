// Which rule lines an event can reach at all. ACTION and SUBSYSTEM cannot change while the rules run, and every
// token sorted before a SUBSYSTEM key is a match without side effects: a line with an ACTION or SUBSYSTEM key that
// fails for the event's values does nothing, wherever that key stands in the line. Nor does a line without what the
// event needs (udevd's line mask: GOTO, an update, a link for a node, a name for an interface). For one kind of
// event (mask, ACTION, SUBSYSTEM) that is fixed, so it is worked out once and kept with the rules set.
import { T, type Line, type Token } from './compile.js';
import type { RuleSet } from './load.js';

/** Per file of the set: next[i] is the first line at or after i the event may match (lines.length: none). */
export type LinePlan = readonly Int32Array[];

/** Distinct event kinds kept per rules set; a set meets a few dozen (subsystems × actions). */
const MAX_PLANS = 256;

const plans = new WeakMap<RuleSet, Map<string, LinePlan>>();

/**
 * How a plan treats a line that is only ACTION and SUBSYSTEM keys and a GOTO forward, which every event of its kind
 * that reaches it takes:
 * - 'steps': the plan stops at it (devctl test traces the GOTOs taken);
 * - 'jumps': the plan steps over it to its LABEL;
 * - 'counting': as 'jumps', for the rule statistics, which count such a line as evaluated and matched without running
 *   it. Where the plan goes from entry `p` over such a line `g` (the first on the way), the entry is -1 - g: the
 *   executor counts g and reads the entry of g's LABEL next, which may be another (exec.ts). Elsewhere the entries
 *   are those of 'jumps'.
 */
export type PlanKind = 'steps' | 'jumps' | 'counting';

/** The plan of `rules` for events with this line mask, ACTION and SUBSYSTEM (undefined counts as ""). */
export function linePlan(rules: RuleSet, mask: number, action: string, subsystem: string, kind: PlanKind = 'steps'): LinePlan {
  let byKind = plans.get(rules);
  if (byKind === undefined) plans.set(rules, (byKind = new Map()));
  const key = `${kind[0]}${mask} ${action} ${subsystem}`;
  let plan = byKind.get(key);
  if (plan === undefined) {
    if (kind === 'counting') {
      const jumps = linePlan(rules, mask, action, subsystem, 'jumps');
      plan = rules.files.map((f, i) => fileCounting(f.lines, jumps[i]!, mask, action, subsystem));
    } else {
      plan = rules.files.map((f) => fileNext(f.lines, mask, action, subsystem, kind === 'jumps'));
    }
    if (byKind.size >= MAX_PLANS) byKind.clear();
    byKind.set(key, plan);
  }
  return plan;
}

function fileNext(lines: readonly Line[], mask: number, action: string, subsystem: string, jumps: boolean): Int32Array {
  const keys = eventKindKeys(lines);
  const next = new Int32Array(lines.length + 1);
  next[lines.length] = lines.length;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!reachable(line, keys[i], mask, action, subsystem)) next[i] = next[i + 1]!;
    // LABELs are later in the file: the target's entry is known already
    else if (jumps && alwaysJumps(line, i)) next[i] = next[line.gotoIndex!]!;
    else next[i] = i;
  }
  return next;
}

/**
 * The 'counting' plan of one file, from its 'jumps' plan (`next`): where the plan stops at a line, no GOTO is
 * stepped over; elsewhere a line is either one it cannot reach or one of the GOTOs it steps over, and only the few
 * lines that could be such a GOTO need their ACTION and SUBSYSTEM keys tried.
 */
function fileCounting(lines: readonly Line[], next: Int32Array, mask: number, action: string, subsystem: string): Int32Array {
  const counting = new Int32Array(lines.length + 1);
  counting[lines.length] = lines.length;
  let keys: (readonly Token[] | undefined)[] | undefined;
  // the first GOTO stepped over from each entry on: -1 for none
  let over = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (next[i] === i) over = -1;
    else if (alwaysJumps(line, i) && reachable(line, (keys ??= eventKindKeys(lines))[i], mask, action, subsystem)) over = i;
    counting[i] = over >= 0 ? -1 - over : next[i]!;
  }
  return counting;
}

/** Whether an event of this kind can match the line at all (its line mask, its ACTION and SUBSYSTEM keys). */
function reachable(line: Line, keys: readonly Token[] | undefined, mask: number, action: string, subsystem: string): boolean {
  return (line.type & mask) !== 0 && keysMatch(keys, action, subsystem);
}

/** A reachable line of ACTION and SUBSYSTEM keys alone and a GOTO forward: taken by every event that reaches it. */
function alwaysJumps(line: Line, i: number): boolean {
  return line.gotoIndex !== undefined && line.gotoIndex > i && line.tokens.every(isEventKindKey);
}

/** Per file, once: each line's ACTION and SUBSYSTEM keys (undefined for the many lines without). */
const kindKeysOf = new WeakMap<readonly Line[], (readonly Token[] | undefined)[]>();

function eventKindKeys(lines: readonly Line[]): (readonly Token[] | undefined)[] {
  let keys = kindKeysOf.get(lines);
  if (keys === undefined) {
    keys = lines.map((line) => {
      const kind: Token[] = [];
      for (const tok of line.tokens) {
        if (tok.type > T.M_SUBSYSTEM) break;
        if (isEventKindKey(tok)) kind.push(tok);
      }
      return kind.length ? kind : undefined;
    });
    kindKeysOf.set(lines, keys);
  }
  return keys;
}

function isEventKindKey(tok: Token): boolean {
  return tok.type === T.M_ACTION || tok.type === T.M_SUBSYSTEM;
}

function keysMatch(keys: readonly Token[] | undefined, action: string, subsystem: string): boolean {
  if (keys === undefined) return true;
  for (let k = 0; k < keys.length; k++) {
    const tok = keys[k]!;
    if (tok.pattern!.test(tok.type === T.M_ACTION ? action : subsystem) !== (tok.op === '==')) return false;
  }
  return true;
}
