// devctl settle: wait until devMaster has processed every queued event (udevadm settle).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail, parseVerbArgs } from './common.js';
import { parseSec } from './time.js';
import { controlRequest, ControlError } from '../daemon/control-client.js';

export const summary = 'Wait for the event queue to be empty';

export const help = `devctl settle [OPTIONS]

Wait until devMaster has processed every event the kernel emitted so far.

Options:
  -h, --help                   show this help
  -V, --version                show the version
  -t, --timeout=SECONDS        maximum time to wait (default 120; 0 = only check, do not wait)
  -E, --exit-if-exists=FILE    stop waiting as soon as FILE exists

Global options: --sysfs DIR, --dev DIR, --run DIR, --config FILE, --log-level LEVEL.

Exit status: 0 when the queue is empty (or FILE exists), 1 on timeout or error.
When no daemon is running, settle succeeds unless a stale queue flag (<run>/queue) stays.
The daemon is asked through <run>/devmaster.control (udevadm settle uses <run>/control and the flag).
`;

const OPTIONS = {
  timeout: { type: 'string', short: 't' },
  'exit-if-exists': { type: 'string', short: 'E' },
  // udevadm's old options: refused with a message
  'seq-start': { type: 'string', short: 's' },
  'seq-end': { type: 'string', short: 'e' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

const OLD_OPTIONS: Readonly<Record<string, string>> = { 'seq-start': 's', 'seq-end': 'e', quiet: 'q' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(argv: string[]): Promise<number> {
  const { order, roots } = parseVerbArgs(argv, OPTIONS);
  // (operands are ignored, as udevadm ignores them)
  let timeoutS = 120;
  let exitIfExists: string | undefined;
  for (const { key, value } of order) {
    if (key === 'timeout') {
      const t = parseSec(value ?? '');
      if (t === undefined) return fail(`Failed to parse timeout value '${value}': Invalid argument`);
      timeoutS = t;
    } else if (key === 'exit-if-exists') exitIfExists = value;
    else return fail(`Option -${OLD_OPTIONS[key]} no longer supported.`);
  }
  const timeoutMs = Math.min(timeoutS * 1000, 2 ** 31 - 1); // (beyond setTimeout's range is as good as forever)
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
      process.stderr.write('Timed out while waiting for udev queue to empty.\n');
      return 1;
    }
    return 0;
  } finally {
    stopPolling = true;
  }
}
