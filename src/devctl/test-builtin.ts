// devctl test-builtin [--action=ACTION] BUILTIN DEVICE: runs one builtin on a device, like
// `udevadm test-builtin`, and prints the properties it sets as KEY=VALUE lines.
import { parseVerbArgs, UsageError } from './common.js';
import { ACTIONS } from './trigger.js';
import { findDevice } from './info/find-device.js';
import { builtinNames, getBuiltin } from '../builtins/registry.js';
import { configureHwdb } from '../builtins/hwdb.js';
import { levelLogger, log } from '../log.js';

export const summary = 'Run one builtin on a device';

export const help = `devctl test-builtin [OPTIONS] COMMAND DEVICE

Runs the builtin COMMAND (with its arguments, quoted as one word: 'hwdb --subsystem=usb') on DEVICE and prints
the properties it sets. Nothing is changed on disk.

  -a --action=ACTION  the event's action (default: add)
  -h --help           show this help
  -V --version        show the version

Builtins: ${builtinNames().join(', ')}
DEVICE is a /sys path, a /dev node, SUBSYSTEM/SYSNAME or a device id.

Exit status: 0 when the builtin succeeded, 1 when it failed or an argument is wrong.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, roots, config } = parseVerbArgs(argv, { action: { type: 'string', short: 'a' } });
  const action = (values.action as string | undefined) ?? 'add';
  if (action === 'help') {
    process.stdout.write(ACTIONS.join('\n') + '\n');
    return 0;
  }
  if (!(ACTIONS as readonly string[]).includes(action)) {
    process.stderr.write(`Invalid action '${action}'\n`);
    return 1;
  }
  if (positionals.length < 2) {
    process.stderr.write('Expected two arguments: command string and device path.\n');
    return 1;
  }
  if (positionals.length > 2) throw new UsageError(`unexpected argument '${positionals[2]}'`);
  const [command, devArg] = positionals as [string, string];
  const words = command.trim().split(/\s+/);
  const name = words[0]!;
  const builtin = await getBuiltin(name);
  if (!builtin) throw new UsageError(`unknown builtin '${name}' (available: ${builtinNames().join(', ')})`);
  const device = findDevice(roots, devArg);
  device.action = action;
  const set: [string, string][] = [];
  if (name === 'hwdb') configureHwdb({ hwdbBin: config.hwdbBin, configFile: config.configFile, watch: false });
  await builtin.init?.(roots);
  let ok: boolean;
  try {
    ok = await builtin.run(
      { device, action: device.action, roots, test: true, log: process.env.DEVMASTER_LOG_LEVEL ? log() : levelLogger('warn'), setProperty: (k, v) => set.push([k, v]) },
      words,
    );
  } catch (e) {
    process.stderr.write(`devctl test-builtin: ${name}: ${(e as Error).message}\n`);
    ok = false;
  } finally {
    builtin.exit?.();
  }
  for (const [k, v] of set) process.stdout.write(`${k}=${v}\n`);
  return ok ? 0 : 1;
}
