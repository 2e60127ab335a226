// devctl test-builtin [--action=ACTION] BUILTIN DEVICE: runs one builtin on a device, like
// `udevadm test-builtin`, and prints the properties it sets as KEY=VALUE lines.
import { parseVerbArgs, UsageError } from './common.js';
import { ACTIONS } from './trigger.js';
import { findDevice } from '../device/find.js';
import { builtinNames, exitBuiltins, getBuiltin, initBuiltins } from '../builtins/registry.js';
import type { BuiltinEventState } from '../builtins/types.js';
import { readDb } from '../device/db.js';
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
  const logger = process.env.DEVMASTER_LOG_LEVEL ? log() : levelLogger('warn');
  // net_id looks vendors up in the hwdb: it is initialized alongside, as udevadm initializes every builtin
  const hwdb = name === 'net_id' ? await getBuiltin('hwdb') : undefined;
  const builtins = await initBuiltins(
    roots,
    { hwdbBin: config.hwdbBin, configFile: config.configFile, namingScheme: config.namingScheme, networkDirs: config.networkDirs, cmdlinePath: config.kernelCmdline, warn: (m) => logger.warn(m) },
    { builtins: hwdb ? [builtin, hwdb] : [builtin], onError: (n, e) => logger.warn(`builtin ${n} failed to initialize: ${e.message}`) },
  );
  const event: BuiltinEventState = {};
  let ok: boolean;
  try {
    ok = await builtin.run(
      {
        device,
        action: device.action,
        roots,
        test: true,
        log: logger,
        setProperty: (k, v) => set.push([k, v]),
        builtins,
        // as udevadm's database clone: what the device's record holds (net_setup_link imports from it)
        dbProperties: device.action === 'remove' ? undefined : readDb(roots.run, device.id)?.properties,
        event,
      },
      words,
    );
  } catch (e) {
    process.stderr.write(`devctl test-builtin: ${name}: ${(e as Error).message}\n`);
    ok = false;
  } finally {
    exitBuiltins(builtins);
  }
  for (const [k, v] of set) process.stdout.write(`${k}=${v}\n`);
  return ok ? 0 : 1;
}
