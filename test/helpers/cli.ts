// Runs the project's executables from source (tsx), so tests always exercise the current code.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './reference.js';

const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

/** The command line that runs devctl from source (for scripts that run it elsewhere, e.g. in a namespace). */
export const DEVCTL_COMMAND: readonly string[] = [TSX, join(REPO, 'src', 'cli', 'devctl.ts')];

export function devctl(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(DEVCTL_COMMAND[0]!, [...DEVCTL_COMMAND.slice(1), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    input: opts.input,
    timeout: opts.timeoutMs ?? 60_000,
  });
}

/** devctl with its output as bytes (for byte-for-byte comparisons with udevadm). */
export function devctlBytes(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): SpawnSyncReturns<Buffer> {
  return spawnSync(TSX, [join(REPO, 'src', 'cli', 'devctl.ts'), ...args], {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 << 20,
  });
}

/** Starts devctl; `done` resolves with its output and status when it exits. */
export function startDevctl(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { proc: ChildProcess; done: Promise<{ stdout: string; stderr: string; status: number | null }> } {
  return startProcessWith(TSX, [join(REPO, 'src', 'cli', 'devctl.ts'), ...args], opts);
}

/** Any command, asynchronously (a peer in this process answers it): its output and exit status. */
export function startProcess(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ stdout: string; stderr: string; status: number | null }> {
  return startProcessWith(cmd, args, opts).done;
}

function startProcessWith(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string }): { proc: ChildProcess; done: Promise<{ stdout: string; stderr: string; status: number | null }> } {
  const proc = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<{ stdout: string; stderr: string; status: number | null }>((resolve) => proc.once('close', (status) => resolve({ stdout, stderr, status })));
  return { proc, done };
}
