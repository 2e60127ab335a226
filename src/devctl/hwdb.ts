// devctl hwdb: compile the hardware database or query it (udevadm hwdb / systemd-hwdb compatible).
import { existsSync } from 'node:fs';
import { parseVerbArgs, UsageError } from './common.js';
import {
  findHwdbBin,
  formatDiagnostic,
  hwdbBinCandidates,
  hwdbOutputPath,
  hwdbSourceDirs,
  openHwdb,
  updateHwdb,
} from '../hwdb/index.js';

export const summary = 'Compile or query the hardware database';

export const help = `devctl hwdb [OPTIONS]
devctl hwdb update | query MODALIAS

Compile the hardware database from .hwdb sources into hwdb.bin (systemd's format), or look a modalias up.

  -h --help            show this help
  -V --version         show the version
  -u --update          compile /etc/udev/hwdb.d, /usr/lib/udev/hwdb.d, /lib/udev/hwdb.d (and, without
                       --root, devMaster's own hwdb/) into /etc/udev/hwdb.bin
  -t --test=MODALIAS   print the properties hwdb.bin gives for MODALIAS (KEY=VALUE lines)
     --usr             write /usr/lib/udev/hwdb.bin instead of /etc/udev/hwdb.bin
  -r --root=DIR        read the sources from and write the database under DIR
  -s --strict          exit with an error when a source line is malformed (it is still skipped)
     --compat          write udevadm's v1 layout (no source file and line per value)
     --source-dir=DIR  compile DIR instead of the default source directories (repeatable)
  -o --output=FILE     write FILE instead of the default path
     --show-source     with --test: append the source file:line of each property (v2 files)
     --hwdb-bin=FILE   with --test: query FILE

Verbs as systemd-hwdb spells them: "update" is --update, "query MODALIAS" is --test=MODALIAS.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, config } = parseVerbArgs(argv, {
    update: { type: 'boolean', short: 'u' },
    test: { type: 'string', short: 't' },
    usr: { type: 'boolean' },
    root: { type: 'string', short: 'r' },
    strict: { type: 'boolean', short: 's' },
    compat: { type: 'boolean' },
    'source-dir': { type: 'string', multiple: true },
    output: { type: 'string', short: 'o' },
    'show-source': { type: 'boolean' },
  });
  let update = values.update === true;
  let test = values.test as string | undefined;
  const pos = [...positionals];
  if (pos[0] === 'update') {
    update = true;
    pos.shift();
  } else if (pos[0] === 'query') {
    pos.shift();
    if (pos.length === 0) throw new UsageError('query needs a MODALIAS');
    test = pos.shift();
  }
  if (pos.length > 0) throw new UsageError(`unexpected argument '${pos[0]}'`);
  if (!update && test === undefined) throw new UsageError('give --update or --test=MODALIAS (see devctl hwdb --help)');
  const root = values.root as string | undefined;
  if (root !== undefined && !existsSync(root)) throw new UsageError(`--root ${root}: no such directory`);

  if (update) {
    const dirs = values['source-dir'] as string[] | undefined;
    const res = updateHwdb({
      root,
      usr: values.usr === true,
      compat: values.compat === true,
      dirs: dirs && dirs.length > 0 ? dirs : hwdbSourceDirs(root),
      output: (values.output as string | undefined) ?? hwdbOutputPath(root, values.usr === true),
    });
    for (const d of res.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
    if (!res.written) process.stderr.write(res.removed ? `No hwdb files found, compiled hwdb database ${res.output} removed.\n` : 'No hwdb files found, skipping.\n');
    if (values.strict === true && res.diagnostics.length > 0) {
      process.stderr.write(`devctl hwdb: ${res.diagnostics.length} malformed line(s) (--strict)\n`);
      return 1;
    }
    if (test === undefined) return 0;
  }

  const path = root !== undefined ? findHwdbBin({ root }) : findHwdbBin({ hwdbBin: config.hwdbBin, configFile: config.configFile });
  if (!path) {
    const where = root !== undefined ? hwdbBinCandidates({ root }) : hwdbBinCandidates({ hwdbBin: config.hwdbBin, configFile: config.configFile });
    process.stderr.write(`devctl hwdb: hwdb.bin does not exist (looked at ${where.join(', ')}); run 'devctl hwdb --update'\n`);
    return 1;
  }
  const db = openHwdb(path);
  try {
    let out = '';
    for (const m of db.lookupEntries(test!, values['show-source'] === true)) {
      out += `${m.key}=${m.value}`;
      if (values['show-source'] === true && m.file !== undefined) out += `\t# ${m.file}:${m.line}`;
      out += '\n';
    }
    process.stdout.write(out);
  } finally {
    db.close();
  }
  return 0;
}
