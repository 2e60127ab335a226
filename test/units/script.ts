// Stand-in commands for the exec and systemd backends: they record their arguments, one line per run.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes an executable that appends its arguments (separated by '|') to `log` and exits with `status`. */
export function recorderScript(dir: string, name: string, log: string, status = 0): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nIFS='|'\nprintf '%s\\n' "$*" >> '${log}'\necho "recorder says no" >&2\nexit ${status}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** The recorded runs, each as its argument list. */
export function recordedRuns(log: string): string[][] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split('|'));
}
