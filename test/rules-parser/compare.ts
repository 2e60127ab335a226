// Compares parseRules() with the udev oracle (./udev-oracle.ts) on one input.
import { parseRules, type ParseRulesOptions } from '../../src/rules/parser.js';
import { udevOracle, LINE_SIZE } from './udev-oracle.js';

export interface Comparison {
  /** empty when parseRules() agrees with udev on every line */
  mismatches: string[];
  /** udev would stop reading the file (a physical line over its limit); not compared */
  aborted: boolean;
  acceptedLines: number;
  rejectedLines: number;
}

function bytesOf(value: string, valueBytes: Uint8Array | undefined): Uint8Array {
  return valueBytes ?? Buffer.from(value, 'utf8');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function compareWithUdev(text: string, options: ParseRulesOptions = {}): Comparison {
  const limit = options.maxLineBytes ?? LINE_SIZE;
  const oracle = udevOracle(text, { allowI: options.caseInsensitivePrefix !== false, limit });
  const ours = parseRules(text, 'fuzz.rules', options);
  const mismatches: string[] = [];
  const accepted = oracle.lines.filter((l) => l.tokens !== undefined && l.tokens.length > 0);
  const rejected = oracle.lines.filter((l) => l.tokens === undefined);
  const result = { mismatches, aborted: oracle.aborted, acceptedLines: accepted.length, rejectedLines: rejected.length };
  if (oracle.aborted) return result;

  if (accepted.length !== ours.rules.length) {
    mismatches.push(`udev accepts ${accepted.length} lines (${accepted.map((l) => l.last)}), parser ${ours.rules.length} (${ours.rules.map((r) => r.endLine)})`);
  } else {
    accepted.forEach((line, i) => {
      const rule = ours.rules[i];
      if (rule.endLine !== line.last || rule.line < line.first) mismatches.push(`rule ${i}: lines ${rule.line}-${rule.endLine}, udev ${line.first}-${line.last}`);
      const want = line.tokens!;
      if (want.length !== rule.tokens.length) {
        mismatches.push(`rule ${i}: ${rule.tokens.length} tokens, udev ${want.length}`);
        return;
      }
      want.forEach((w, k) => {
        const t = rule.tokens[k];
        const same =
          t.key === w.key &&
          t.attr === w.attr &&
          t.op === w.op &&
          sameBytes(bytesOf(t.value, t.valueBytes), w.value) &&
          t.valueKind.includes('e') === w.escaped &&
          t.caseInsensitive === w.caseInsensitive;
        if (!same) mismatches.push(`rule ${i} token ${k}: ${JSON.stringify(t)} vs udev ${JSON.stringify({ ...w, value: Buffer.from(w.value).toString('hex') })}`);
      });
    });
  }

  const syntax = ours.errors.filter((e) => e.kind === 'syntax');
  if (syntax.length !== rejected.length) {
    mismatches.push(`udev rejects ${rejected.length} lines (${rejected.map((l) => `${l.first}-${l.last}`)}), parser reports ${syntax.length}: ${syntax.map(String).join(' | ')}`);
  } else {
    rejected.forEach((line, i) => {
      const e = syntax[i];
      if (e.line < line.first || e.line > line.last) mismatches.push(`error ${e} is outside lines ${line.first}-${line.last}`);
    });
  }
  const long = ours.errors.filter((e) => e.kind === 'line-too-long').length;
  if (long !== oracle.tooLong.length) mismatches.push(`udev: ${oracle.tooLong.length} too long lines, parser ${long}`);
  const eof = ours.errors.some((e) => e.kind === 'eof-in-continuation');
  if (eof !== oracle.eofInContinuation) mismatches.push(`end of file in continuation: udev ${oracle.eofInContinuation}, parser ${eof}`);
  return result;
}
