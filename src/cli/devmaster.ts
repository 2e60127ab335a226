#!/usr/bin/env -S node --max-semi-space-size=1 --no-opt --no-expose-wasm
// devmaster: the daemon's executable. With no flags it runs on /sys, /dev and /run/udev.
// The V8 flags above keep the daemon small and quick: a bounded young generation (the default grows by ~30 MB
// under an event storm) and no optimizing compiler (~10 MB of code and feedback, and its compiling costs more than
// it saves on this work); V8's baseline compiler stays (a third less CPU per event than the interpreter alone,
// ~4 MB more). Under MemoryDenyWriteExecute= (the systemd unit) NODE_OPTIONS=--jitless keeps it from generating
// code. No WebAssembly (the daemon has none to run; only devctl's hwdb compiler does): --jitless turns it off too,
// and when it is not off already V8 prints a warning about the conflicting flags at every start of the service.
// `npm start` passes the same flags (docs/DAEMON.md, "Memory").
import { constants as osConstants } from 'node:os';
import { configArgOptions, configHelp, resolveConfig, ConfigError } from '../config/config.js';
import { createLogger } from '../log.js';
import { getopt, getoptSpec, storeOption, type OptionSpec } from '../util/getopt.js';
import type { Daemon } from '../daemon/daemon.js';

const HELP = `devmaster [OPTIONS]

The devMaster device manager daemon (a udevd replacement): receives kernel uevents, runs the rules,
applies the result (device nodes, symlinks, database), renames network interfaces and broadcasts the
processed events to libudev clients. Controlled with "devctl control" and "devctl settle".

Options:
  -h, --help        show this help
  -V, --version     show the version
${configHelp()}

Signals: SIGTERM/SIGINT finish the running events and exit; SIGHUP reloads the rules.

Under a service manager: readiness, reloads, shutdown and watchdog pings go to $NOTIFY_SOCKET (sd_notify;
WATCHDOG=1 every half $WATCHDOG_USEC); sockets passed with $LISTEN_FDS/$LISTEN_PID (socket activation) are used
as the kernel uevent socket and the control sockets; a kernel socket opened here is handed to the manager's
file descriptor store (FDSTORE=1) so that it survives a restart. See docs/DAEMON.md and docs/INSTALL.md.
`;

/**
 * The command line as udevd reads its own (glibc's getopt_long: --opt VALUE or --opt=VALUE, unambiguous
 * abbreviations, -h and -V), into values by option name: true for a flag, a string option's last value, or every
 * value of a list. (Not node:util's parseArgs: loading and first running it took about 2 ms of each start.)
 */
function readCommandLine(argv: string[]): { values: Record<string, unknown>; positionals: string[]; error?: string } {
  const spec: OptionSpec = { ...configArgOptions(), help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } };
  const { options, operands, error } = getopt(argv, getoptSpec(spec), 'devmaster');
  const values: Record<string, unknown> = {};
  for (const o of options) storeOption(values, spec[o.key], o);
  return { values, positionals: operands, error };
}

async function main(argv: string[]): Promise<number> {
  // As udevd: whatever the service manager's UMask=, the database, tags, links and directories are made readable
  // for libudev clients (0644/0755); the control sockets get their own narrower modes when they are made.
  process.umask(0o022);
  const { values, positionals, error } = readCommandLine(argv);
  if (error !== undefined) {
    process.stderr.write(`${error}\nTry 'devmaster --help'.\n`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    const { version } = await import('../version.js');
    process.stdout.write(`${version}\n`);
    return 0;
  }
  if (positionals.length > 0) {
    process.stderr.write(`devmaster: unexpected argument '${positionals[0]}'\nTry 'devmaster --help'.\n`);
    return 1;
  }
  let config;
  let warnings: string[];
  try {
    ({ config, warnings } = resolveConfig(values));
  } catch (e) {
    process.stderr.write(`devmaster: ${(e as Error).message}\n`);
    return 1;
  }
  const log = createLogger({ level: config.logLevel, name: 'devmaster' });
  for (const w of warnings) log.warn(w);

  // The service manager's side (src/daemon/notify.ts, listen-fds.ts); the variables are removed so that the
  // programs the rules run inherit neither them nor the descriptors.
  const { Notifier, unsetNotifyEnv, watchdogUsec } = await import('../daemon/notify.js');
  let notifier;
  try {
    notifier = Notifier.fromEnv(process.env, log);
  } catch (e) {
    log.warn((e as Error).message + '; not notifying the service manager');
  }
  const watchdog = watchdogUsec();
  unsetNotifyEnv();
  const { listenFds } = await import('../daemon/listen-fds.js');
  let passed;
  try {
    passed = listenFds(process.env);
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'devmaster failed to start: sockets passed by the service manager');
    notifier?.failed(`Failed to start: ${(e as Error).message}`, osConstants.errno.EINVAL);
    return 1;
  }

  const { Daemon: DaemonClass } = await import('../daemon/daemon.js');
  // Service units on hotplug (docs/UNITS.md): the record of what was started is stored with the device.
  const units = await import('../units/index.js');
  let activator;
  try {
    activator = new units.UnitActivator(config, log.child({ component: 'units' }));
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'devmaster failed to start: unit activation');
    notifier?.failed(`Failed to start: ${(e as Error).message}`);
    return 1;
  }
  const afterRules = units.unitsAfterRules(activator);
  // Signals are handled from here on: a service manager may stop the daemon as soon as READY=1 arrives, which
  // Daemon.start sends before it returns. A reload asked for while starting is moot (the rules are being loaded).
  let daemon: Daemon | undefined;
  let exitRequested = false;
  const onTerm = (sig: string) => {
    log.info({ signal: sig }, 'exit requested');
    if (daemon) void daemon.stop();
    else exitRequested = true;
  };
  process.on('SIGTERM', () => onTerm('SIGTERM'));
  process.on('SIGINT', () => onTerm('SIGINT'));
  process.on('SIGHUP', () => {
    if (!daemon) return log.info('SIGHUP while starting: the rules are being loaded anyway');
    log.info('SIGHUP: reloading rules');
    daemon.reload().catch((e) => log.error({ err: (e as Error).message }, 'reload failed'));
  });
  try {
    daemon = await DaemonClass.start({ config, logger: log, hooks: { afterRules, status: () => ({ units: activator.stats() }) }, notifier, watchdogUsec: watchdog, listenFds: passed });
  } catch (e) {
    log.fatal({ err: (e as Error).message }, 'devmaster failed to start');
    const code = (e as NodeJS.ErrnoException).code;
    notifier?.failed(`Failed to start: ${(e as Error).message}`, code ? (osConstants.errno as Record<string, number>)[code] : undefined);
    return 1;
  }
  if (exitRequested) void daemon.stop();
  if (config.coldplug && !exitRequested) {
    const r = await daemon.coldplug('add', Math.max(1, config.eventTimeout) * 1000 * 4);
    if (!r.settled) log.warn('coldplug: the queue did not drain in time');
  }
  await daemon.stopped;
  await activator.close(2000);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The netlink and watcher handles are closed by stop(); exit explicitly in case a child's pipe lingers.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (e) => {
    if (e instanceof ConfigError) process.stderr.write(`devmaster: ${e.message}\n`);
    else process.stderr.write(`devmaster: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  },
);
