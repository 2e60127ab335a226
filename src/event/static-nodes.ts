// OPTIONS+="static_node=NAME": at start-up (and after a reload) udev applies the OWNER/GROUP/MODE and TAGs of
// such lines to /dev/NAME, which exists before any uevent (kmod static nodes), and records the tags under
// <run>/static_node-tags/<tag>/<escaped name> as symlinks to the node.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { devPath, DEV_PREFIX, type Roots } from '../device/roots.js';
import type { Logger } from '../log.js';
import type { RuleSet } from '../rules/load.js';
import { T, LINE_HAS_STATIC_NODE } from '../rules/compile.js';
import { isValidTag } from '../device/db.js';
import { isSystemError, lstatIfAny, readlinkIfAny, unlinkIfAny } from '../util/fs.js';
import { ConfinementError, setNodePermissions } from '../device/confine.js';

export interface StaticNodeResult {
  node: string;
  applied: boolean;
  uid?: number;
  gid?: number;
  mode?: number;
  tags: string[];
}

/**
 * Applies static_node permissions and tags; returns what was done for each node named by the rules. With `only`
 * (a name like "net/tun"), just the static_node= options naming that node.
 */
export function applyStaticNodes(rules: RuleSet, roots: Roots, log: Logger, only?: string): StaticNodeResult[] {
  const out: StaticNodeResult[] = [];
  for (const file of rules.files) {
    for (const line of file.lines) {
      if (!(line.type & LINE_HAS_STATIC_NODE)) continue;
      let uid: number | undefined;
      let gid: number | undefined;
      let mode: number | undefined;
      const tags: string[] = [];
      for (const tok of line.tokens) {
        if (tok.type === T.A_OWNER_ID && tok.num! >= 0) uid = tok.num;
        else if (tok.type === T.A_GROUP_ID && tok.num! >= 0) gid = tok.num;
        else if (tok.type === T.A_MODE_ID) mode = tok.num;
        else if (tok.type === T.A_TAG && tok.op !== '-=') tags.push(tok.value);
        else if (tok.type === T.A_OPTIONS_STATIC_NODE && (only === undefined || tok.value === only)) out.push(applyOne(roots, tok.value, uid, gid, mode, tags, log));
      }
    }
  }
  return out;
}

function applyOne(roots: Roots, name: string, uid: number | undefined, gid: number | undefined, mode: number | undefined, tags: string[], log: Logger): StaticNodeResult {
  const res: StaticNodeResult = { node: `${DEV_PREFIX}/${name}`, applied: false, uid, gid, mode, tags: [...tags] };
  if (name.split('/').some((p) => p === '..' || p === '')) {
    log.warn(`static_node "${name}": invalid name, ignoring`);
    return res;
  }
  const path = devPath(roots, res.node);
  const st = lstatIfAny(path);
  if (!st) return res; // not there (yet): nothing to do, as udev
  if (!st.isBlockDevice() && !st.isCharacterDevice()) return res;
  for (const tag of tags) {
    if (!isValidTag(tag)) continue;
    const dir = join(roots.run, 'static_node-tags', tag);
    const link = join(dir, name.replace(/\//g, '\\x2f'));
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      if (readlinkIfAny(link) !== path) {
        unlinkIfAny(link);
        symlinkSync(path, link);
      }
    } catch (e) {
      log.warn(`static_node "${name}": cannot record tag ${tag}: ${(e as Error).message}`);
    }
  }
  if (uid === undefined && gid === undefined && mode === undefined) return res;
  const m = mode ?? (gid !== undefined ? 0o660 : 0o600);
  try {
    // opened without following a symlink, the node changed only when it still is one
    setNodePermissions(path, { block: st.isBlockDevice() }, { mode: m, uid, gid });
    res.applied = true;
    res.mode = m;
  } catch (e) {
    if (!(e instanceof ConfinementError) && !isSystemError(e)) throw e;
    log.error(`static_node "${name}": cannot apply permissions: ${e.message}`);
  }
  return res;
}
