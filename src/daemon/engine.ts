// What the daemon needs from the rules engine and the per-event pipeline (src/rules/, src/event/), as one small
// typed interface, so that the daemon can be driven by a stand-in engine in tests and by the real one in
// production. The engine's types are parameters: F a compiled rules file, R a complete rules set, E the outcome
// of one event; the real engine's are CompiledFile, RuleSet and the pipeline's EventResult.
import type { Logger } from '../log.js';
import type { Device } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import type { Builtin } from '../builtins/types.js';
import type { RunItem, TraceEntry } from '../rules/exec.js';
import type { CompiledFile } from '../rules/compile.js';
import type { RuleSet } from '../rules/load.js';
import type { EventContext as PipelineContext, EventResult } from '../event/process.js';
import type { ImpactOptions, ImpactReport } from '../preview/impact.js';
import type { TestRun } from '../event/test-result.js';

/** The context the daemon hands to the pipeline; the engine adds its rules set. */
export type EventContext = Omit<PipelineContext, 'ruleSet'>;

/** What the daemon reads from a processed event. */
export interface EventOutcome {
  /** The final device: its properties are what is broadcast. */
  device: Device;
  runList: readonly RunItem[];
  failed: boolean;
  errors: string[];
  /** What the rules asked for beyond the device itself (OPTIONS+="watch"). */
  state: { readonly watch: boolean | undefined };
}

/** One rules file compiled: its compiled form, or its errors ("file:line:col: message"). */
export type CompileOutcome<F> =
  /** `cached`: taken from a rules cache, not compiled. */
  | { ok: true; file: F; cached?: boolean }
  /** `partial`: what compiled despite the errors (the file's valid lines), for the first load of a file (as udev). */
  | { ok: false; errors: string[]; partial?: F; cached?: boolean };

export interface Engine<F = CompiledFile, R = RuleSet, E extends EventOutcome = EventResult> {
  /**
   * `stamp`: the version of the file on disk (src/rules/cache.ts, stampOf()) when the caller's load may take it from
   * a rules cache, until loaded() says the load is over.
   */
  compileFile(path: string, stamp?: string): Promise<CompileOutcome<F>>;
  /** The load that may take files from a rules cache (the first) is over: what the engine kept for it goes. */
  loaded?(): void;
  /** A complete rules set from compiled files, in order. */
  makeRuleSet(files: readonly F[]): R;
  /**
   * `ctx` is the event's own (the daemon makes one per event): the real engine adds the rules set to it. A promise
   * only when the event waits (the real engine's: a program, a builtin that waits, a rename).
   */
  processEvent(ctx: EventContext, rules: R, device: Device): E | Promise<E>;
  runProgramList(ctx: EventContext, result: E): Promise<void>;
  /** OPTIONS+="static_node=" permissions and tags, on the nodes that exist (at start-up and after each reload). */
  applyStaticNodes(rules: R, roots: Roots, log: Logger): void;
  /** The device's node when there is none (mknod mode, before its whole disk is locked); false when it failed. */
  makeNode(ctx: EventContext, rules: R, device: Device): boolean;
  /** Builtins by name, initialized (init) by the daemon at start. */
  builtins(): Promise<Builtin[]>;
  /**
   * What rules set `next` would change on every device against `current` (test mode; the reload bound,
   * reload_max_impact). An engine without it has no bound.
   */
  impact?(next: R, current: R | undefined, opts: Omit<ImpactOptions, 'ruleSet' | 'baseline'>): Promise<ImpactReport>;
  /**
   * Keeps the compiled files for other processes (the rules cache that `devctl test` reads), each with the stamp of
   * the version it was compiled from. An engine without it keeps nothing.
   */
  saveCompiled?(files: readonly { path: string; stamp: string; file: F }[]): void;
  /**
   * The event of `device` run in test mode through `rules` (devctl test, run by the daemon), `rulesInForce` of
   * whose files are the daemon's own (the others compiled for the test): what devctl test prints, and the rules
   * files' errors. An engine without it declines every test.
   */
  test?(ctx: EventContext, rules: R, device: Device, rulesInForce: number): Promise<TestRun>;
  /**
   * The event of `device` run as the daemon's warm-up runs it (src/daemon/warm-up.ts): the event path of a real
   * event, in test mode, with no program and `builtins` alone (and ctx.cost, a scratch recorder's, when the daemon
   * keeps statistics). An engine without it is not warmed up.
   */
  warmUp?(ctx: EventContext, rules: R, device: Device, builtins: ReadonlyMap<string, Builtin>): unknown;
}

