// devctl migrate: who runs and who holds udev's sockets, from /proc (injectable): udevd processes by name, the
// processes holding a socket bound at <run>/control (udevadm's control socket; systemd's socket unit holds it
// too), and those receiving kernel uevents (NETLINK_KOBJECT_UEVENT, multicast group 1).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tryOr } from '../../util/fs.js';

export interface ProcessRef {
  pid: number;
  comm: string;
}

export interface SocketHolders {
  /** Processes named like udevd (systemd-udevd, udevd, and 257's "(udev-worker)"). */
  udevd: ProcessRef[];
  /** Listening sockets bound at the control path, and who holds each. */
  control: { path: string; holders: ProcessRef[] }[];
  /** Holders of NETLINK_KOBJECT_UEVENT sockets in the kernel's group 1. */
  kernelListeners: ProcessRef[];
}

const UDEVD_NAMES = new Set(['systemd-udevd', 'udevd', '(udev-worker)']);

/** The process's name; '?' when it is gone meanwhile. */
function comm(proc: string, pid: number): string {
  return tryOr(() => readFileSync(join(proc, String(pid), 'comm'), 'utf8').trim(), '?');
}

function pids(proc: string): number[] {
  return readdirSync(proc)
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** socket inode -> processes holding a descriptor of it. */
function socketOwners(proc: string, wanted: Set<string>): Map<string, ProcessRef[]> {
  const out = new Map<string, ProcessRef[]>();
  if (wanted.size === 0) return out;
  for (const pid of pids(proc)) {
    // a process or descriptor gone meanwhile, or not ours to read, holds nothing
    const fds = tryOr(() => readdirSync(join(proc, String(pid), 'fd')), []);
    const seen = new Set<string>();
    for (const fd of fds) {
      const target = tryOr(() => readlinkSync(join(proc, String(pid), 'fd', fd)), undefined);
      if (target === undefined) continue;
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m || !wanted.has(m[1]!) || seen.has(m[1]!)) continue;
      seen.add(m[1]!);
      out.set(m[1]!, [...(out.get(m[1]!) ?? []), { pid, comm: comm(proc, pid) }]);
    }
  }
  return out;
}

const SO_ACCEPTCON = 0x10000;

/** Looks at the processes and sockets of the system whose /proc is `proc`. */
export function findHolders(proc: string, controlPath: string): SocketHolders {
  const udevd = pids(proc)
    .map((pid) => ({ pid, comm: comm(proc, pid) }))
    .filter((p) => UDEVD_NAMES.has(p.comm));
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path
  const controlInodes = new Set<string>();
  for (const line of readFileSync(join(proc, 'net', 'unix'), 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f.slice(7).join(' ') === controlPath && parseInt(f[3]!, 16) & SO_ACCEPTCON) controlInodes.add(f[6]!);
  }
  // /proc/net/netlink: sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  const kernelInodes = new Set<string>();
  for (const line of readFileSync(join(proc, 'net', 'netlink'), 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && f[1] === '15' && parseInt(f[3]!, 16) & 1) kernelInodes.add(f[9]!);
  }
  const owners = socketOwners(proc, new Set([...controlInodes, ...kernelInodes]));
  const uniq = (refs: ProcessRef[]) => [...new Map(refs.map((r) => [r.pid, r])).values()].sort((a, b) => a.pid - b.pid);
  return {
    udevd,
    control: controlInodes.size ? [{ path: controlPath, holders: uniq([...controlInodes].flatMap((i) => owners.get(i) ?? [])) }] : [],
    kernelListeners: uniq([...kernelInodes].flatMap((i) => owners.get(i) ?? [])),
  };
}
