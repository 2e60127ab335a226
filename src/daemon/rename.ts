// NAME= and alternative names for network interfaces, applied through rtnetlink (src/net/rtnl.ts) the way
// udev 257 does it (rtnl_set_link_name): a requested name that is one of the interface's alternative names is
// dropped from them first (and given back when the rename fails), then the interface is renamed, then the
// alternative names it does not have yet are added, sorted, one by one when the set is refused as taken.
import { addAltnames, closeRtnl, deleteAltnames, getLinkInfo, RtnlError, setLinkName } from '../net/rtnl.js';
import { ifnameValid, IFNAMSIZ } from '../net/ifname.js';
import { checkpoint } from '../util/cancel.js';

export class RenameError extends Error {
  constructor(message: string, readonly code: 'EINVAL' | 'EEXIST' | 'EBUSY' | 'ENODEV' | 'EPERM' | 'EIO') {
    super(message);
    this.name = 'RenameError';
  }
}

/** Why a name cannot be an interface name (udev's ifname_valid), or undefined when it can. */
export function checkIfname(name: string): string | undefined {
  if (name.length === 0) return 'the name is empty';
  if (Buffer.byteLength(name) >= IFNAMSIZ) return `'${name}' is longer than ${IFNAMSIZ - 1} bytes`;
  if (/^\d+$/.test(name)) return `'${name}' is all digits`;
  if (!ifnameValid(name)) return `'${name}' is not a valid interface name (printable ASCII without ':', '/', '%' or white space; not ".", "..", "all", "default")`;
  return undefined;
}

/** Closes the shared rtnetlink socket (at daemon exit). */
export function closeRename(): void {
  closeRtnl();
}

export interface AltnameLog {
  debug(msg: string): void;
  warn(msg: string): void;
}

/** Adds the alternative names the interface lacks (not `except`, not twice), sorted; one by one when refused as taken. */
async function appendAltnames(ifindex: number, names: readonly string[], have: readonly string[], except: string | undefined, log: AltnameLog): Promise<void> {
  const add = [...new Set(names)].filter((n) => n !== except && !have.includes(n) && ifnameValid(n, { alternative: true })).sort();
  if (add.length === 0) return;
  try {
    await addAltnames(ifindex, add);
  } catch (e) {
    if ((e as RtnlError).code !== 'EEXIST') {
      log.warn(`could not set alternative names ${add.join(' ')} of interface ${ifindex}, ignoring: ${(e as Error).message}`);
      return;
    }
    for (const a of add) {
      try {
        await addAltnames(ifindex, [a]);
      } catch (e2) {
        log.warn(`could not assign '${a}' as an alternative name of interface ${ifindex}, ignoring: ${(e2 as RtnlError).code}`);
      }
    }
  }
}

async function currentAltnames(ifindex: number, log: AltnameLog): Promise<string[]> {
  try {
    return (await getLinkInfo(ifindex)).altnames;
  } catch (e) {
    if (!(e instanceof RtnlError)) throw e;
    log.debug(`failed to get alternative names of interface ${ifindex}, ignoring: ${e.message}`);
    return [];
  }
}

/**
 * Renames interface `ifindex` (currently `oldName`) to `newName`, then adds `altnames`. Throws RenameError with a
 * message naming both names and the reason: invalid name, name taken, interface up/busy, interface gone; and the
 * event's cancellation when `signal` was aborted before the interface was touched.
 */
export async function renameInterface(
  ifindex: number,
  oldName: string,
  newName: string,
  altnames: readonly string[] = [],
  log: AltnameLog = { debug() {}, warn() {} },
  signal?: AbortSignal,
): Promise<void> {
  const bad = checkIfname(newName);
  if (bad) throw new RenameError(`cannot rename ${oldName} to '${newName}': ${bad}`, 'EINVAL');
  const have = await currentAltnames(ifindex, log);
  checkpoint(signal);
  const wasAltname = have.includes(newName);
  if (wasAltname) await deleteAltnames(ifindex, [newName]);
  try {
    await setLinkName(ifindex, newName);
  } catch (e) {
    if (wasAltname) await addAltnames(ifindex, [newName]).catch((e2: Error) => log.debug(`failed to restore '${newName}' as an alternative name: ${e2.message}`));
    if (!(e instanceof RtnlError)) throw e;
    const code = e.code;
    if (code === 'EEXIST') throw new RenameError(`cannot rename ${oldName} to ${newName}: the name is taken by another interface`, 'EEXIST');
    if (code === 'EBUSY') throw new RenameError(`cannot rename ${oldName} to ${newName}: the interface is up or busy`, 'EBUSY');
    if (code === 'ENODEV') throw new RenameError(`cannot rename ${oldName} to ${newName}: interface index ${ifindex} no longer exists`, 'ENODEV');
    if (code === 'EINVAL') throw new RenameError(`cannot rename ${oldName} to ${newName}: the kernel rejected the name`, 'EINVAL');
    if (code === 'EPERM') throw new RenameError(`cannot rename ${oldName} to ${newName}: permission denied (CAP_NET_ADMIN needed)`, 'EPERM');
    throw new RenameError(`cannot rename ${oldName} to ${newName}: ${e.message}`, 'EIO');
  }
  await appendAltnames(ifindex, altnames, have.filter((n) => n !== newName), newName, log);
}

/** assign_altnames: adds the alternative names (without the current name) to an interface that is not renamed. */
export async function assignAltnames(ifindex: number, currentName: string, altnames: readonly string[], log: AltnameLog, signal?: AbortSignal): Promise<void> {
  const names = altnames.filter((n) => n !== currentName);
  if (names.length === 0) return;
  const have = await currentAltnames(ifindex, log);
  checkpoint(signal);
  await appendAltnames(ifindex, names, have, undefined, log);
}
