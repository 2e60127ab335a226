// Running a program and collecting what it says: the one place devMaster starts child processes (rules'
// PROGRAM, IMPORT{program} and RUN through src/rules/spawn.ts; systemctl and the exec unit backend through
// src/units/spawn.ts). Never blocks the event loop; a timeout or an abort kills the child (or its whole process
// group) with SIGKILL.
import { spawn } from 'node:child_process';

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
 * Runs `file` with `args` (no shell) and resolves when it is gone, whatever happened: when its output is closed,
 * or, once it was killed, when it has exited.
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
    const child = spawn(file, args, {
      argv0: opts.argv0,
      env: opts.env,
      detached: opts.processGroup === true,
      stdio: ['ignore', opts.captureStdout === false ? 'ignore' : 'pipe', 'pipe'],
    });
    const kill = () => {
      if (!opts.processGroup) {
        child.kill('SIGKILL');
        return;
      }
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e; // ESRCH: the group is gone already
      }
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
    child.stdout?.on('data', (d: Buffer) => {
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
      if (stderr.length < maxStderr) stderr += d.slice(0, maxStderr - stderr.length);
    });
    const finish = (r: Partial<RunResult>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ...empty, stdout: stdout.toString('utf8'), stderr, timedOut, aborted, truncated, ...r });
    };
    child.on('error', (e) => finish({ error: e }));
    // Killed: done when it exits; what it started outside its group may keep the pipes open, so they are closed.
    child.on('exit', (code, signal) => {
      if (!timedOut && !aborted) return;
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish({ code: code ?? undefined, signal: signal ?? undefined });
    });
    child.on('close', (code, signal) => finish({ code: code ?? undefined, signal: signal ?? undefined }));
  });
}
