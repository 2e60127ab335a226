// devctl migrate: which devices would get another database record from devMaster than udevd gave them. For every
// record in <run>/data, the rules run on the device in test mode (as `devctl test`: nothing is written; PROGRAM
// and IMPORT{program} run, RUN does not), and the record devMaster would write is compared with udevd's:
// properties (E:), symlinks (S:) and their priority (L:), tags (G:) and current tags (Q:). The initialization time
// (I:) and inotify watches are left out: they differ by nature.
import { allDbIds, formatDb, parseDb, readDb, type DbRecord } from '../../device/db.js';
import { DeviceError } from '../../device/device.js';
import type { Roots } from '../../device/roots.js';
import { processEvent, type EventContext } from '../../event/process.js';
import type { RuleSet } from '../../rules/load.js';
import type { Builtin } from '../../builtins/types.js';
import type { Logger } from '../../log.js';
import { findDevice } from '../../device/find.js';

export interface DeviceDiff {
  id: string;
  syspath: string;
  /** One line per difference, e.g. `E:ID_FOO: udevd "1", devMaster (none)`. */
  diffs: string[];
}

export interface DatabaseComparison {
  run: string;
  /** Records compared (devices that still exist). */
  compared: number;
  differing: DeviceDiff[];
  /** Records of devices sysfs no longer has (udevd would drop them too, at their remove event). */
  gone: string[];
  /** Devices the rules failed on in test mode, with the error. */
  failed: { id: string; error: string }[];
}

const q = (v: string | undefined) => (v === undefined ? '(none)' : JSON.stringify(v));

/** The differences between udevd's record and devMaster's, as readable lines. */
export function diffRecords(udevd: DbRecord, mine: DbRecord): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...udevd.properties.keys(), ...mine.properties.keys()])].sort()) {
    const a = udevd.properties.get(k);
    const b = mine.properties.get(k);
    if (a !== b) out.push(`E:${k}: udevd ${q(a)}, devMaster ${q(b)}`);
  }
  const sets: [string, string[], string[]][] = [
    ['S', udevd.links, mine.links],
    ['G', udevd.tags, mine.tags],
    ['Q', udevd.currentTags, mine.currentTags],
  ];
  for (const [key, a, b] of sets) {
    const onlyA = a.filter((x) => !b.includes(x));
    const onlyB = b.filter((x) => !a.includes(x));
    if (onlyA.length) out.push(`${key}: only udevd has ${onlyA.join(' ')}`);
    if (onlyB.length) out.push(`${key}: only devMaster has ${onlyB.join(' ')}`);
  }
  if ((udevd.linkPriority ?? 0) !== (mine.linkPriority ?? 0)) out.push(`L: udevd ${udevd.linkPriority ?? 0}, devMaster ${mine.linkPriority ?? 0}`);
  return out;
}

export interface CompareOptions {
  roots: Roots;
  ruleSet: RuleSet;
  builtins: Map<string, Builtin>;
  log: Logger;
  execTimeoutMs: number;
  /** The action each device's event gets (default "add": what the coldplug of the boot sent). */
  action?: string;
}

/** Compares every record of <run>/data with what devMaster's rules make of its device. */
export async function compareDatabase(o: CompareOptions): Promise<DatabaseComparison> {
  const res: DatabaseComparison = { run: o.roots.run, compared: 0, differing: [], gone: [], failed: [] };
  for (const id of allDbIds(o.roots.run)) {
    const udevd = readDb(o.roots.run, id);
    if (!udevd) continue;
    let device;
    try {
      device = findDevice(o.roots, id);
    } catch (e) {
      if (!(e instanceof DeviceError)) throw e;
      res.gone.push(id);
      continue;
    }
    device.action = o.action ?? 'add';
    const ctx: EventContext = { roots: o.roots, ruleSet: o.ruleSet, log: o.log, test: true, mknod: false, execTimeoutMs: o.execTimeoutMs, builtins: o.builtins };
    let mine: DbRecord;
    try {
      const r = await processEvent(ctx, device);
      const d = r.device;
      mine = parseDb(
        formatDb({ hasDevnode: (d.devnum?.major ?? 0) > 0, links: d.devlinks, linkPriority: d.devlinkPriority, usecInitialized: d.usecInitialized, properties: d.dbProperties, tags: d.tags, currentTags: d.currentTags }),
      );
    } catch (e) {
      res.failed.push({ id, error: (e as Error).message });
      continue;
    }
    res.compared++;
    const diffs = diffRecords(udevd, mine);
    if (diffs.length) res.differing.push({ id, syspath: device.syspath, diffs });
  }
  return res;
}
