// Runs the project's executables from source (tsx), so tests always exercise the current code.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
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
