// Runs a command (no shell) for the systemd and exec backends: resolves on exit status 0, rejects otherwise.
import { spawn } from 'node:child_process';
import { UnitBackendError } from './types.js';

const MAX_STDERR = 4096;

export function runCommand(argv: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (!file) {
      reject(new UnitBackendError('empty command', false));
      return;
    }
    let stderr = '';
    let settled = false;
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const kill = (why: string) => {
      child.kill('SIGKILL');
      finish(new UnitBackendError(`${file} ${why}`));
    };
    const onAbort = () => kill('aborted');
    const timer = setTimeout(() => kill(`timed out after ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < MAX_STDERR) stderr += d.slice(0, MAX_STDERR - stderr.length);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(new UnitBackendError(`cannot run ${file}: ${e.message}`, e.code !== 'ENOENT' && e.code !== 'EACCES'));
    });
    child.on('close', (code, sig) => {
      if (code === 0) finish();
      else {
        const detail = stderr.trim() ? `: ${stderr.trim()}` : '';
        finish(new UnitBackendError(`${file} ${sig ? `killed by ${sig}` : `exited with status ${code}`}${detail}`));
      }
    });
  });
}