/**
 * The real engine: src/rules/load.ts (compileRulesFile, RuleSet), src/event/process.ts (processEvent,
 * runProgramList, makeNode), src/event/static-nodes.ts and the builtins registry. A file with error diagnostics
 * is reported with its errors and its valid lines. With `rulesCache`, saveCompiled() writes the rules cache there,
 * and with `keptRulesCache` a copy there too (src/rules/cache.ts); until loaded(), a file whose version the first of
 * them to hold it has, as the daemon compiled it, is taken from there (the first is read when the first file is
 * asked for, the second at the first file the first lacks).
 */
export async function loadEngine(opts: { resolveNames?: 'early' | 'never'; logger?: Logger; rulesCache?: string; keptRulesCache?: string } = {}): Promise<Engine> {
  const rules = await import('../rules/load.js');
  const { RulesCache } = await import('../rules/cache.js');
  const { formatDiagnostic } = await import('../rules/compile.js');
  const event = await import('../event/process.js');
  const { applyStaticNodes } = await import('../event/static-nodes.js');
  const registry = await import('../builtins/registry.js');
  const compileOpts = { resolveNames: opts.resolveNames };
  /** The caches a start may take files from, in order; each read when first needed (null: none usable there). */
  let sources: { path: string; cache?: InstanceType<typeof RulesCache> | null }[] = [opts.rulesCache, opts.keptRulesCache].filter((p) => p !== undefined).map((path) => ({ path }));
  const fromCache = (path: string, stamp: string) => {
    for (const s of sources) {
      if (s.cache === undefined) {
        const { cache, error } = RulesCache.read(s.path, compileOpts);
        if (error) opts.logger?.warn({ file: s.path, err: error }, 'rules cache not used');
        s.cache = cache.size > 0 ? cache : null;
      }
      const f = s.cache?.get(path, stamp, { resolvedNames: true });
      if (f) return f;
    }
    return undefined;
  };
  return {
    async compileFile(path, stamp) {
      const cached = stamp === undefined ? undefined : fromCache(path, stamp);
      const f = cached ?? (await rules.compileRulesFile(path, compileOpts));
      for (const d of f.diagnostics) if (d.severity !== 'error') opts.logger?.debug(`rules: ${formatDiagnostic(d)}`);
      if (f.errors > 0) return { ok: false, errors: f.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`), partial: f, cached: cached !== undefined };
      return { ok: true, file: f, cached: cached !== undefined };
    },
    loaded() {
      sources = [];
    },
    makeRuleSet: (files) => new rules.RuleSet(files),
    // the event's own context takes the rules set: a copy of it with the set (a spread of a dozen fields) per event
    // cost more than the rest of the call
    processEvent: (ctx, ruleSet, device) => event.processEventNow(Object.assign(ctx, { ruleSet }), device),
    runProgramList: (ctx, result) => event.runProgramList(ctx, result),
    applyStaticNodes(ruleSet, roots, log) {
      const done = applyStaticNodes(ruleSet, roots, log).filter((r) => r.applied);
      if (done.length) log.debug({ nodes: done.map((r) => r.node) }, 'static_node permissions applied');
    },
    makeNode: (ctx, ruleSet, device) => event.makeNode({ ...ctx, ruleSet }, device) !== undefined,
    builtins: () => registry.loadAllBuiltins(),
    saveCompiled(files) {
      const paths = [opts.rulesCache, opts.keptRulesCache].filter((p) => p !== undefined);
      if (paths.length === 0) return;
      const cache = new RulesCache(compileOpts);
      for (const f of files) cache.set(f.path, f.stamp, f.file);
      cache.write(paths);
    },
    async test(ctx, ruleSet, device, rulesInForce) {
      const { testRun } = await import('../event/test-result.js');
      const trace: TraceEntry[] = [];
      // test mode: nothing renamed, no node made, no hook, no cost counted; the event's trace kept
      const res = await event.processEvent({ ...ctx, ruleSet, test: true, mknod: false, trace, renameInterface: undefined, afterRules: undefined, cost: undefined }, device);
      return testRun(res, trace, device.action ?? 'add', ruleSet.files, { rulesFromCache: rulesInForce, ranIn: 'daemon' });
    },
    warmUp: (ctx, ruleSet, device, builtins) =>
      event.processEventNow(Object.assign(ctx, { ruleSet, builtins, test: true, mknod: false, noPrograms: true, renameInterface: undefined, afterRules: undefined }), device),
    async impact(next, current, o) {
      const { rulesImpact } = await import('../preview/impact.js');
      return rulesImpact({ ...o, ruleSet: next, baseline: current });
    },
  };
}
