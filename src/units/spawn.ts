// Runs a command (no shell) for the systemd and exec backends: resolves on exit status 0, rejects otherwise with
// an UnitBackendError that says whether a retry can help (the running itself: src/util/spawn.ts).
import { runCommand } from '../util/spawn.js';
import { UnitBackendError } from './types.js';

const MAX_STDERR = 4096;

export async function runUnitCommand(argv: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<void> {
  const [file, ...args] = argv;
  if (!file) throw new UnitBackendError('empty command', false);
  const r = await runCommand(file, args, { timeoutMs, signal, captureStdout: false, maxStderr: MAX_STDERR });
  if (r.aborted) throw new UnitBackendError(`${file} aborted`);
  if (r.timedOut) throw new UnitBackendError(`${file} timed out after ${timeoutMs} ms`);
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new UnitBackendError(`cannot run ${file}: ${r.error.message}`, code !== 'ENOENT' && code !== 'EACCES');
  }
  if (r.code === 0) return;
  const detail = r.stderr.trim() ? `: ${r.stderr.trim()}` : '';
  throw new UnitBackendError(`${file} ${r.signal ? `killed by ${r.signal}` : `exited with status ${r.code}`}${detail}`);
}
