// NAME= for network interfaces: rename through rtnetlink (RTM_NEWLINK with IFLA_IFNAME).
// The netlink package's rt module is large (~9 MB of generated code and data once loaded): it is imported on
// the first rename only, so a daemon that never renames never pays for it.
import type { RtNetlinkSocket } from 'netlink';

export const IFNAMSIZ = 16;

export class RenameError extends Error {
  constructor(message: string, readonly code: 'EINVAL' | 'EEXIST' | 'EBUSY' | 'ENODEV' | 'EPERM' | 'EIO') {
    super(message);
    this.name = 'RenameError';
  }
}

/** The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
export function checkIfname(name: string): string | undefined {
  if (name.length === 0) return 'the name is empty';
  if (Buffer.byteLength(name) >= IFNAMSIZ) return `'${name}' is longer than ${IFNAMSIZ - 1} bytes`;
  if (name === '.' || name === '..') return `'${name}' is not a valid interface name`;
  if (/[/:\s]/.test(name)) return `'${name}' contains '/', ':' or whitespace`;
  // udev also refuses names that are all digits (they could be mistaken for an ifindex)
  if (/^\d+$/.test(name)) return `'${name}' is all digits`;
  return undefined;
}

let shared: RtNetlinkSocket | undefined;

async function socket(): Promise<RtNetlinkSocket> {
  if (!shared) {
    const { createRtNetlink } = await import('netlink/dist/rt/rt.js');
    shared = createRtNetlink();
  }
  return shared;
}

/** Closes the shared rtnetlink socket (at daemon exit). */
export function closeRename(): void {
  shared?.socket.close();
  shared = undefined;
}

/**
 * Renames interface `ifindex` (currently `oldName`) to `newName`. Throws RenameError with a message naming both
 * names and the reason: invalid name, name taken, interface up/busy, interface gone.
 */
export async function renameInterface(ifindex: number, oldName: string, newName: string): Promise<void> {
  const bad = checkIfname(newName);
  if (bad) throw new RenameError(`cannot rename ${oldName} to '${newName}': ${bad}`, 'EINVAL');
  const rt = await socket();
  try {
    await rt.setLink({ index: ifindex }, { ifname: newName });
  } catch (e) {
    const err = e as { code?: string; errno?: number; message: string };
    // the netlink package reports a kernel NLMSG_ERROR as Error("Request rejected: EEXIST")
    const code = err.code ?? /\b(E[A-Z]+)\b/.exec(err.message)?.[1] ?? '';
    const errno = typeof err.errno === 'number' ? Math.abs(err.errno) : undefined;
    if (code === 'EEXIST' || errno === 17) throw new RenameError(`cannot rename ${oldName} to ${newName}: the name is taken by another interface`, 'EEXIST');
    if (code === 'EBUSY' || errno === 16) throw new RenameError(`cannot rename ${oldName} to ${newName}: the interface is up or busy`, 'EBUSY');
    if (code === 'ENODEV' || errno === 19) throw new RenameError(`cannot rename ${oldName} to ${newName}: interface index ${ifindex} no longer exists`, 'ENODEV');
    if (code === 'EINVAL' || errno === 22) throw new RenameError(`cannot rename ${oldName} to ${newName}: the kernel rejected the name`, 'EINVAL');
    if (code === 'EPERM' || errno === 1) throw new RenameError(`cannot rename ${oldName} to ${newName}: permission denied (CAP_NET_ADMIN needed)`, 'EPERM');
    throw new RenameError(`cannot rename ${oldName} to ${newName}: ${err.message}`, 'EIO');
  }
}
