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

describe('rules manager, the rules a test run by the daemon uses (testSet)', () => {
  it('is the set in force while every file is, compiles the changed files for the test, and declines during a load or past its bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-rules-testset-'));
    try {
      const file = join(dir, '50-x.rules');
      const other = join(dir, '60-y.rules');
      writeFileSync(file, 'KERNEL=="a", ENV{A}="1"\n');
      writeFileSync(other, 'KERNEL=="c", ENV{C}="1"\n');
      const engine = await loadEngine();
      let release: (() => void) | undefined;
      let compiles = 0;
      // compiles wait for `release` while one is set: a load caught half way
      const slow = { ...engine, compileFile: async (p: string) => (compiles++, release ? await new Promise<void>((r) => (release = r)).then(() => engine.compileFile(p)) : engine.compileFile(p)) };
      const m = new RulesManager([dir], slow, pino({ level: 'silent' }));
      await m.load(true);
      const values = (set: { ruleSet: { files: readonly { lines: readonly { tokens: readonly { value: string }[] }[] }[] } }) => set.ruleSet.files.map((f) => f.lines.map((l) => l.tokens[0]!.value).join(','));
      const inForce = await m.testSet(8);
      expect(inForce).toMatchObject({ ruleSet: m.ruleSet, inForce: 2 });
      expect(m.ruleSet.files.length).toBe(2);

      // an edit not loaded: compiled for the test (once for that version), the other file taken as it is in force
      writeFileSync(file, 'KERNEL=="b", ENV{B}="1"\n');
      utimesSync(file, new Date(), new Date(Date.now() + 2000));
      compiles = 0;
      const edited = await m.testSet(8);
      if ('declined' in edited) throw new Error(edited.declined);
      expect(edited.ruleSet).not.toBe(m.ruleSet);
      expect({ inForce: edited.inForce, files: edited.ruleSet.files.length, values: values(edited) }).toEqual({ inForce: 1, files: 2, values: ['b', 'c'] });
      expect(values({ ruleSet: m.ruleSet })).toEqual(['a', 'c']); // nothing put in force
      await m.testSet(8);
      expect(compiles).toBe(1);

      // an added file, a removed one, and one with an error (its valid lines, its errors in its diagnostics)
      writeFileSync(join(dir, '70-z.rules'), 'KERNEL=="d", ENV{D}="1"\nKERNEL=="e", BROKEN\n');
      rmSync(other);
      const changed = await m.testSet(8);
      if ('declined' in changed) throw new Error(changed.declined);
      expect({ inForce: changed.inForce, values: values(changed) }).toEqual({ inForce: 0, values: ['b', 'd'] });
      expect((changed.ruleSet.files[1] as unknown as { errors: number }).errors).toBe(1);
      // more files to compile than the bound (the versions compiled above are kept): left to devctl
      expect(await m.testSet(1)).not.toHaveProperty('declined');
      for (const f of [file, join(dir, '70-z.rules')]) utimesSync(f, new Date(), new Date(Date.now() + 4000));
      expect(await m.testSet(1)).toEqual({ declined: '2 rules files changed since the last load (more than 1)' });

      // a load under way
      release = () => undefined;
      const loading = m.load(false);
      await new Promise((r) => setTimeout(r, 20));
      expect(await m.testSet(8)).toEqual({ declined: 'a rules load is in progress' });
      const go = release;
      release = undefined;
      go();
      await loading;
      // loaded: the edit is in force; the new file with an error was rejected whole, so a test compiles it still
      expect(values({ ruleSet: m.ruleSet })).toEqual(['b']);
      const loaded = await m.testSet(8);
      if ('declined' in loaded) throw new Error(loaded.declined);
      expect({ inForce: loaded.inForce, values: values(loaded) }).toEqual({ inForce: 1, values: ['b', 'd'] });
      writeFileSync(join(dir, '70-z.rules'), 'KERNEL=="d", ENV{D}="1"\n');
      utimesSync(join(dir, '70-z.rules'), new Date(), new Date(Date.now() + 6000));
      await m.load(false);
      expect(await m.testSet(8)).toMatchObject({ ruleSet: m.ruleSet, inForce: 2 });
      expect(m.ruleSet.files.length).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
