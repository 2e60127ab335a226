// What the daemon needs from the rules engine and the per-event pipeline (src/rules/, src/event/), as one
// small interface so the daemon can be driven by a stand-in engine in tests and by the real one in production.
import type { Logger } from '../log.js';
import type { Device } from '../device/device.js';
import type { Builtin } from '../builtins/types.js';
import type { EventContext as PipelineContext, EventResult as PipelineResult } from '../event/process.js';

/** The context the daemon hands to processEvent (src/event/process.ts). */
export type EventContext = PipelineContext;

/** Only what the daemon reads from a processed event. */
export interface EventResult {
  /** The final device: its properties are what is broadcast. */
  device: Device;
  runList: readonly unknown[];
  /** NAME= of a network interface (renamed by ctx.renameInterface during processEvent). */
  rename?: string | undefined;
  failed: boolean;
  errors: string[];
  /** What the rules asked for beyond the device itself (OPTIONS+="watch"). */
  state?: { watch?: boolean };
}

export interface CompileErrors {
  errors: string[];
  /** What compiled despite the errors (the file's valid lines), for the first load of a file (as udev). */
  partial?: unknown;
}

export interface Engine {
  /** Parses and compiles one rules file; errors are "file:line:col: message". */
  compileFile(path: string): Promise<unknown | CompileErrors> | unknown | CompileErrors;
  /** A complete rules set from compiled files, in order. */
  makeRuleSet(files: unknown[]): unknown;
  processEvent(ctx: EventContext, device: Device): Promise<EventResult>;
  runProgramList(ctx: EventContext, result: EventResult): Promise<unknown>;
  /** Builtins by name, initialized (init) by the daemon at start. */
  builtins(): Promise<Builtin[]>;
}

export function isCompileErrors(x: unknown): x is CompileErrors {
  return typeof x === 'object' && x !== null && Array.isArray((x as CompileErrors).errors);
}

/**
 * The real engine: src/rules/load.ts (compileRulesFile, RuleSet), src/event/process.ts (processEvent,
 * runProgramList) and the builtins registry. A file with error diagnostics is reported as CompileErrors.
 */
export async function loadEngine(opts: { resolveNames?: 'early' | 'never'; logger?: Logger } = {}): Promise<Engine> {
  const rules = await import('../rules/load.js');
  const { formatDiagnostic } = await import('../rules/compile.js');
  const event = await import('../event/process.js');
  const registry = await import('../builtins/registry.js');
  return {
    async compileFile(path) {
      const f = await rules.compileRulesFile(path, { resolveNames: opts.resolveNames });
      for (const d of f.diagnostics) if (d.severity !== 'error') opts.logger?.debug(`rules: ${formatDiagnostic(d)}`);
      if (f.errors > 0) return { errors: f.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`), partial: f };
      return f;
    },
    makeRuleSet: (files) => new rules.RuleSet(files as ConstructorParameters<typeof rules.RuleSet>[0]),
    processEvent: (ctx, device) => event.processEvent(ctx, device),
    runProgramList: (ctx, result) => event.runProgramList(ctx, result as PipelineResult),
    builtins: () => registry.loadAllBuiltins(),
  };
}
