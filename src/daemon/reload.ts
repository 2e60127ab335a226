// Rules loading and hot reload.
//
// Every rules file is compiled on its own. A file whose new version has errors is rejected whole: the last
// good compiled version of that file stays in force and the errors (file:line:col: message) are kept for the
// control socket's status. Once every changed file has been compiled to the side, a new complete RuleSet
// replaces the old one in one assignment, so an event always sees one complete rules set.
//
// With a bound (reload_max_impact), a reloaded set is first run in test mode over every device
// (src/preview/impact.ts); one that would change more devices than the bound is refused, and the set in force
// stays (logged, and counted in the status).
import type { FSWatcher } from 'chokidar';
import { createRequire } from 'node:module';
import { existsSync, watch as fsWatch, type FSWatcher as NodeWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { rulesFiles, rulesFileStats } from '../config/rules-path.js';
import type { Logger } from '../log.js';
import type { CompileOutcome, Engine, EventOutcome } from './engine.js';
// stamped as the rules cache stamps a file (src/rules/cache.ts): a file compiled here may be taken from it later
import { fileStamp, stampOf } from '../rules/cache.js';
import { clearNameCache } from '../sys/users.js';
import type { ImpactReport } from '../preview/impact.js';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): chokidar when the watcher starts, after
// the daemon is ready, not while it starts.
const require = createRequire(import.meta.url);

interface FileState<F> {
  /** Identity of the version last compiled (good or bad). */
  stamp: string;
  /** Last good compiled version, if any. */
  good?: F;
  /** The stamp of the version `good` was compiled from. */
  goodStamp?: string;
  /** Errors of the current version on disk (empty when it compiled). */
  errors: string[];
}

/** Why a reloaded rules set was not put in force. */
export interface Refusal {
  reason: string;
  /** Devices it would change (at least; -1 when unknown). */
  impact: number;
  bound: number;
}

export interface RulesStatus {
  generation: number;
  loadedAt: string;
  files: { path: string; ok: boolean; inForce: boolean; errors: string[] }[];
  errors: string[];
  /** How many files the load that made the set in force took from a rules cache instead of compiling them (only a start's load takes any). */
  fromCache: number;
  /** Reloads refused by the guard (the bound), and the last one. */
  refused: { count: number; last?: Refusal & { at: string } };
  /** Only on the status a refused load returns: why. */
  refusal?: Refusal & { at: string };
}

/** Whether two lists of paths hold the same paths in the same order. */
export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The rules files of the search path, compiled by the engine (F: a compiled file, R: a rules set). */
export class RulesManager<F, R> {
  #dirs: string[];
  #engine: Engine<F, R, EventOutcome>;
  #log: Logger;
  #files = new Map<string, FileState<F>>();
  #order: string[] = [];
  #ruleSet: R | undefined;
  #generation = 0;
  #loadedAt = new Date();
  #fromCache = 0;
  #watcher: FSWatcher | undefined;
  /** Missing watched paths, each waited for on its nearest existing ancestor. */
  #awaiting = new Set<NodeWatcher>();
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<unknown> = Promise.resolve();
  /** Loads asked for and not finished. */
  #pending = 0;
  #ready: Promise<void> = Promise.resolve();
  /** Called after each reload that produced a new rules set. */
  onReload?: (status: RulesStatus) => void;
  /** Asked before a reloaded set (not the first) replaces the one in force: a refusal keeps the current set. */
  guard?: (next: R) => Promise<Refusal | undefined>;
  #refused: RulesStatus['refused'] = { count: 0 };
  /** Files compiled for tests (testSet), in the version on disk then, by path; emptied by each load. */
  #testCompiled = new Map<string, { stamp: string; file: F | undefined }>();

  constructor(dirs: string[], engine: Engine<F, R, EventOutcome>, log: Logger) {
    this.#dirs = dirs;
    this.#engine = engine;
    this.#log = log;
  }

