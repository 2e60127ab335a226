// The rules manager with the real engine: at the first load a file with a bad line still contributes its valid
// lines (udev loads it so); a later edit with errors is rejected whole and the previous version stays.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { RulesManager } from '../../src/daemon/reload.js';
import { loadEngine } from '../../src/daemon/engine.js';
import type { RuleSet } from '../../src/rules/load.js';

const lineNumbers = (set: RuleSet) => set.files.flatMap((f) => f.lines.map((l) => l.line));

describe('rules manager, first load and reload', () => {
  it('keeps the valid lines of a broken file at start, rejects a broken edit later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-rules-first-'));
    try {
      const file = join(dir, '50-x.rules');
      writeFileSync(file, 'KERNEL=="a", ENV{A}="1"\nKERNEL=="b", NOSUCHKEY="x"\nKERNEL=="c", ENV{C}="1"\n');
      const m = new RulesManager([dir], await loadEngine(), pino({ level: 'silent' }));
      const st = await m.load(true);
      expect(lineNumbers(m.ruleSet)).toEqual([1, 3]);
      expect(st.files[0]).toMatchObject({ path: file, ok: false, inForce: true });
      expect(st.files[0]!.errors[0]).toMatch(/50-x\.rules:2:\d+: .*NOSUCHKEY/);

      writeFileSync(file, 'KERNEL=="d", ENV{D}="1"\n');
      utimesSync(file, new Date(), new Date(Date.now() + 2000));
      await m.load(false);
      expect(lineNumbers(m.ruleSet)).toEqual([1]);

      writeFileSync(file, 'KERNEL=="e", ENV{E}="1"\nKERNEL=="f", BROKEN\n');
      utimesSync(file, new Date(), new Date(Date.now() + 4000));
      const st3 = await m.load(false);
      // rejected whole: the previous version (one line, KERNEL=="d") stays in force
      expect(st3.files[0]).toMatchObject({ ok: false, inForce: true });
      expect(m.ruleSet.files[0]!.lines[0]!.tokens[0]!.value).toBe('d');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rules manager, what a test run by the daemon may use', () => {
  it('says the rules in force are stale while a file on disk differs, and while a load is under way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-rules-stale-'));
    try {
      const file = join(dir, '50-x.rules');
      writeFileSync(file, 'KERNEL=="a", ENV{A}="1"\n');
      const engine = await loadEngine();
      let release: (() => void) | undefined;
      // compiles wait for `release` while one is set: a load caught half way
      const slow = { ...engine, compileFile: async (p: string) => (release ? await new Promise<void>((r) => (release = r)).then(() => engine.compileFile(p)) : engine.compileFile(p)) };
      const m = new RulesManager([dir], slow, pino({ level: 'silent' }));
      await m.load(true);
      expect(m.staleness()).toBeUndefined();
      writeFileSync(file, 'KERNEL=="b", ENV{B}="1"\n');
      utimesSync(file, new Date(), new Date(Date.now() + 2000));
      expect(m.staleness()).toMatch(/50-x\.rules changed/);
      release = () => undefined;
      const loading = m.load(false);
      await new Promise((r) => setTimeout(r, 20));
      expect(m.staleness()).toBe('a rules load is in progress');
      const go = release;
      release = undefined;
      go();
      await loading;
      expect(m.staleness()).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
