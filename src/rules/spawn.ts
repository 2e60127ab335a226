// Running PROGRAM, IMPORT{program} and RUN commands: udev's argument splitting, its program directory for
// relative names, the device's properties as the environment, a timeout that kills the whole process group
// (the running itself: src/util/spawn.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { splitCommand } from '../util/cmdline.js';
import { runCommand, type RunResult } from '../util/spawn.js';

/** Where udev looks up a relative program name (udev's UDEVLIBEXECDIR and its usrmerge twin). */
export const PROGRAM_DIRS: readonly string[] = ['/usr/lib/udev', '/lib/udev'];

/** Resolves argv[0]: absolute paths as given, others in udev's program directory. */
export function resolveProgram(name: string, dirs: readonly string[] = PROGRAM_DIRS): string {
  if (name.startsWith('/')) return name;
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return join(dirs[0] ?? '/usr/lib/udev', name);
}

export interface CommandLineOptions {
  env: Record<string, string>;
  timeoutMs: number;
  /** Maximum bytes of stdout kept (udev: 16 KiB for PROGRAM/IMPORT). */
  maxOutput?: number;
  /** Keep stdout at all (RUN discards it). */
  captureStdout?: boolean;
  /** Aborting kills the process group (the event it runs for was given up); an aborted signal spawns nothing. */
  signal?: AbortSignal;
}

/**
 * Runs a rules command line as udev does: split into words, the program found in udev's program directory, in a
 * process group of its own that a timeout kills whole.
 */
export function runCommandLine(cmdline: string, opts: CommandLineOptions): Promise<RunResult> {
  const argv = splitCommand(cmdline);
  if (argv.length === 0) {
    return Promise.resolve({ code: undefined, signal: undefined, stdout: '', stderr: '', timedOut: false, aborted: false, error: new Error('empty command'), truncated: false });
  }
  return runCommand(resolveProgram(argv[0]!), argv.slice(1), {
    env: opts.env,
    timeoutMs: opts.timeoutMs,
    signal: opts.signal,
    argv0: argv[0],
    processGroup: true,
    captureStdout: opts.captureStdout,
    maxStdout: opts.maxOutput,
  });
}
