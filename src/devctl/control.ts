// devctl control: talk to the running daemon (udevadm control).
import { parseArgs } from 'node:util';
import { configArgOptions } from '../config/config.js';
import { normalizeLevel } from '../log.js';
import { parseVerbArgs, UsageError } from './common.js';
import { parseSeconds } from './settle.js';
import { controlRequest, type ControlRequest } from '../daemon/control.js';

export const summary = 'Control the devMaster daemon';

export const help = `devctl control OPTION...

Send commands to the running devMaster daemon, in the order given.

Options:
  -e, --exit                 finish the running events and exit
  -l, --log-level=LEVEL      set the daemon's log level (fatal error warn info debug trace, or 0-7)
  -s, --stop-exec-queue      keep queueing events but do not start new ones
  -S, --start-exec-queue     start processing events again
  -R, --reload               reload the rules files (a file with errors is rejected, its old version stays)
  -m, --children-max=N       events processed at once (0 = automatic)
      --ping                 check that the daemon answers
      --status               print the daemon's state (queue, counters, rules errors) as JSON
  -t, --timeout=SECONDS      how long to wait for each answer (default 60)
  -h, --help                 show this help

Global options: --run DIR (where the control socket devmaster.control is), --config FILE.
(Debian's udevadm control talks to the same daemon through <run>/control.)

Exit status: 0 when every command succeeded, 1 otherwise.
`;

const OPTIONS = {
  exit: { type: 'boolean', short: 'e' },
  'log-level': { type: 'string', short: 'l' },
  'stop-exec-queue': { type: 'boolean', short: 's' },
  'start-exec-queue': { type: 'boolean', short: 'S' },
  reload: { type: 'boolean', short: 'R' },
  'children-max': { type: 'string', short: 'm' },
  ping: { type: 'boolean' },
  status: { type: 'boolean' },
  timeout: { type: 'string', short: 't' },
} as const;

export async function run(argv: string[]): Promise<number> {
  // -l/--log-level here is the daemon's level: keep it away from the global --log-level of devctl itself.
  const { positionals, roots } = parseVerbArgs(argv.filter((a, i) => !isLogLevelArg(argv, i)), { ...OPTIONS, 'log-level': { type: 'string' } }, true);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  let tokens;
  try {
    tokens = parseArgs({ args: argv, options: { ...configArgOptions(), ...OPTIONS }, allowPositionals: true, strict: true, tokens: true }).tokens;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let timeoutS = 60;
  const requests: { req: ControlRequest; label: string }[] = [];
  for (const t of tokens ?? []) {
    if (t.kind !== 'option') continue;
    const v = t.value;
    switch (t.name) {
      case 'timeout':
        timeoutS = parseSeconds(String(v), '--timeout');
        break;
      case 'exit':
        requests.push({ req: { command: 'exit' }, label: 'exit' });
        break;
      case 'log-level': {
        try {
          normalizeLevel(String(v));
        } catch (e) {
          throw new UsageError(`invalid --log-level value '${v}': ${(e as Error).message}`);
        }
        requests.push({ req: { command: 'log-level', value: String(v) }, label: 'log-level' });
        break;
      }
      case 'stop-exec-queue':
        requests.push({ req: { command: 'stop-exec-queue' }, label: 'stop-exec-queue' });
        break;
      case 'start-exec-queue':
        requests.push({ req: { command: 'start-exec-queue' }, label: 'start-exec-queue' });
        break;
      case 'reload':
        requests.push({ req: { command: 'reload' }, label: 'reload' });
        break;
      case 'children-max': {
        if (!/^\d+$/.test(String(v))) throw new UsageError(`invalid --children-max value '${v}': expected a non-negative integer`);
        requests.push({ req: { command: 'children-max', value: Number(v) }, label: 'children-max' });
        break;
      }
      case 'ping':
        requests.push({ req: { command: 'ping' }, label: 'ping' });
        break;
      case 'status':
        requests.push({ req: { command: 'status' }, label: 'status' });
        break;
      default:
        break; // global options
    }
  }
  if (requests.length === 0) throw new UsageError('expects one or more options (see devctl control --help)');
  for (const { req, label } of requests) {
    let res;
    try {
      res = await controlRequest(roots.run, req, timeoutS * 1000);
    } catch (e) {
      process.stderr.write(`devctl control: ${label}: ${(e as Error).message}\n`);
      return 1;
    }
    if (req.command === 'status') process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    if (req.command === 'reload' && Array.isArray(res.errors) && res.errors.length > 0) {
      process.stderr.write(`devctl control: reload: ${res.errors.length} rules error(s), the previous version of those files stays in force:\n`);
      for (const e of res.errors) process.stderr.write(`  ${String(e)}\n`);
    }
  }
  return 0;
}

/** True for argv[i] when it is (part of) a -l/--log-level option, which means the daemon's level here. */
function isLogLevelArg(argv: string[], i: number): boolean {
  const a = argv[i]!;
  if (a === '-l' || a === '--log-level') return true;
  if (a.startsWith('--log-level=') || (a.startsWith('-l') && !a.startsWith('--'))) return true;
  const prev = argv[i - 1];
  return prev === '-l' || prev === '--log-level';
}
