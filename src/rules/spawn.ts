// Running PROGRAM, IMPORT{program} and RUN commands: udev's argument splitting, its program directory for
// relative names, the device's properties as the environment, a timeout that kills the whole process group.
// Never blocks the event loop.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where udev looks up a relative program name (udev's UDEVLIBEXECDIR and its usrmerge twin). */
export const PROGRAM_DIRS: readonly string[] = ['/usr/lib/udev', '/lib/udev'];

/**
 * Splits a command line like udev (extract_first_word with UNQUOTE|RELAX|RETAIN_ESCAPE): whitespace separates
 * words; '...' and "..." group and are removed; a backslash and the character after it are kept as written;
 * an unterminated quote runs to the end.
 */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = cmd.length;
  const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    while (i < n && ws(cmd[i])) i++;
    if (i >= n) break;
    let word = '';
    let quote: string | undefined;
    for (; i < n; i++) {
      const c = cmd[i]!;
      if (quote) {
        if (c === quote) quote = undefined;
        else if (c === '\\' && i + 1 < n) {
          word += c + cmd[++i];
        } else word += c;
        continue;
      }
      if (ws(c)) break;
      if (c === '"' || c === "'") {
        quote = c;
        continue;
      }
      if (c === '\\' && i + 1 < n) {
        word += c + cmd[++i];
        continue;
      }
      word += c;
    }
    out.push(word);
  }
  return out;
}

/** Resolves argv[0]: absolute paths as given, others in udev's program directory. */
export function resolveProgram(name: string, dirs: readonly string[] = PROGRAM_DIRS): string {
  if (name.startsWith('/')) return name;
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return join(dirs[0] ?? '/usr/lib/udev', name);
}

export interface SpawnResult {
  /** Exit code; undefined when killed by a signal or failed to start. */
  code: number | undefined;
  signal: NodeJS.Signals | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Error starting the program (ENOENT, EACCES, ...). */
  error: Error | undefined;
  /** stdout was longer than the limit and was cut. */
  truncated: boolean;
}

export interface SpawnOptions {
  env: Record<string, string>;
  timeoutMs: number;
  /** Maximum bytes of stdout kept (udev: 16 KiB for PROGRAM/IMPORT). */
  maxOutput?: number;
  /** Keep stdout at all (RUN discards it). */
  captureStdout?: boolean;
  /** Aborting kills the process group (the event it runs for was given up); an aborted signal spawns nothing. */
  signal?: AbortSignal;
}

/** Runs a command line and collects its output. The child gets its own process group. */
export function runCommand(cmdline: string, opts: SpawnOptions): Promise<SpawnResult> {
  const argv = splitCommand(cmdline);
  if (argv.length === 0) {
    return Promise.resolve({ code: undefined, signal: undefined, stdout: '', stderr: '', timedOut: false, error: new Error('empty command'), truncated: false });
  }
  if (opts.signal?.aborted) {
    return Promise.resolve({ code: undefined, signal: undefined, stdout: '', stderr: '', timedOut: false, error: new Error('event given up'), truncated: false });
  }
  const program = resolveProgram(argv[0]!);
  const max = opts.maxOutput ?? 16384;
  return new Promise((resolve) => {
    let stdout = Buffer.alloc(0);
    let stderr = '';
    let truncated = false;
    let timedOut = false;
    let settled = false;
    const child = spawn(program, argv.slice(1), {
      argv0: argv[0],
      env: opts.env,
      detached: true,
      stdio: ['ignore', opts.captureStdout === false ? 'ignore' : 'pipe', 'pipe'],
    });
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    timer.unref();
    opts.signal?.addEventListener('abort', killGroup, { once: true });
    child.stdout?.on('data', (d: Buffer) => {
      if (stdout.length >= max) {
        truncated = true;
        return;
      }
      stdout = Buffer.concat([stdout, d]);
      if (stdout.length > max) {
        stdout = stdout.subarray(0, max);
        truncated = true;
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 65536) stderr += d.toString('utf8');
    });
    const finish = (r: Partial<SpawnResult>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', killGroup);
      resolve({ code: undefined, signal: undefined, stdout: stdout.toString('utf8'), stderr, timedOut, error: undefined, truncated, ...r });
    };
    child.on('error', (e) => finish({ error: e }));
    child.on('close', (code, signal) => finish({ code: code ?? undefined, signal: signal ?? undefined }));
  });
}
