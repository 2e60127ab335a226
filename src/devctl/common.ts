// Shared plumbing for devctl verbs: argument parsing with the global root/config flags, errors, exit codes.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { configArgOptions, resolveConfig, type Config } from '../config/config.js';
import { createLogger, log } from '../log.js';
import type { Roots } from '../device/roots.js';

/** What every verb module exports. */
export interface Verb {
  /** One line for `devctl --help`. */
  summary: string;
  /** Full text for `devctl VERB --help`. */
  help: string;
  /** Runs the verb; returns the exit code. */
  run(argv: string[]): Promise<number>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, unknown>;
  positionals: string[];
  config: Config;
  roots: Roots;
}

/**
 * Parses a verb's arguments together with the global flags (--sysfs, --dev, --run, --config, --rules-dir, ...).
 * Unknown options and missing values raise UsageError naming the bad argument.
 */
export function parseVerbArgs(argv: string[], options: OptionSpec, allowPositionals = true): Parsed {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...configArgOptions(), ...options }, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const values = parsed.values as Record<string, unknown>;
  const { config, warnings } = resolveConfig(values);
  if (values['log-level'] !== undefined || process.env.DEVMASTER_LOG_LEVEL) createLogger({ level: config.logLevel });
  for (const w of warnings) log().warn(w);
  return { values, positionals: parsed.positionals, config, roots: { sysfs: config.sysfs, dev: config.dev, run: config.run } };
}

/** Reads a string option that may be given several times; returns a list. */
export function list(v: unknown): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? (v as string[]) : [v as string];
}
