// devctl settle: wait until devMaster has processed every queued event (udevadm settle).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseVerbArgs, UsageError } from './common.js';
import { controlRequest, ControlError } from '../daemon/control.js';

export const summary = 'Wait for the event queue to be empty';

export const help = `devctl settle [OPTIONS]

Wait until devMaster has processed every event the kernel emitted so far.

Options:
  -t, --timeout=SECONDS        maximum time to wait (default 120; 0 = only check, do not wait)
  -E, --exit-if-exists=FILE    stop waiting as soon as FILE exists
  -h, --help                   show this help

Global options: --sysfs DIR, --dev DIR, --run DIR, --config FILE, --log-level LEVEL.

Exit status: 0 when the queue is empty (or FILE exists), 1 on timeout or error.
When no daemon is running, settle succeeds unless a stale queue flag (<run>/queue) stays.
The daemon is asked through <run>/devmaster.control (udevadm settle uses <run>/control and the flag).
`;

const OPTIONS = {
  timeout: { type: 'string', short: 't' },
  'exit-if-exists': { type: 'string', short: 'E' },
} as const;

/** Parses a udevadm-style number of seconds (fractions allowed). */
export function parseSeconds(v: string, flag: string): number {
  const s = v.trim().replace(/s$/, '');
  if (!/^\d+(\.\d+)?$/.test(s)) throw new UsageError(`invalid ${flag} value '${v}': expected a number of seconds`);
  return Number(s);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, roots } = parseVerbArgs(argv, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const timeoutS = values.timeout !== undefined ? parseSeconds(String(values.timeout), '--timeout') : 120;
  const exitIfExists = values['exit-if-exists'] as string | undefined;
  if (exitIfExists !== undefined && exitIfExists === '') throw new UsageError("invalid --exit-if-exists value '': expected a file path");
  const timeoutMs = timeoutS * 1000;
  const deadline = Date.now() + timeoutMs;
  const fileAppeared = () => exitIfExists !== undefined && existsSync(exitIfExists);
  if (fileAppeared()) return 0;

  let stopPolling = false;
  const poll = (async () => {
    if (exitIfExists === undefined) return new Promise<'file'>(() => undefined);
    while (!stopPolling) {
      if (fileAppeared()) return 'file' as const;
      await sleep(50);
    }
    return new Promise<'file'>(() => undefined);
  })();

  const ask = (async (): Promise<'settled' | 'timeout' | 'not-running'> => {
    try {
      const res = await controlRequest(roots.run, { command: 'settle', timeout: timeoutMs }, timeoutMs + 5000);
      return res.settled ? 'settled' : 'timeout';
    } catch (e) {
      if (e instanceof ControlError && e.code === 'ENOTRUNNING') return 'not-running';
      throw e;
    }
  })();

  try {
    let outcome = await Promise.race([ask, poll]);
    if (outcome === 'not-running') {
      // No daemon: only a leftover queue flag can keep us waiting (udevadm does the same).
      const flag = join(roots.run, 'queue');
      for (;;) {
        if (!existsSync(flag)) {
          outcome = 'settled';
          break;
        }
        if (fileAppeared()) {
          outcome = 'file';
          break;
        }
        if (Date.now() >= deadline) {
          outcome = 'timeout';
          break;
        }
        await sleep(50);
      }
    }
    if (outcome === 'timeout') {
      process.stderr.write(`devctl settle: timed out after ${timeoutS} s waiting for the event queue to be empty\n`);
      return 1;
    }
    return 0;
  } finally {
    stopPolling = true;
  }
}
