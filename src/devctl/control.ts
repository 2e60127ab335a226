// devctl control: talk to the running daemon (udevadm control).
import { fail, parseVerbArgs } from './common.js';
import { parseSec } from './time.js';
import { loadCredentials } from './control/credentials.js';
import { parseLevel } from '../log.js';
import { safeAtou } from '../util/cnum.js';
import { strerror } from '../sys/errno.js';
import { controlRequest, type ControlRequest } from '../daemon/control-client.js';

export const summary = 'Control the devMaster daemon';

export const help = `devctl control OPTION...

Control the devMaster daemon.

  -h --help                Show this help
  -V --version             Show package version
  -e --exit                Instruct the daemon to finish the running events and exit
  -l --log-level=LEVEL     Set the daemon's log level (emerg alert crit err warning notice info debug, 0-7,
                           or fatal error warn trace)
  -s --stop-exec-queue     Do not execute events, queue only
  -S --start-exec-queue    Execute events, flush queue
  -R --reload              Reload rules and databases (a file with errors is rejected, its old version stays)
  -p --property=KEY=VALUE  Set a global property for all events (an empty VALUE removes it)
  -m --children-max=N      Maximum number of events processed at once (0 = automatic)
     --ping                Wait for the daemon to respond to a ping message
  -t --timeout=SECONDS     Maximum time to block for a reply (default 60)
     --load-credentials    Copy the udev.rules.* and udev.conf.* credentials ($CREDENTIALS_DIRECTORY)
                           to <run>/rules.d/*.rules and <run>/udev.conf.d/*.conf
     --status              Print the daemon's state (queue, counters, rules errors) as JSON (devMaster)

As udevadm 257, the requests go in this order whatever the order of the options: exit (alone), log level,
stop or start the queue, reload, properties, children-max, ping, status.
Global options: --run DIR (where the control socket devmaster.control is), --config FILE.
(Debian's udevadm control talks to the same daemon through <run>/control.)

Exit status: 0 when every request succeeded, 1 otherwise.
`;

const OPTIONS = {
  exit: { type: 'boolean', short: 'e' },
  'log-level': { type: 'string', short: 'l', aliases: ['log-priority'] },
  'stop-exec-queue': { type: 'boolean', short: 's' },
  'start-exec-queue': { type: 'boolean', short: 'S' },
  reload: { type: 'boolean', short: 'R', aliases: ['reload-rules'] },
  property: { type: 'string', short: 'p', aliases: ['env'] },
  'children-max': { type: 'string', short: 'm' },
  ping: { type: 'boolean' },
  timeout: { type: 'string', short: 't' },
  'load-credentials': { type: 'boolean' },
  status: { type: 'boolean' },
} as const;

export interface ControlPlan {
  requests: ControlRequest[];
  loadCredentials: boolean;
  timeoutS: number;
}

/**
 * What the options ask for, as udevadm 257 reads them: every option first (the last -s/-S, -l and -m win), then
 * the requests in its fixed order: exit alone; else log level, stop or start, reload, properties, children-max,
 * ping (and devMaster's status). A string is udevadm's message for a bad argument.
 */
export function controlPlan(order: { key: string; value: string | undefined }[], operands: string[]): ControlPlan | string {
  let exit = false;
  let logLevel: string | undefined;
  let startExecQueue: boolean | undefined;
  let reload = false;
  const env: string[] = [];
  let childrenMax: number | undefined;
  let ping = false;
  let status = false;
  let credentials = false;
  let timeoutS = 60;
  for (const { key, value } of order) {
    const v = value ?? '';
    switch (key) {
      case 'exit':
        exit = true;
        break;
      case 'log-level':
        if (parseLevel(v) === undefined) return `Failed to parse log level '${v}': Invalid argument`;
        logLevel = v;
        break;
      case 'stop-exec-queue':
        startExecQueue = false;
        break;
      case 'start-exec-queue':
        startExecQueue = true;
        break;
      case 'reload':
        reload = true;
        break;
      case 'property':
        if (!v.includes('=')) return `expect <KEY>=<value> instead of '${v}'`;
        env.push(v);
        break;
      case 'children-max': {
        const n = safeAtou(v);
        if (typeof n !== 'number') return `Failed to parse maximum number of children '${v}': ${strerror(n)}`;
        childrenMax = n;
        break;
      }
      case 'ping':
        ping = true;
        break;
      case 'timeout': {
        const t = parseSec(v);
        if (t === undefined) return `Failed to parse timeout value '${v}': Invalid argument`;
        timeoutS = t;
        break;
      }
      case 'load-credentials':
        credentials = true;
        break;
      case 'status':
        status = true;
        break;
    }
  }
  const requests: ControlRequest[] = [];
  if (exit) requests.push({ command: 'exit' });
  else {
    if (logLevel !== undefined) requests.push({ command: 'log-level', value: logLevel });
    if (startExecQueue !== undefined) requests.push({ command: startExecQueue ? 'start-exec-queue' : 'stop-exec-queue' });
    if (reload) requests.push({ command: 'reload' });
    for (const kv of env) requests.push({ command: 'set-env', value: kv });
    if (childrenMax !== undefined) requests.push({ command: 'children-max', value: childrenMax });
    if (ping) requests.push({ command: 'ping' });
    if (status) requests.push({ command: 'status' });
  }
  if (requests.length === 0 && !credentials) return 'No control command option is specified.';
  if (operands.length > 0) return `Extraneous argument: ${operands[0]}`;
  return { requests, loadCredentials: credentials, timeoutS };
}

export async function run(argv: string[]): Promise<number> {
  const { order, positionals, roots } = parseVerbArgs(argv, OPTIONS);
  const plan = controlPlan(order, positionals);
  if (typeof plan === 'string') return fail(plan);
  if (plan.loadCredentials && !loadCredentials(roots.run)) return 1;
  const timeoutMs = Math.min(plan.timeoutS * 1000, 2 ** 31 - 1);
  for (const req of plan.requests) {
    let res;
    try {
      res = await controlRequest(roots.run, req, timeoutMs);
    } catch (e) {
      return fail(`devctl control: ${req.command}: ${(e as Error).message}`);
    }
    if (req.command === 'status') process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    if (req.command === 'reload' && Array.isArray(res.errors) && res.errors.length > 0) {
      process.stderr.write(`devctl control: reload: ${res.errors.length} rules error(s), the previous version of those files stays in force:\n`);
      for (const e of res.errors) process.stderr.write(`  ${String(e)}\n`);
    }
  }
  return 0;
}
