// devctl migrate: on a running system, what switching from udevd to devMaster would change or break, and whether
// it is safe (exit status 0) or not (1). See docs/DEVCTL.md and docs/INSTALL.md.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseVerbArgs, UsageError } from './common.js';
import { DEFAULT_RULES_DIRS, mergeConfFiles, PACKAGE_RULES_DIR, rulesFiles } from '../config/rules-path.js';
import { hwdbBinCandidates, hwdbSourceDirs, hwdbSourceFiles, underRoot } from '../hwdb/index.js';
import { exitBuiltins, initBuiltins, isBuiltin } from '../builtins/registry.js';
import { loadRules } from '../rules/load.js';
import { udevCtrlSocketPath } from '../daemon/udev-ctrl.js';
import { levelLogger } from '../log.js';
import { checkRules, type RulesUsage } from './migrate/rules.js';
import { findHolders, type SocketHolders } from './migrate/holders.js';
import { compareDatabase, type DatabaseComparison } from './migrate/database.js';

export const summary = 'Check what switching from udevd to devMaster would change or break';

export const help = `devctl migrate [OPTIONS]

Looks at this system as udevd left it and reports what devMaster would do differently:
  - rules files that do not verify (devMaster drops their bad lines; see devctl verify);
  - builtins the rules call that devMaster lacks, and programs they run that are missing;
  - .link files (applied by the net_setup_link builtin) and hwdb sources (hwdb.bin is shared with udev);
  - whether udevd runs, and who holds its control socket and receives kernel uevents;
  - every device whose database record (E: S: L: G: Q:) would differ: the rules run on each device with a
    record in the run root, in test mode (nothing is written; PROGRAM and IMPORT{program} run).

  -r --root=DIR          read /etc and /usr/lib (rules, .link files, hwdb) under DIR (default /)
     --proc=DIR          the /proc to read processes and sockets from (default /proc)
  -a --action=ACTION     the event each device is tested with (default add, what the boot's coldplug sends)
     --no-database       skip the comparison of the database
     --json              print the report as one JSON object
  -h --help              show this help
Global options (--sysfs, --dev, --run, --rules-dir, --config, ...) work as for the daemon; --run is the run root
udevd writes (default /run/udev).

Exit status: 0 when nothing needs fixing (safe to switch), 1 otherwise.
`;

/** systemd's .link directories (systemd.link(5)), highest priority first. */
export const LINK_DIRS: readonly string[] = ['/etc/systemd/network', '/run/systemd/network', '/usr/local/lib/systemd/network', '/usr/lib/systemd/network', '/lib/systemd/network'];

interface Item {
  what: string;
  detail?: string[];
}

export interface MigrateReport {
  safe: boolean;
  toFix: Item[];
  notes: Item[];
  rules: RulesUsage;
  linkFiles: string[];
  hwdb: { sources: number; bin: string | undefined; outdated: string[] };
  holders: SocketHolders;
  database: DatabaseComparison | undefined;
}

