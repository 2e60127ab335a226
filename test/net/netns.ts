// devMaster (and udevd 257) inside a private network and mount namespace, for the tests that rename and configure
// interfaces: nothing they do can reach this machine's own interfaces. The daemon's /sys is a sysfs mounted in the
// namespace (it shows the namespace's interfaces only), uevents of the namespace's interfaces reach only sockets
// opened in it, and interfaces are made with `nsenter -t PID -n ip ...`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/reference.js';
import { spawnInNamespace, sleep, type NamespaceOptions, type NsProcess } from '../helpers/udevd.js';
import { controlRequest } from '../../src/daemon/control.js';

export interface NsDaemon {
  ns: NsProcess;
  pid: number;
  base: string;
  run: string;
  dev: string;
  /** Runs a command in the namespace's network (and mount, unless mount is false) namespace; returns stdout. */
  exec(cmd: string[], mount?: boolean): string;
  /** `ip -j link show` in the namespace: interfaces by name. */
  links(): Map<string, IpLink>;
  stop(): Promise<void>;
}

export interface IpLink {
  ifname: string;
  ifindex: number;
  address: string;
  mtu: number;
  txqlen: number;
  ifalias?: string;
  altnames?: string[];
}

/** Copies every *.rules file of src to dst (80-net-setup-link.rules included: only ever used in a namespace). */
export function copyAllRules(src: string, dst: string, only?: (f: string) => boolean): void {
  mkdirSync(dst, { recursive: true });
  for (const f of readdirSync(src)) if (f.endsWith('.rules') && (!only || only(f))) copyFileSync(join(src, f), join(dst, f));
}

/** Runs a command in the process's network namespace (and its mount namespace, unless mount is false). */
export function nsExec(pid: number, cmd: string[], mount = true): string {
  return execFileSync('nsenter', ['-t', String(pid), '-n', ...(mount ? ['-m'] : []), ...cmd], { encoding: 'utf8' });
}

export function nsLinks(pid: number): Map<string, IpLink> {
  const list = JSON.parse(nsExec(pid, ['ip', '-d', '-j', 'link', 'show'], false)) as IpLink[];
  return new Map(list.map((l) => [l.ifname, l]));
}

export interface StartOptions {
  rules: string;
  networkDir?: string;
  /** Extra devmaster arguments. */
  args?: string[];
  /** Extra namespace options (programs, hwdbBin, ...). */
  ns?: Partial<NamespaceOptions>;
  env?: NodeJS.ProcessEnv;
}

/** Starts the devmaster executable in a fresh network + mount namespace with temp --run/--dev roots. */
export async function startDevmasterNetns(o: StartOptions): Promise<NsDaemon> {
  const base = mkdtempSync(join(tmpdir(), 'dm-netns-'));
  const run = join(base, 'run');
  const dev = join(base, 'dev');
  mkdirSync(run);
  mkdirSync(dev);
  writeFileSync(join(base, 'none.toml'), '');
  const shebang = readFileSync(join(REPO, 'src', 'cli', 'devmaster.ts'), 'utf8').split('\n')[0]!;
  const flags = shebang.replace(/^#!.*?\bnode\b\s*/, '').split(' ').filter(Boolean);
  const args = ['--sysfs', '/sys', '--dev', dev, '--run', run, '--rules-dir', o.rules, '--mknod', '--unit-backend', 'none', '--config', join(base, 'none.toml'), '--log-level', process.env.DM_NET_LOG ?? 'warn'];
  if (o.networkDir) args.push('--network-dir', '/usr/lib/systemd/network');
  args.push(...(o.args ?? []));
  const ns = spawnInNamespace({ dev: 'keep', net: true, networkDir: o.networkDir, ...o.ns }, [process.execPath, ...flags, '--import', 'tsx', join(REPO, 'src', 'cli', 'devmaster.ts'), ...args], o.env ?? process.env, REPO);
  const pid = ns.proc.pid!;
  const d: NsDaemon = {
    ns,
    pid,
    base,
    run,
    dev,
    exec: (cmd, mount) => nsExec(pid, cmd, mount),
    links: () => nsLinks(pid),
    stop: async () => {
      await ns.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    await ns.nsReady();
    for (let i = 0; ; i++) {
      try {
        await controlRequest(run, { command: 'ping' }, 1000);
        return d;
      } catch {
        if (ns.proc.exitCode !== null || ns.proc.signalCode !== null || i > 600) throw new Error(`devmaster did not start (exit ${ns.proc.exitCode ?? ns.proc.signalCode}):\n${ns.output()}`);
        await sleep(50);
      }
    }
  } catch (e) {
    await d.stop();
    throw e;
  }
}

/** Waits until the daemon received `n` more events than `since` and its queue is empty. */
export async function waitProcessed(run: string, since: number, n: number, timeoutMs = 20_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const st = (await controlRequest(run, { command: 'status' }, 2000)) as unknown as { counters: { received: number; processed: number; failed: number }; queue: { size: number } };
    const done = st.counters.processed + st.counters.failed;
    if (st.counters.received >= since + n && st.queue.size === 0 && done >= st.counters.received) return st.counters.received;
    if (Date.now() > end) throw new Error(`timed out waiting for ${n} events (received ${st.counters.received - since}, queue ${st.queue.size})`);
    await sleep(50);
  }
}

export async function received(run: string): Promise<number> {
  const st = (await controlRequest(run, { command: 'status' }, 2000)) as unknown as { counters: { received: number } };
  return st.counters.received;
}

/** A temp directory of .link files (name → text). */
export function linkDir(files: Record<string, string>): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'dm-link-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
