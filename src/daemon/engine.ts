// What the daemon needs from the rules engine and the per-event pipeline (src/rules/, src/event/), as one
// small interface so the daemon can be driven by a fake engine in tests and by the real one in production.
import type { Logger } from '../log.js';
import type { Config } from '../config/config.js';
import type { Roots } from '../device/roots.js';
import type { Device } from '../device/device.js';

/** One RUN entry left for after the event. */
export interface RunEntry {
  kind: 'program' | 'builtin';
  command: string;
  file: string;
  line: number;
}

export interface EventResult {
  /** The final device: its properties are what is broadcast. */
  device: Device;
  runList: RunEntry[];
  /** NAME= for a network interface (the daemon renames it). */
  rename?: string;
  failed: boolean;
  errors: string[];
}

export interface EventContext {
  roots: Roots;
  ruleSet: unknown;
  config: Config;
  log: Logger;
  test: false;
  mknod: boolean;
  execTimeoutMs: number;
}

export interface CompileErrors {
  errors: string[];
}

export interface Engine {
  /** Parses and compiles one rules file; errors are "file:line:col: message". */
  compileFile(path: string): Promise<unknown | CompileErrors> | unknown | CompileErrors;
  /** A complete rules set from compiled files, in order. */
  makeRuleSet(files: unknown[]): unknown;
  processEvent(ctx: EventContext, device: Device): Promise<EventResult>;
  runProgramList(ctx: EventContext, result: EventResult): Promise<unknown>;
}

export function isCompileErrors(x: unknown): x is CompileErrors {
  return typeof x === 'object' && x !== null && Array.isArray((x as CompileErrors).errors);
}

/**
 * The real engine: src/rules/load.ts (compileRulesFile, RuleSet) and src/event/process.ts (processEvent,
 * runProgramList). Loaded lazily so that the daemon's own modules do not depend on their load order.
 */
export async function loadEngine(): Promise<Engine> {
  const rulesPath = '../rules/load.js';
  const eventPath = '../event/process.js';
  let rules: Record<string, unknown>;
  let event: Record<string, unknown>;
  try {
    rules = (await import(rulesPath)) as Record<string, unknown>;
    event = (await import(eventPath)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`rules engine unavailable: ${(e as Error).message}`);
  }
  const compile = rules.compileRulesFile as ((p: string) => unknown) | undefined;
  const RuleSet = rules.RuleSet as (new (files: unknown[]) => unknown) | undefined;
  const processEvent = event.processEvent as Engine['processEvent'] | undefined;
  const runProgramList = event.runProgramList as Engine['runProgramList'] | undefined;
  if (!compile || !RuleSet || !processEvent || !runProgramList)
    throw new Error('rules engine incomplete: need compileRulesFile and RuleSet (src/rules/load.ts), processEvent and runProgramList (src/event/process.ts)');
  return {
    compileFile: (p) => compile(p),
    makeRuleSet: (files) => new RuleSet(files),
    processEvent,
    runProgramList,
  };
}
