// Shared helpers for the netlink tests: real zram devices, child processes whose output we collect.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/reference.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` until it returns a truthy value or the timeout expires (then throws with `what`). */
export async function waitFor<T>(pred: () => T | undefined | false | null, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Hot-adds a zram device; returns its number. */
export function zramAdd(): number {
  return Number(readFileSync('/sys/class/zram-control/hot_add', 'utf8').trim());
}

export function zramRemove(id: number): void {
  if (existsSync(`/sys/block/zram${id}`)) writeFileSync('/sys/class/zram-control/hot_remove', String(id));
}

export interface Collected {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop: () => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns a process and accumulates its output. */
export function collect(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Collected {
  const proc = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** Runs `devctl ARGS` from the TypeScript sources. */
export function devctl(args: string[]): Collected {
  return collect(process.execPath, ['--import', 'tsx', join(REPO, 'src', 'cli', 'devctl.ts'), ...args]);
}

/**
 * Waits until process `pid` has NETLINK_KOBJECT_UEVENT sockets joined to all `groups` (read from
 * /proc/net/netlink; ports made by the `netlink` package carry the pid in their low 22 bits).
 */
export async function waitForMembership(pid: number, groups: number[], timeoutMs = 15_000): Promise<void> {
  await waitFor(() => {
    let mask = 0;
    for (const line of readFileSync('/proc/net/netlink', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[1] !== '15') continue;
      if ((Number(f[2]) & 0x3fffff) === (pid & 0x3fffff)) mask |= parseInt(f[3]!, 16);
    }
    return groups.every((g) => mask & (1 << (g - 1)));
  }, `netlink membership of pid ${pid} in groups ${groups.join(',')}`, timeoutMs);
}

/** Splits udevadm-style monitor output into event blocks ("LINE\nKEY=V\n...") keyed by their first line. */
export function eventBlocks(text: string): string[] {
  const blocks: string[] = [];
  let cur: string[] | undefined;
  for (const line of text.split('\n')) {
    if (/^(KERNEL|UDEV)\s*\[/.test(line)) {
      if (cur) blocks.push(cur.join('\n'));
      cur = [line];
    } else if (cur && line !== '') cur.push(line);
    else if (cur && line === '') {
      blocks.push(cur.join('\n'));
      cur = undefined;
    }
  }
  if (cur) blocks.push(cur.join('\n'));
  return blocks;
}

/** Replaces "[123.456789]" timestamps so lines can be compared. */
export function stripTimestamps(s: string): string {
  return s.replace(/\[\d+\.\d{6}\]/g, '[T]');
}

/** The "[sec.usec]" timestamps of a block, in microseconds. */
export function timestampOf(block: string): number {
  const m = /\[(\d+)\.(\d{6})\]/.exec(block);
  if (!m) throw new Error(`no timestamp in ${block}`);
  return Number(m[1]) * 1e6 + Number(m[2]);
}
