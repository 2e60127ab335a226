// The rules watcher: directories of the search path that exist are watched by chokidar; a missing one (as
// /run/udev/rules.d mostly is) is waited for on its nearest existing ancestor, without rescanning that ancestor on
// every change there, and its rules load once it appears. The daemon does not wait for the watcher's first scan
// before it is ready: what changed between the first load and the end of that scan is reloaded then.
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RulesManager } from '../../src/daemon/reload.js';
import type { Engine, EventOutcome } from '../../src/daemon/engine.js';
import { createLogger } from '../../src/log.js';
import { until } from './helpers.js';

type Files = readonly string[];
/** An engine whose compiled "file" is its text. */
const engine = {
  async compileFile(path: string) {
    return { ok: true as const, file: readFileSync(path, 'utf8').trim() };
  },
  makeRuleSet: (files: readonly string[]) => files,
} as unknown as Engine<string, Files, EventOutcome>;

describe('rules watcher', () => {
  let work: string;
  let rules: RulesManager<string, Files> | undefined;
  afterEach(async () => {
    await rules?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('loads the rules of a directory created after start, two levels below what existed', async () => {
    work = mkdtempSync(join(tmpdir(), 'dm-rules-watch-'));
    const present = join(work, 'etc');
    mkdirSync(present);
    writeFileSync(join(present, '10-a.rules'), 'one');
    const missing = join(work, 'run', 'udev', 'rules.d');
    rules = new RulesManager([present, missing], engine, createLogger({ level: 'error', pretty: false }));
    await rules.load(true);
    rules.watch([], undefined, 20);
    await rules.whenWatching();
    expect(rules.ruleSet).toEqual(['one']);
    const generation = rules.generation;
    // changes next to the missing directory do not reload
    mkdirSync(join(work, 'run'));
    writeFileSync(join(work, 'run', 'queue'), '');
    rmSync(join(work, 'run', 'queue'));
    await new Promise((r) => setTimeout(r, 200));
    expect(rules.generation).toBe(generation);
    mkdirSync(join(work, 'run', 'udev'));
    mkdirSync(missing);
    writeFileSync(join(missing, '20-b.rules'), 'two');
    await until(() => rules!.ruleSet.includes('two'), 5000, 'the new directory loaded');
    expect(rules.ruleSet).toEqual(['one', 'two']);
    // and it is watched from then on
    writeFileSync(join(missing, '20-b.rules'), 'three');
    await until(() => rules!.ruleSet.includes('three'), 5000, 'the edit reloaded');
  });

  it('reloads, once its first scan is done, what changed since the load before it; an unchanged tree stays as it was', async () => {
    work = mkdtempSync(join(tmpdir(), 'dm-rules-watch-'));
    const dir = join(work, 'rules.d');
    mkdirSync(dir);
    writeFileSync(join(dir, '10-a.rules'), 'one');
    writeFileSync(join(dir, '20-b.rules'), 'two');
    rules = new RulesManager([dir], engine, createLogger({ level: 'error', pretty: false }));
    await rules.load(true);
    expect(rules.ruleSet).toEqual(['one', 'two']);
    const generation = rules.generation;
    // after the load, before the watch: an edit of the same size, a new file, a removed one
    writeFileSync(join(dir, '10-a.rules'), 'uno');
    writeFileSync(join(dir, '30-c.rules'), 'three');
    rmSync(join(dir, '20-b.rules'));
    rules.watch([], undefined, 20);
    await rules.whenWatching();
    expect(rules.ruleSet).toEqual(['uno', 'three']);
    expect(rules.generation).toBe(generation + 1);
    await rules.close();

    // nothing changed between the load and the watch: no reload
    rules = new RulesManager([dir], engine, createLogger({ level: 'error', pretty: false }));
    await rules.load(true);
    const again = rules.generation;
    rules.watch([], undefined, 20);
    await rules.whenWatching();
    expect(rules.generation).toBe(again);
    expect(rules.ruleSet).toEqual(['uno', 'three']);
  });
});
