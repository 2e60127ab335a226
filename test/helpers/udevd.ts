// Running Debian's systemd-udevd (unpacked, never installed) safely next to devMaster, for the daemon bench and
// the differential test (test/compat).
//
// Safety: udevd runs ONLY inside a private mount namespace (unshare --mount --propagation private) where
//   - /run is a private directory (a tmpfs, or a bind of a temp directory so the caller can read the database),
//   - /dev is a private directory (given by the caller, optionally a tmpfs) holding copies of this machine's device
//     nodes (same type and major:minor) or nodes made like a fresh devtmpfs (devtmpfsNodes),
//   - /usr/lib/udev (= /lib/udev here) is a tmpfs holding only what the caller gives: the rules copy (without
//     80-net-setup-link.rules and 73-special-net-names.rules, the only files with NAME=, so it can never rename
//     this machine's interfaces), optionally the reference programs (ata_id, scsi_id, ...) and a hwdb.bin,
//   - /etc/udev and systemd's hwdb directories, when they exist, are hidden by empty tmpfs mounts.
// Nothing it writes can reach the real /dev, /run/udev or /etc. The process group is killed afterwards.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, copyFileSync, mkdirSync, symlinkSync, existsSync, chmodSync, chownSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { mknod } from '../../src/sys/file.js';
import { referenceUdev, referenceUdev257 } from './reference.js';
import { UeventNetlink, GROUP_KERNEL, GROUP_UDEV, NETLINK_KOBJECT_UEVENT } from '../../src/netlink/socket.js';
import { AF_NETLINK, bindNetlink, MSG_DONTWAIT, recvWithCredentials, setsockoptInt, SO_PASSCRED, SO_RCVBUFFORCE, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, SOL_SOCKET, socket } from '../../src/sys/socket.js';
import { close } from '../../src/sys/file.js';
import { watchReadable, type ReadableWatch } from '../../src/sys/poll.js';
import { parseUevent } from '../../src/netlink/uevent.js';
import { decode } from '../../src/netlink/libudev-format.js';

/** The only Debian rules files with NAME= (interface renames): never given to a daemon under test. */
export const EXCLUDED_RULES: readonly string[] = ['80-net-setup-link.rules', '73-special-net-names.rules'];

/** Programs of the unpacked package (lib/udev/*) that Debian's rules call by relative name. */
export const REFERENCE_PROGRAMS: readonly string[] = ['ata_id', 'cdrom_id', 'dmi_memory_id', 'fido_id', 'mtd_probe', 'scsi_id', 'v4l_id'];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Copies every *.rules file of src to dst except EXCLUDED_RULES; returns how many. */
export function rulesCopy(src: string, dst: string): number {
  mkdirSync(dst, { recursive: true });
  let n = 0;
  for (const f of readdirSync(src)) {
    if (!f.endsWith('.rules') || EXCLUDED_RULES.includes(f)) continue;
    copyFileSync(join(src, f), join(dst, f));
    n++;
  }
  return n;
}

/**
 * Fills `target` with the nodes a freshly mounted devtmpfs would hold for these devices: /dev/<DEVNAME> with the
 * kernel's DEVMODE (else 0600), DEVUID and DEVGID (else root), no umask. Unlike copies of this machine's live /dev,
 * whose nodes carry whatever was done to them since boot, this start state is the same on every run.
 * Returns how many nodes were made.
 */
export function devtmpfsNodes(target: string, syspaths: readonly string[]): number {
  let n = 0;
  for (const sp of syspaths) {
    let props: Map<string, string>;
    try {
      props = new Map(readFileSync(join(sp, 'uevent'), 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
    } catch {
      continue;
    }
    const name = props.get('DEVNAME');
    const major = Number(props.get('MAJOR'));
    const minor = Number(props.get('MINOR'));
    if (!name || !Number.isInteger(major) || !Number.isInteger(minor) || props.get('MAJOR') === undefined) continue;
    let subsystem = '';
    try {
      subsystem = basename(readlinkSync(join(sp, 'subsystem')));
    } catch {
      /* none */
    }
    const path = join(target, name);
    const mode = props.has('DEVMODE') ? parseInt(props.get('DEVMODE')!, 8) : 0o600;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      mknod(path, subsystem === 'block' ? 'b' : 'c', mode, major, minor);
      chmodSync(path, mode);
      chownSync(path, Number(props.get('DEVUID') ?? 0), Number(props.get('DEVGID') ?? 0));
      n++;
    } catch {
      /* a device that vanished or a duplicate name */
    }
  }
  return n;
}

// ------------------------------------------------------------------ process trees

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The process and all its descendants. */
export function treeOf(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...childrenOf(all[i]!));
  return all;
}

