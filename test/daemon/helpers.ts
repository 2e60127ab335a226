// Shared helpers for the daemon tests: temp roots, a libudev broadcast listener, kernel hotplug helpers.
import type { Uevent } from '../../src/netlink/uevent.js';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { UeventNetlink, GROUP_UDEV } from '../../src/netlink/socket.js';
import { decode } from '../../src/netlink/libudev-format.js';
import { defaultConfig, type Config } from '../../src/config/config.js';

export interface TempRoots {
  base: string;
  dev: string;
  run: string;
  rules: string;
  cleanup(): void;
}

export function tempRoots(prefix = 'dm-daemon-'): TempRoots {
  const base = mkdtempSync(join(tmpdir(), prefix));
  const dirs = { dev: join(base, 'dev'), run: join(base, 'run'), rules: join(base, 'rules.d') };
  for (const d of Object.values(dirs)) execFileSync('mkdir', ['-p', d]);
  return { base, ...dirs, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

export function testConfig(r: TempRoots, over: Partial<Config> = {}): Config {
  return { ...defaultConfig(), sysfs: '/sys', dev: r.dev, run: r.run, rulesDirs: [r.rules], configFile: join(r.base, 'none.toml'), mknod: true, logLevel: 'warn', ...over };
}

export interface Broadcast {
  properties: Map<string, string>;
  senderPort: number;
}

/** Listens on the libudev group and records every decodable broadcast. */
export class BroadcastListener {
  readonly events: Broadcast[] = [];
  #waiters: { pred: (b: Broadcast) => boolean; resolve: (b: Broadcast) => void }[] = [];
  private constructor(private nl: UeventNetlink) {
    nl.raw.on('message', (msg, rinfo) => {
      const d = decode(msg);
      if (d instanceof Error) return;
      const b = { properties: d.properties, senderPort: rinfo.port };
      this.events.push(b);
      this.#waiters = this.#waiters.filter((w) => {
        if (w.pred(b)) {
          w.resolve(b);
          return false;
        }
        return true;
      });
    });
  }
  static async open(): Promise<BroadcastListener> {
    return new BroadcastListener(await UeventNetlink.open({ groups: [GROUP_UDEV], recvBufferSize: 8 << 20 }));
  }
  waitFor(pred: (b: Broadcast) => boolean, timeoutMs = 10_000, what = 'broadcast'): Promise<Broadcast> {
    const hit = this.events.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.#waiters.push({ pred, resolve: (b) => { clearTimeout(t); resolve(b); } });
    });
  }
  /** Forgets what was received so far (device numbers get reused: zram0 may come and go several times). */
  clear(): void {
    this.events.length = 0;
  }
  close(): void {
    this.nl.close();
  }
}

export function zramAdd(): number {
  return Number(readFileSync('/sys/class/zram-control/hot_add', 'utf8').trim());
}

export function zramRemove(n: number): void {
  try {
    if (existsSync(`/sys/block/zram${n}`)) writeFileSync('/sys/class/zram-control/hot_remove', String(n));
  } catch {
    /* already gone or busy */
  }
}

/**
 * Hot-adds a zram disk (recorded in `created`, for clean-up) and waits until the daemon whose broadcasts come
 * from `port` broadcast its "add" and made its node under `devRoot`.
 */
export async function addProcessedZram(listener: BroadcastListener, port: number, devRoot: string, created: number[]): Promise<{ n: number; name: string; node: string; id: string }> {
  listener.clear();
  const n = zramAdd();
  created.push(n);
  const name = `zram${n}`;
  await listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVNAME') === `/dev/${name}` && b.properties.get('ACTION') === 'add', 15_000, `${name} add broadcast`);
  const node = join(devRoot, name);
  await until(() => existsSync(node), 10_000, node);
  return { n, name, node, id: `b${readFileSync(`/sys/block/${name}/dev`, 'utf8').trim()}` };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface RunningDevmaster {
  proc: ChildProcess;
  log: () => string;
  settle(timeoutMs?: number): Promise<void>;
  stop(): Promise<number | null>;
}

/** Starts the devmaster executable (through tsx) on temp roots and waits until it answers ping. */
/**
 * A test file's end: removes the zram disks it made, stops its daemon and its listener, removes its temp roots;
 * returns the daemon's exit code (undefined when none was started), for the caller to assert.
 */
export async function stopAll(zrams: number[], dm: RunningDevmaster | undefined, listener: BroadcastListener | undefined, r: TempRoots | undefined): Promise<number | null | undefined> {
  for (const n of zrams) zramRemove(n);
  const code = await dm?.stop();
  listener?.close();
  r?.cleanup();
  return code;
}

export async function startDevmaster(r: TempRoots, extra: string[] = []): Promise<RunningDevmaster> {
  const cfg = join(r.base, 'config.toml');
  if (!existsSync(cfg)) writeFileSync(cfg, '');
  const args = ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'devmaster.ts'), '--sysfs', '/sys', '--dev', r.dev, '--run', r.run, '--rules-dir', r.rules, '--mknod', '--config', cfg, '--log-level', 'info', ...extra];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      await controlRequest(r.run, { command: 'ping' }, 2000);
      break;
    } catch {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`devmaster did not start:\n${out}`);
      await sleep(100);
    }
  }
  return {
    proc,
    log: () => out,
    async settle(timeoutMs = 15_000) {
      const res = await controlRequest(r.run, { command: 'settle', timeout: timeoutMs }, timeoutMs + 5000);
      if (!res.settled) throw new Error('devmaster did not settle');
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Feeds the daemon a "change" uevent for /dev/null (c1:3, present everywhere) and waits until it is processed. */
export async function injectNullChange(daemon: { inject(ev: Uevent): unknown; queue: { whenIdle(ms: number): Promise<boolean> } }): Promise<void> {
  daemon.inject({
    action: 'change',
    devpath: '/devices/virtual/mem/null',
    subsystem: 'mem',
    seqnum: 1,
    properties: new Map([['ACTION', 'change'], ['DEVPATH', '/devices/virtual/mem/null'], ['SUBSYSTEM', 'mem'], ['SEQNUM', '1'], ['MAJOR', '1'], ['MINOR', '3'], ['DEVNAME', 'null'], ['DEVMODE', '0666']]),
  } as Uevent);
  if (!(await daemon.queue.whenIdle(10_000))) throw new Error('the daemon did not process the injected event');
}
