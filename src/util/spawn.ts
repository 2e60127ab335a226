// Running a program and collecting what it says: the one place devMaster starts child processes (rules'
// PROGRAM, IMPORT{program} and RUN through src/rules/spawn.ts; systemctl and the exec unit backend through
// src/units/spawn.ts). Never blocks the event loop; a timeout or an abort kills the child (or its whole process
// group) with SIGKILL.
//
// A program is done when it exits, as udevd's spawn is done on the child's SIGCHLD: what it wrote before exiting
// is still read (a bounded drain: until its pipes close, or stay quiet for DRAIN_QUIET_MS, at most DRAIN_MAX_MS),
// then the pipes are closed. A process it left behind in its group (a background job holding the pipes) does not
// hold the result back; such groups are remembered and killed later by killLeftoverGroups(), which the daemon
// calls when its queue is idle (as udevd kills what is left in its cgroup then).
import { createRequire } from 'node:module';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): node:child_process with the first
// program, not at start-up.
const require = createRequire(import.meta.url);
const childProcess = (): typeof import('node:child_process') => require('node:child_process') as typeof import('node:child_process');

/** Loads node:child_process now (the daemon, once ready: its first event then does not wait for the load). */
export function preloadChildProcess(): void {
  childProcess();
}

/** After the child exited: the drain ends once its pipes were quiet this long... */
export const DRAIN_QUIET_MS = 20;
/** ...or this long after the exit at the latest. */
export const DRAIN_MAX_MS = 250;

/** Process groups (the ids of their leaders) whose leader exited while other members lived on. */
const leftovers = new Set<number>();

/** Sends `signal` to process group `pgid`; false when the group is gone. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false; // the group is gone already
    throw e;
  }
}

/**
 * Kills (SIGKILL) what is left of the process groups of programs that exited while members of their group lived on
 * (background jobs started by RUN and PROGRAM). Returns how many groups still had members.
 */
export function killLeftoverGroups(): number {
  let n = 0;
  for (const pgid of leftovers) if (signalGroup(pgid, 'SIGKILL')) n++;
  leftovers.clear();
  return n;
}

/** How many exited programs left members of their process group behind (not killed yet). */
export function leftoverGroupCount(): number {
  return leftovers.size;
}

export interface RunOptions {
  /** The environment; default: this process's. */
  env?: Record<string, string>;
  timeoutMs: number;
  /** Aborting kills the child (an already aborted signal spawns nothing). */
  signal?: AbortSignal;
  /** argv[0] as the program sees it (default: `file`). */
  argv0?: string;
  /** Run in a process group of its own and kill the whole group (default false: only the child). */
  processGroup?: boolean;
  /** Keep stdout (default true); otherwise it goes nowhere. */
  captureStdout?: boolean;
  /** Bytes of stdout kept (default 16 KiB). */
  maxStdout?: number;
  /** Characters of stderr kept (default 64 Ki). */
  maxStderr?: number;
}

export interface RunResult {
  /** Exit code; undefined when killed by a signal or not started. */
  code: number | undefined;
  signal: NodeJS.Signals | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Killed (or never started) because the signal was aborted. */
  aborted: boolean;
  /** The error starting the program (ENOENT, EACCES, ...). */
  error: Error | undefined;
  /** stdout was longer than maxStdout and was cut. */
  truncated: boolean;
}

/**
 * Runs `file` with `args` (no shell) and resolves when it is gone, whatever happened: when it has exited and its
 * output was drained (see above), or when it could not be started.
 */
export function runCommand(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const empty: RunResult = { code: undefined, signal: undefined, stdout: '', stderr: '', timedOut: false, aborted: false, error: undefined, truncated: false };
  if (opts.signal?.aborted) return Promise.resolve({ ...empty, aborted: true, error: new Error('aborted before it started') });
  const maxStdout = opts.maxStdout ?? 16384;
  const maxStderr = opts.maxStderr ?? 65536;
  return new Promise((resolve) => {
    let stdout = Buffer.alloc(0);
    let stderr = '';
    let truncated = false;
    let timedOut = false;
    let aborted = false;
    let settled = false;
    const child = childProcess().spawn(file, args, {
      argv0: opts.argv0,
      env: opts.env,
      detached: opts.processGroup === true,
      stdio: ['ignore', opts.captureStdout === false ? 'ignore' : 'pipe', 'pipe'],
    });
    // a new group with the id of a remembered one: that one is gone, and the id is this child's now
    if (opts.processGroup && child.pid !== undefined) leftovers.delete(child.pid);
    const kill = () => {
      if (!opts.processGroup) child.kill('SIGKILL');
      else if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    timer.unref();
    const onAbort = () => {
      aborted = true;
      kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let drain: { quiet: NodeJS.Timeout; max: NodeJS.Timeout } | undefined;
    const output = () => {
      if (drain) drain.quiet.refresh();
    };
    child.stdout?.on('data', (d: Buffer) => {
      output();
      if (stdout.length >= maxStdout) {
        truncated = true;
        return;
      }
      stdout = Buffer.concat([stdout, d]);
      if (stdout.length > maxStdout) {
        stdout = stdout.subarray(0, maxStdout);
        truncated = true;
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      output();
      if (stderr.length < maxStderr) stderr += d.slice(0, maxStderr - stderr.length);
    });
    let exit: Partial<RunResult> = {};
    const finish = (r: Partial<RunResult>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (drain) {
        clearTimeout(drain.quiet);
        clearTimeout(drain.max);
      }
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ...empty, stdout: stdout.toString('utf8'), stderr, timedOut, aborted, truncated, ...r });
    };
    child.on('error', (e) => finish({ error: e }));
    // Done on exit: the output already written is drained, then the pipes are closed, whoever else holds them.
    const endDrain = () => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish(exit);
    };
    child.on('exit', (code, signal) => {
      exit = { code: code ?? undefined, signal: signal ?? undefined };
      if (opts.processGroup && child.pid !== undefined && !timedOut && !aborted && signalGroup(child.pid, 0)) leftovers.add(child.pid);
      if (!child.stdout && !child.stderr) return finish(exit);
      drain = { quiet: setTimeout(endDrain, DRAIN_QUIET_MS), max: setTimeout(endDrain, DRAIN_MAX_MS) };
    });
    child.on('close', () => finish(exit));
  });
}