const proc = (p: { pid: number; comm: string }) => `${p.comm} (pid ${p.pid})`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, config, roots } = parseVerbArgs(argv, {
    root: { type: 'string', short: 'r' },
    proc: { type: 'string' },
    action: { type: 'string', short: 'a' },
    'no-database': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const root = (values.root as string | undefined) ?? '/';
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`--root: ${root} is not a directory`);
  const procDir = (values.proc as string | undefined) ?? '/proc';
  const toFix: Item[] = [];
  const notes: Item[] = [];

  // rules, in the daemon's search path (under --root) unless --rules-dir says otherwise
  const dirs = config.rulesDirs.length ? config.rulesDirs : DEFAULT_RULES_DIRS.map((d) => (d === PACKAGE_RULES_DIR ? d : underRoot(root, d)));
  const files = rulesFiles(dirs);
  const rules = await checkRules(files, root);
  for (const f of rules.failing) toFix.push({ what: `rules file ${f.file} does not verify: its bad lines would be dropped`, detail: f.errors });
  for (const b of rules.missingBuiltins) toFix.push({ what: `builtin '${b.name}' is used by the rules but devMaster does not implement it`, detail: b.uses });
  for (const p of rules.missingPrograms) toFix.push({ what: `program '${p.program}' is run by the rules but ${p.path} is not an executable`, detail: p.uses });
  for (const u of rules.uncheckedPrograms) notes.push({ what: `command '${u.command}' names its program at run time: not checked`, detail: u.uses });

  // .link files and the hwdb
  const linkFiles = mergeConfFiles([...config.networkDirs, ...LINK_DIRS.map((d) => underRoot(root, d))], '.link');
  if (linkFiles.length) {
    const applied = isBuiltin('net_setup_link');
    (applied ? notes : toFix).push({ what: `${linkFiles.length} .link file(s) found: ${applied ? 'applied by the net_setup_link builtin' : 'they would not be applied (devMaster has no net_setup_link builtin)'}`, detail: linkFiles });
  }
  const sources = hwdbSourceFiles(hwdbSourceDirs(root === '/' ? undefined : root, false));
  const bin = hwdbBinCandidates({ hwdbBin: config.hwdbBin, configFile: config.configFile, root: root === '/' ? undefined : root }).find((p) => existsSync(p));
  const binTime = bin ? statSync(bin).mtimeMs : 0;
  const outdated = sources.filter((s) => statSync(s).mtimeMs > binTime);
  if (sources.length && !bin) toFix.push({ what: `${sources.length} hwdb source(s) but no hwdb.bin: run devctl hwdb --update`, detail: sources });
  else if (bin && outdated.length) toFix.push({ what: `${bin} is older than ${outdated.length} hwdb source(s): run devctl hwdb --update`, detail: outdated });
  else if (bin) notes.push({ what: `hwdb: ${bin} (systemd's format, read by devMaster as is), ${sources.length} source(s)` });

  // udevd and the sockets
  const holders = findHolders(procDir, udevCtrlSocketPath(roots.run));
  if (holders.udevd.length) notes.push({ what: `udevd is running: ${holders.udevd.map(proc).join(', ')}; stop it and its sockets when devMaster takes over (docs/INSTALL.md)` });
  for (const c of holders.control) notes.push({ what: `${c.path} is held by ${c.holders.map(proc).join(', ') || 'no process this user can see'}` });
  if (holders.kernelListeners.length) notes.push({ what: `kernel uevents are received by ${holders.kernelListeners.map(proc).join(', ')}` });

  // the database
  let database: DatabaseComparison | undefined;
  if (values['no-database']) notes.push({ what: 'database not compared (--no-database)' });
  else if (!existsSync(join(roots.run, 'data'))) notes.push({ what: `no database under ${roots.run}: nothing to compare (udevd has not run since boot)` });
  else {
    const quiet = levelLogger('silent');
    const load = await loadRules(dirs, { resolveNames: config.resolveNames });
    const builtins = await initBuiltins(roots, { hwdbBin: config.hwdbBin, configFile: config.configFile }, { onError: () => undefined });
    try {
      database = await compareDatabase({ roots, ruleSet: load.ruleSet, builtins, log: quiet, execTimeoutMs: config.execTimeout * 1000, action: (values.action as string | undefined) ?? 'add' });
    } finally {
      exitBuiltins(builtins);
    }
    for (const d of database.differing) toFix.push({ what: `device ${d.id} (${d.syspath}) would get another database record`, detail: d.diffs });
    for (const f of database.failed) toFix.push({ what: `device ${f.id}: the rules failed in test mode: ${f.error}` });
    notes.push({ what: `database: ${database.compared} device(s) compared with ${roots.run}, ${database.differing.length} differ${database.gone.length ? `, ${database.gone.length} record(s) of devices that are gone` : ''}` });
  }

  const report: MigrateReport = { safe: toFix.length === 0, toFix, notes, rules, linkFiles, hwdb: { sources: sources.length, bin, outdated }, holders, database };
  if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(render(report));
  return report.safe ? 0 : 1;
}

function render(r: MigrateReport): string {
  const out: string[] = [];
  out.push(`Rules: ${r.rules.files} file(s), ${r.rules.failing.length} with errors; ${r.rules.builtinsChecked} builtin(s) and ${r.rules.programsChecked} program(s) checked`);
  const list = (title: string, items: Item[]) => {
    if (!items.length) return;
    out.push('', title);
    for (const i of items) {
      out.push(`  - ${i.what}`);
      for (const d of i.detail ?? []) out.push(`      ${d}`);
    }
  };
  list('To fix before switching:', r.toFix);
  list('Notes:', r.notes);
  out.push('', r.safe ? 'Safe to switch: nothing to fix.' : `Not safe to switch yet: ${r.toFix.length} thing(s) to fix.`);
  return out.join('\n') + '\n';
}
