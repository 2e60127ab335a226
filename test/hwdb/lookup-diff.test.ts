// devMaster's lookup against libsystemd's sd-hwdb on the same file, for generated glob patterns: '*', '?',
// brackets (ranges, negation, unterminated), backslash escapes, patterns that overlap and repeat keys across
// records and files, and lookup strings from a small alphabet so that many patterns nearly match. The lookup
// skips glob subtrees that cannot match (lookup.ts, nfaStep); this is where a wrong skip would show.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prng } from '../helpers/prng.js';
import { compileHwdb, HwdbSources, openHwdb, writeFileAtomic } from '../../src/hwdb/index.js';
import { openSdHwdb } from './helpers.js';

/** HWDB_LOOKUP_SEEDS=400 runs a longer search (160,000 lookups agreed when this was written). */
const SEEDS = Number(process.env.HWDB_LOOKUP_SEEDS ?? 25);
const QUERIES = 400;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'devmaster-hwdb-lookup-diff-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function patternFor(rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  let p = pick(['x:', 'x:', 'x:a', 'y', '', '*', '?']);
  // Some long ones, so that match states span several 32-bit words.
  for (let n = Math.floor(rand() * (rand() < 0.1 ? 40 : 8)); n > 0; n--)
    p += pick(['a', 'b', 'a', 'b', 'c', '*', '*', '?', '[ab]', '[!a]', '[b-c]', '[^b]', '[a', '\\*', '\\a', ':', 'ab', 'ba']);
  if (rand() < 0.02) p += '\\'; // a trailing backslash matches nothing
  return p;
}

function queryFor(rand: () => number, patterns: string[]): string {
  if (rand() < 0.5) {
    // A string a pattern was made to match, give or take a byte.
    let q = patterns[Math.floor(rand() * patterns.length)]!.replace(/\\(.)/g, '$1');
    q = q.replace(/\*/g, () => ['', 'a', 'ab', 'b*', 'cc'][Math.floor(rand() * 5)]!).replace(/\?/g, () => 'abc'[Math.floor(rand() * 3)]!);
    q = q.replace(/\[[^\]]*\]/g, () => 'abc['[Math.floor(rand() * 4)]!);
    if (rand() < 0.2) q += 'a';
    if (rand() < 0.1) q = q.slice(0, -1);
    if (rand() < 0.1) q += 'ab'.repeat(10 + Math.floor(rand() * 40));
    return q;
  }
  let q = rand() < 0.7 ? 'x:' : '';
  for (let n = Math.floor(rand() * 12); n > 0; n--) q += 'abc*?[:\\'[Math.floor(rand() * 8)]!;
  return q;
}

describe('hwdb lookup against libsystemd sd-hwdb', () => {
  it(`gives the same properties in the same order for generated patterns (${SEEDS} files x ${QUERIES} lookups)`, async () => {
    let found = 0;
    let lookups = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const rand = prng(1000 + seed);
      const db = new HwdbSources();
      const patterns: string[] = [];
      for (let f = 0; f < 3; f++) {
        let text = '';
        for (let r = 0; r < 60; r++) {
          for (let m = Math.floor(rand() * 2) + 1; m > 0; m--) {
            const p = rand() < 0.15 && patterns.length > 0 ? patterns[Math.floor(rand() * patterns.length)]! : patternFor(rand);
            patterns.push(p);
            text += p + '\n';
          }
          for (let k = Math.floor(rand() * 3) + 1; k > 0; k--) text += ` K${Math.floor(rand() * 6)}=f${f}r${r}\n`;
          text += '\n';
        }
        db.addText(text, join(tmp, `${seed}-${f}.hwdb`));
      }
      const bin = join(tmp, `${seed}.bin`);
      writeFileAtomic(bin, [compileHwdb(db).data], { mode: 0o444 });
      const ours = openHwdb(bin);
      const theirs = await openSdHwdb(bin);
      for (let i = 0; i < QUERIES; i++) {
        const q = queryFor(rand, patterns);
        const want = theirs.lookup(q);
        expect([...ours.lookup(q)], `seed ${seed}, lookup ${JSON.stringify(q)}`).toEqual(want);
        found += want.length;
        lookups++;
      }
      ours.close();
    }
    // The generated lookups must find plenty, or nothing was compared.
    expect(found).toBeGreaterThan(lookups);
  });
});