  /** The rules set in force (replaced atomically by reloads); there is one once load() has returned. */
  get ruleSet(): R {
    if (this.#ruleSet === undefined) throw new Error('no rules set yet: load() first');
    return this.#ruleSet;
  }

  get dirs(): readonly string[] {
    return this.#dirs;
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * Scans the rules directories and compiles what changed (everything when `force`). Reloads are serialized.
   * Returns the status after the load.
   */
  load(force = false): Promise<RulesStatus> {
    this.#pending++;
    const p = this.#busy.then(() => this.#load(force)).finally(() => this.#pending--);
    this.#busy = p.catch(() => undefined); // only the order: the caller gets the failure through p
    return p;
  }

  async #load(force: boolean): Promise<RulesStatus> {
    try {
      return await this.#loadFiles(force);
    } finally {
      // only a start's load takes files from a rules cache (the engine's, read at its first file)
      this.#engine.loaded?.();
    }
  }

  async #loadFiles(force: boolean): Promise<RulesStatus> {
    this.#testCompiled.clear();
    // names are looked up again, as udevd resolves them at each load: a group added since then is found
    clearNameCache();
    // each file's stat() as it was listed: its stamp (the version compiled or taken from a cache)
    const listed = rulesFileStats(this.#dirs);
    const paths = listed.map((f) => f.path);
    // At the very first load a file with errors still contributes its valid lines, as udev loads it; from then
    // on a changed file with errors is rejected whole and its previous version stays in force.
    const initial = this.#ruleSet === undefined;
    const before = new Map(this.#files); // what a refused reload returns to
    let changed = force || !sameList(paths, this.#order);
    const seen = new Set(paths);
    let fromCache = 0;
    for (const old of [...this.#files.keys()]) if (!seen.has(old)) this.#files.delete(old);
    for (const { path, st } of listed) {
      const stamp = fileStamp(st);
      const prev = this.#files.get(path);
      if (!force && prev && prev.stamp === stamp) continue;
      let out: CompileOutcome<F>;
      try {
        out = await this.#engine.compileFile(path, stamp);
      } catch (e) {
        out = { ok: false, errors: [`${path}: ${(e as Error).message}`] };
      }
      if (out.cached) fromCache++;
      if (!out.ok) {
        const partial = prev?.good === undefined && initial ? out.partial : undefined;
        const st: FileState<F> = partial ? { stamp, good: partial, goodStamp: stamp, errors: out.errors } : { stamp, good: prev?.good, goodStamp: prev?.goodStamp, errors: out.errors };
        this.#files.set(path, st);
        for (const err of out.errors) this.#log.error({ file: path }, `rules: ${err}`);
        this.#log.error({ file: path, errors: out.errors.length }, prev?.good ? `rules: ${path} rejected, its previous version stays in force` : st.good ? `rules: ${path} has errors, its valid lines are loaded` : `rules: ${path} rejected`);
        if (force || !prev || prev.errors.join('\n') !== out.errors.join('\n')) changed = true;
      } else {
        this.#files.set(path, { stamp, good: out.file, goodStamp: stamp, errors: [] });
        changed = true;
      }
    }
    if (changed || this.#ruleSet === undefined) {
      const good = paths.map((p) => this.#files.get(p)?.good).filter((g): g is F => g !== undefined);
      const next = this.#engine.makeRuleSet(good);
      const refusal = initial || !this.guard ? undefined : await this.guard(next);
      if (refusal) {
        // the files count as not loaded: the next reload looks at them again
        this.#files = before;
        const at = { ...refusal, at: new Date().toISOString() };
        this.#refused = { count: this.#refused.count + 1, last: at };
        this.#log.error({ impact: refusal.impact, bound: refusal.bound }, `rules reload refused, the rules in force stay: ${refusal.reason}`);
        return { ...this.status(), refusal: at };
      }
      this.#order = paths;
      this.#ruleSet = next; // the one switch: events started from now on see the new set
      this.#generation++;
      this.#loadedAt = new Date();
      this.#fromCache = fromCache;
      const st = this.status();
      this.#log.info({ generation: this.#generation, files: paths.length, fromCache, rejected: st.files.filter((f) => !f.ok).length }, 'rules loaded');
      this.onReload?.(st);
      return st;
    }
    return this.status();
  }

  /**
   * The rules of the files on disk now, for a test run (the control socket's `test` request: what devctl test would
   * load): the set in force when every file is in force in its version on disk; otherwise a set made for the test,
   * each file in force taken as it is and each other one (edited, added, rejected on reload) compiled now, with its
   * errors and its valid lines, as devctl loads a file. Nothing is put in force; what a test compiled is kept for the
   * next test of the same version until the next load. Declined while a load is under way, and when more than
   * `maxCompiles` files would be compiled: devctl does that work then, not the daemon's event loop.
   */
  async testSet(maxCompiles: number): Promise<{ ruleSet: R; inForce: number } | { declined: string }> {
    // a load updates the files one by one before the new set is in force
    if (this.#pending > 0) return { declined: 'a rules load is in progress' };
    const paths = rulesFiles(this.#dirs);
    const stamps = paths.map((p) => stampOf(p) ?? 'gone');
    // each file's compiled version in force, where that is the version on disk
    const inForce = paths.map((p, i) => {
      const f = this.#files.get(p);
      return f?.goodStamp !== undefined && f.goodStamp === f.stamp && f.goodStamp === stamps[i] ? f.good : undefined;
    });
    const kept = inForce.filter((g) => g !== undefined).length;
    if (kept === paths.length && sameList(paths, this.#order)) return { ruleSet: this.ruleSet, inForce: kept };
    const toCompile = paths.filter((p, i) => inForce[i] === undefined && this.#testCompiled.get(p)?.stamp !== stamps[i]);
    if (toCompile.length > maxCompiles) return { declined: `${toCompile.length} rules files changed since the last load (more than ${maxCompiles})` };
    const files: F[] = [];
    for (const [i, path] of paths.entries()) {
      const good = inForce[i];
      if (good !== undefined) {
        files.push(good);
        continue;
      }
      let compiled = this.#testCompiled.get(path);
      if (compiled?.stamp !== stamps[i]) {
        let out: CompileOutcome<F>;
        try {
          out = await this.#engine.compileFile(path);
        } catch (e) {
          return { declined: `${path}: ${(e as Error).message}` };
        }
        compiled = { stamp: stamps[i]!, file: out.ok ? out.file : out.partial };
        this.#testCompiled.set(path, compiled);
      }
      if (compiled.file !== undefined) files.push(compiled.file);
    }
    // (a load finished while this compiled changes nothing above: each file taken is the version on disk then)
    return { ruleSet: this.#engine.makeRuleSet(files), inForce: kept };
  }

  /** The compiled files in force, in order, each with the stamp of the version it was compiled from. */
  compiledFiles(): { path: string; stamp: string; file: F }[] {
    const out: { path: string; stamp: string; file: F }[] = [];
    for (const path of this.#order) {
      const f = this.#files.get(path);
      if (f?.good !== undefined && f.goodStamp !== undefined) out.push({ path, stamp: f.goodStamp, file: f.good });
    }
    return out;
  }

  status(): RulesStatus {
    const files = this.#order.map((path) => {
      const f = this.#files.get(path);
      return { path, ok: (f?.errors.length ?? 0) === 0, inForce: f?.good !== undefined, errors: f?.errors ?? [] };
    });
    return { generation: this.#generation, loadedAt: this.#loadedAt.toISOString(), files, errors: files.flatMap((f) => f.errors), fromCache: this.#fromCache, refused: this.#refused };
  }

  /**
   * Watches the rules directories; changes are debounced and reloaded. `extra` files (config) call onExtra.
   * chokidar watches the paths that exist. A missing one (/run/udev/rules.d, mostly) is not given to chokidar: it
   * would watch the parent and rescan it on every change there (the queue flag file of /run/udev toggles with every
   * busy period), so its nearest existing ancestor gets a plain inotify watch until it appears.
   */
  watch(extra: string[] = [], onExtra?: (path: string) => void, debounceMs = 100): void {
    if (this.#watcher) return;
    const paths = [...this.#dirs, ...extra];
    const w = (require('chokidar') as typeof import('chokidar')).watch(
      paths.filter((p) => existsSync(p)),
      { ignoreInitial: true, depth: 0, awaitWriteFinish: false, persistent: true },
    );
    // Once the first scan is done, a load that compares the files' stamps picks up what changed since the last
    // load (nothing, mostly: then it does nothing), so the daemon need not wait for the scan before it is ready.
    this.#ready = new Promise((resolve) =>
      w.once('ready', () => {
        this.load(false)
          .catch((e) => this.#log.error({ err: (e as Error).message }, 'rules reload failed'))
          .finally(resolve);
      }),
    );
    const extraSet = new Set(extra);
    const kick = (path: string) => {
      if (extraSet.has(path)) {
        onExtra?.(path);
        return;
      }
      if (!path.endsWith('.rules') && !this.#dirs.includes(path)) return;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.load(false).catch((e) => this.#log.error({ err: (e as Error).message }, 'rules reload failed'));
      }, debounceMs);
    };
    w.on('all', (ev, path) => {
      // a rules directory created after start: make sure its content is watched too
      if (ev === 'addDir' && this.#dirs.includes(path)) w.add(path);
      kick(path);
    });
    w.on('error', (e) => this.#log.warn({ err: (e as Error).message }, 'rules watcher error'));
    this.#watcher = w;
    const appeared = (path: string) => {
      w.add(path);
      kick(path);
    };
    for (const p of paths) if (!existsSync(p)) this.#awaitCreation(p, appeared);
  }

  /** Calls `appeared` once `path` exists, watching (inotify, no scan) its nearest existing ancestor meanwhile. */
  #awaitCreation(path: string, appeared: (path: string) => void): void {
    let child = path;
    let dir = dirname(path);
    while (!existsSync(dir) && dir !== dirname(dir)) {
      child = dir;
      dir = dirname(dir);
    }
    const name = basename(child);
    let fw: NodeWatcher | undefined;
    const check = (file: string | null) => {
      if ((file !== null && file !== name) || fw === undefined || !existsSync(child)) return;
      fw.close();
      this.#awaiting.delete(fw);
      fw = undefined;
      if (child === path) appeared(path);
      else this.#awaitCreation(path, appeared);
    };
    try {
      fw = fsWatch(dir, (_ev, file) => check(file));
    } catch (e) {
      this.#log.warn({ err: (e as Error).message, path }, 'rules watcher: cannot watch for the creation of a missing path');
      return;
    }
    fw.on('error', (e) => this.#log.warn({ err: e.message, path }, 'rules watcher error'));
    this.#awaiting.add(fw);
    check(null); // created between the look and the watch
  }

  /** Resolves once the watcher has scanned the directories and the rules are current (tests use it before editing files). */
  whenWatching(): Promise<void> {
    return this.#ready;
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const fw of this.#awaiting) fw.close();
    this.#awaiting.clear();
    await this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/**
 * The reload bound: refuses a rules set that would change more than `bound` devices against the set in force,
 * as `measure` counts them (running the set in test mode over the devices, stopping after `stopAfter` changed). A
 * set whose impact cannot be computed is refused too.
 */
export async function impactGuard(measure: (stopAfter: number) => Promise<ImpactReport>, bound: number): Promise<Refusal | undefined> {
  if (bound <= 0) return undefined;
  try {
    const r = await measure(bound + 1);
    if (r.changed.length <= bound) return undefined;
    const first = r.changed.slice(0, 3).map((d) => d.devpath);
    return {
      reason: `it would change ${r.stoppedEarly ? 'at least ' : ''}${r.changed.length} devices (reload_max_impact = ${bound}), e.g. ${first.join(', ')}`,
      impact: r.changed.length,
      bound,
    };
  } catch (e) {
    return { reason: `its impact on the devices could not be computed: ${(e as Error).message}`, impact: -1, bound };
  }
}