/** Netlink ports (nl_pid) of every NETLINK_KOBJECT_UEVENT socket the process tree holds. */
export function ueventPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const p of treeOf(pid)) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        /* closed */
      }
    }
  }
  const ports = new Set<number>();
  // the process's own view: in another network namespace its sockets are listed there only
  let table = '';
  try {
    table = readFileSync(`/proc/${pid}/net/netlink`, 'utf8');
  } catch {
    return ports;
  }
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[1] !== '15') continue;
    if (inodes.has(f[f.length - 1]!)) ports.add(Number(f[2]) >>> 0);
  }
  return ports;
}

/** SIGTERM to the process group, SIGKILL after 5 s (or at once when the group outlived it). */
export async function stopTree(proc: ChildProcess): Promise<void> {
  const alive = proc.exitCode === null && proc.signalCode === null;
  if (alive) {
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    try {
      process.kill(-proc.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([exited, sleep(5000)]);
  }
  try {
    process.kill(-proc.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
}

export function kernelSeqnum(): number {
  return Number(readFileSync('/sys/kernel/uevent_seqnum', 'utf8').trim());
}

// ------------------------------------------------------------------ the namespace

export interface NamespaceOptions {
  /** Directory with the rules files to install as the namespace's /usr/lib/udev/rules.d (copied). */
  rules?: string;
  /**
   * Bind-mount `rules` there instead of copying it: each file keeps its identity (inode, times) from one namespace to
   * the next, as a machine's rules files do from one boot to the next (what devMaster's kept rules cache goes by).
   */
  bindRules?: boolean;
  /** Host directory bind-mounted over /run (else a tmpfs). */
  run?: string;
  /**
   * Host directory bind-mounted over /dev (after this machine's device nodes were copied into it, see copyNodes),
   * or 'keep' for the real /dev (only for a daemon that writes its own --dev root: devMaster).
   */
  dev: string | 'keep';
  /** Mount a tmpfs on the dev directory first (inside the namespace: the nodes never reach the disk). */
  devTmpfs?: boolean;
  /** Copy this machine's block and char nodes into the private /dev (default true). */
  copyNodes?: boolean;
  /** Copy the reference programs (REFERENCE_PROGRAMS) into the namespace's /usr/lib/udev. */
  programs?: boolean;
  /** hwdb.bin installed as the namespace's /usr/lib/udev/hwdb.bin. */
  hwdbBin?: string;
  /** Whose programs (REFERENCE_PROGRAMS) `programs` copies: Debian 12's udev 252 (default) or Debian 13's 257. */
  reference?: 252 | 257;
  /**
   * A private network namespace too (unshare --net, sysfs remounted so /sys/class/net shows its interfaces only):
   * the only place where 80-net-setup-link.rules and .link files may be used.
   */
  net?: boolean;
  /** Directory whose .link files (and *.link.d drop-in directories) become the namespace's /usr/lib/systemd/network. */
  networkDir?: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell script that sets a private mount namespace up as described at the top of this file. */
export function namespaceScript(o: NamespaceOptions): string {
  const ref = referenceUdev();
  const lines = ['set -e', 'mount --make-rprivate /'];
  lines.push(o.run ? `mount --bind ${q(o.run)} /run` : 'mount -t tmpfs tmpfs /run');
  // hide every other udev configuration of this machine
  if (o.net) lines.push('mount -t sysfs sysfs /sys', 'ip link set lo up');
  for (const d of ['/etc/udev', '/etc/systemd/hwdb', '/usr/lib/systemd/hwdb', '/usr/local/lib/udev', '/etc/systemd/network', '/usr/local/lib/systemd/network']) lines.push(`if [ -d ${d} ]; then mount -t tmpfs tmpfs ${d}; fi`);
  // .link files: only the caller's (none unless given)
  lines.push('mkdir -p /usr/lib/systemd/network', 'mount -t tmpfs tmpfs /usr/lib/systemd/network', 'if [ -d /lib/systemd/network ] && ! [ /lib/systemd/network -ef /usr/lib/systemd/network ]; then mount -t tmpfs tmpfs /lib/systemd/network; fi');
  if (o.networkDir) lines.push(`cp -r ${q(o.networkDir)}/. /usr/lib/systemd/network/`);
  lines.push('mkdir -p /usr/lib/udev', 'mount -t tmpfs tmpfs /usr/lib/udev', 'if [ -d /lib/udev ] && ! [ /lib/udev -ef /usr/lib/udev ]; then mount -t tmpfs tmpfs /lib/udev; fi');
  lines.push('mkdir -p /usr/lib/udev/rules.d');
  if (o.rules) lines.push(o.bindRules ? `mount --bind ${q(o.rules)} /usr/lib/udev/rules.d` : `cp ${q(o.rules)}/*.rules /usr/lib/udev/rules.d/`);
  if (o.programs && o.reference === 257) {
    for (const p of REFERENCE_PROGRAMS) lines.push(`cp ${q(join(referenceUdev257().helpers, p))} /usr/lib/udev/`);
  } else if (o.programs) {
    const libUdev = join(ref.root, existsSync(join(ref.root, 'lib', 'udev', 'ata_id')) ? 'lib/udev' : 'usr/lib/udev');
    for (const p of REFERENCE_PROGRAMS) lines.push(`cp -p ${q(join(libUdev, p))} /usr/lib/udev/`);
  }
  if (o.hwdbBin) lines.push(`cp ${q(o.hwdbBin)} /usr/lib/udev/hwdb.bin`);
  if (o.dev !== 'keep') {
    if (o.devTmpfs) lines.push(`mount -t tmpfs tmpfs ${q(o.dev)}`);
    if (o.copyNodes ?? true) lines.push(`( cd /dev && find . -xdev \\( -type b -o -type c \\) -print0 | xargs -0 cp -a --parents -t ${q(o.dev)} 2>/dev/null ) || true`);
    lines.push(`mount --bind ${q(o.dev)} /dev`);
  }
  lines.push('echo ready-ns');
  return lines.join('\n') + '\n';
}

export interface NsProcess {
  proc: ChildProcess;
  output: () => string;
  /** Resolves once the namespace is set up (the script printed ready-ns), rejects when the process exits first. */
  nsReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Runs `command` (exec'd) inside a private mount namespace set up by namespaceScript(o). */
export function spawnInNamespace(o: NamespaceOptions, command: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): NsProcess {
  const script = namespaceScript(o) + `exec ${command.map(q).join(' ')}\n`;
  const proc = spawn('unshare', [...(o.net ? ['--net'] : []), '--mount', '--propagation', 'private', 'sh', '-c', script], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return {
    proc,
    output: () => out,
    async nsReady(timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      while (!out.includes('ready-ns')) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`namespace set-up failed (exit ${proc.exitCode ?? proc.signalCode}):\n${out}`);
        if (Date.now() > end) throw new Error(`namespace set-up timed out:\n${out}`);
        await sleep(20);
      }
    },
    stop: () => stopTree(proc),
  };
}

/**
 * Starts Debian's systemd-udevd in its namespace and waits until its control socket answers: Debian 12's 252, or
 * with o.reference 257 Debian 13's (through its wrapper, with its own C library).
 */
export async function startUdevd(o: NamespaceOptions, work: string, env: NodeJS.ProcessEnv = { ...process.env, SYSTEMD_LOG_LEVEL: 'err' }): Promise<NsProcess> {
  const ref = o.reference === 257 ? referenceUdev257() : referenceUdev();
  let exe: string;
  if (o.reference === 257) exe = referenceUdev257().systemdUdevd;
  else {
    exe = join(work, 'systemd-udevd');
    if (!existsSync(exe)) symlinkSync(ref.udevadm, exe); // udevadm is multi-call: run as systemd-udevd it is the daemon
  }
  const p = spawnInNamespace(o, [exe], env);
  try {
    await p.nsReady();
    for (let i = 0; ; i++) {
      if (ueventPorts(p.proc.pid!).size >= 1) {
        try {
          execFileSync('nsenter', ['-t', String(p.proc.pid), '-m', ...(o.net ? ['-n'] : []), ref.udevadm, 'control', '--ping', '-t', '1'], { stdio: 'ignore' });
          return p;
        } catch {
          /* not yet */
        }
      }
      if (p.proc.exitCode !== null) throw new Error(`udevd exited (${p.proc.exitCode}):\n${p.output()}`);
      if (i > 600) throw new Error(`udevd did not start:\n${p.output()}`);
      await sleep(50);
    }
  } catch (e) {
    await p.stop();
    throw e;
  }
}

// ------------------------------------------------------------------ kernel events and broadcasts

export interface KernelEvent {
  seqnum: number;
  action: string;
  devpath: string;
  properties: Map<string, string>;
  t: number;
}

/** The udev database id of an event's device (b8:0, c1:3, n2, +pci:0000:00:01.0), from the event alone. */
export function eventDeviceId(e: KernelEvent): string {
  const p = e.properties;
  const sub = p.get('SUBSYSTEM') ?? '';
  if (p.has('MAJOR') && p.has('MINOR')) return `${sub === 'block' ? 'b' : 'c'}${p.get('MAJOR')}:${p.get('MINOR')}`;
  if (sub === 'net' && p.has('IFINDEX')) return `n${p.get('IFINDEX')}`;
  return `+${sub}:${basename(e.devpath)}`;
}

/** The parent of a process, or undefined when it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined; // gone
  }
}

/** Whether `pid` is `root` or one of its descendants (walking up the parents, now). */
function descendsFrom(pid: number, root: number): boolean {
  for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 64; p = parentOf(p), depth++) if (p === root) return true;
  return false;
}

/**
 * Listens on the kernel group and on the libudev group; attributes each broadcast to the followed process tree
 * that sent it: the libudev socket asks for the sender's credentials (SO_PASSCRED), and the sending process is
 * looked up among the tree's processes as the message is read. udevd 257's workers broadcast and may be gone a
 * moment later, and other daemons on this machine broadcast the same seqnums, so neither the sockets a tree holds
 * later nor the absence of a sender elsewhere would tell.
 */
export class EventTracker {
  readonly kernel = new Map<number, KernelEvent>();
  /** name -> seqnum -> time of its first broadcast */
  readonly broadcasts = new Map<string, Map<number, number>>();
  #trees = new Map<string, number>();
  #k!: UeventNetlink;
  #u = -1;
  #uWatch: ReadableWatch | undefined;

  static async open(): Promise<EventTracker> {
    const t = new EventTracker();
    t.#k = await UeventNetlink.open({ groups: [GROUP_KERNEL], recvBufferSize: 64 << 20 });
    t.#u = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    setsockoptInt(t.#u, SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20);
    setsockoptInt(t.#u, SOL_SOCKET, SO_PASSCRED, 1);
    bindNetlink(t.#u, 1 << (GROUP_UDEV - 1));
    const buf = Buffer.alloc(1 << 17);
    t.#uWatch = watchReadable(t.#u, () => {
      for (;;) {
        const r = recvWithCredentials(t.#u, buf, MSG_DONTWAIT);
        if (typeof r === 'number') return; // drained (EAGAIN)
        const d = decode(buf.subarray(0, r.n));
        if (d instanceof Error || !r.cred) continue;
        t.#attribute(r.cred.pid, d.seqnum);
      }
    });
    t.#k.raw.on('message', (msg, rinfo) => {
      if (rinfo.port !== 0) return;
      const ev = parseUevent(msg);
      if (ev instanceof Error) return;
      t.kernel.set(ev.seqnum, { seqnum: ev.seqnum, action: ev.action, devpath: ev.devpath, properties: ev.properties, t: performance.now() });
    });
    return t;
  }

  follow(name: string, pid: number): void {
    this.#trees.set(name, pid);
    this.broadcasts.set(name, new Map());
  }

  #attribute(sender: number, seqnum: number): void {
    for (const [name, root] of this.#trees) {
      if (!descendsFrom(sender, root)) continue;
      const b = this.broadcasts.get(name)!;
      if (!b.has(seqnum)) b.set(seqnum, performance.now());
    }
  }

  /** Kernel events with from < seqnum <= to that reached us. */
  window(from: number, to: number): KernelEvent[] {
    return [...this.kernel.values()].filter((e) => e.seqnum > from && e.seqnum <= to).sort((a, b) => a.seqnum - b.seqnum);
  }

  /**
   * Waits until every kernel event in (from, to] that reaches us was broadcast by each followed tree (events of
   * other network namespaces never reach us: the window closes 1 s after the last new one). Returns, per name,
   * the seqnums still missing at the timeout (empty lists: complete).
   */
  async waitBroadcast(from: number, to: number, timeoutMs: number): Promise<Map<string, number[]>> {
    const end = Date.now() + timeoutMs;
    let lastCount = -1;
    let lastChange = Date.now();
    for (;;) {
      await sleep(50);
      const ours = this.window(from, to);
      if (ours.length !== lastCount) {
        lastCount = ours.length;
        lastChange = Date.now();
      }
      const allKernel = ours.length === to - from || Date.now() - lastChange > 1000;
      const missing = new Map<string, number[]>();
      for (const name of this.#trees.keys()) {
        const b = this.broadcasts.get(name)!;
        missing.set(name, ours.filter((e) => !b.has(e.seqnum)).map((e) => e.seqnum));
      }
      const done = [...missing.values()].every((m) => m.length === 0);
      if ((allKernel && done) || Date.now() > end) return missing;
    }
  }

  close(): void {
    this.#k.close();
    this.#uWatch?.close();
    if (this.#u >= 0) close(this.#u);
    this.#u = -1;
  }
}
