// Match patterns of udev rules: fnmatch(3) globs (src/util/fnmatch.ts), '|' alternatives, and udev's
// empty-alternative forms. Compiled once at load.
import { FNM_CASEFOLD, globMatcher, isGlob } from '../util/fnmatch.js';

export type Matcher = (s: string) => boolean;

export type MatchKind = 'empty' | 'plain' | 'glob' | 'subsystem';

export interface CompiledPattern {
  kind: MatchKind;
  /** The alternatives (after '|' splitting), for reporting. */
  alternatives: string[];
  /** An empty alternative was given ("|foo", "foo|", "a||b"): the empty string matches too. */
  withEmpty: boolean;
  /** Tests a value (undefined counts as ""). */
  test: Matcher;
}

/**
 * Compiles the value of a match key the way udev does: "" matches only empty; "?*" is treated as "not empty"
 * by the caller (see `negates`); "subsystem" for SUBSYSTEM also matches "bus" and "class"; values of keys that
 * take alternatives are split at '|'.
 */
export function compilePattern(value: string, opts: { alternatives: boolean; subsystemKey?: boolean; caseInsensitive?: boolean }): CompiledPattern & { negates: boolean } {
  const ci = opts.caseInsensitive ?? false;
  if (opts.subsystemKey && (value === 'subsystem' || value === 'bus' || value === 'class')) {
    const set = new Set(['subsystem', 'bus', 'class']);
    return { kind: 'subsystem', alternatives: [value], withEmpty: false, negates: false, test: (s) => set.has(ci ? s.toLowerCase() : s) };
  }
  if (value === '') return { kind: 'empty', alternatives: [], withEmpty: true, negates: false, test: (s) => s === '' };
  if (value === '?*') return { kind: 'empty', alternatives: [], withEmpty: true, negates: true, test: (s) => s === '' };
  const glob = isGlob(value);
  let alts: string[];
  let withEmpty = false;
  if (opts.alternatives) {
    alts = [];
    for (const a of value.split('|')) {
      if (a === '') withEmpty = true;
      else alts.push(a);
    }
  } else alts = [value];
  const kind: MatchKind = glob ? 'glob' : 'plain';
  let test: Matcher;
  if (kind === 'plain' && !ci) {
    if (alts.length === 1) {
      const only = alts[0]!;
      test = withEmpty ? (s) => s === '' || s === only : (s) => s === only;
    } else {
      const set = new Set(alts);
      test = withEmpty ? (s) => s === '' || set.has(s) : (s) => set.has(s);
    }
  } else {
    // udev matches plain alternatives with strcmp (no escapes); globs with fnmatch
    const ms = alts.map((a) => (kind === 'glob' ? globMatcher(a, ci ? FNM_CASEFOLD : 0) : ci ? ((s: string) => s.toLowerCase() === a.toLowerCase()) : (s: string) => s === a));
    test = ms.length === 1 && !withEmpty ? ms[0]! : (s) => (withEmpty && s === '') || ms.some((m) => m(s));
  }
  return { kind, alternatives: alts, withEmpty, negates: false, test };
}
