// Drives manager.py (a one-service service manager: socket units, $LISTEN_FDS, $NOTIFY_SOCKET, the file
// descriptor store) from a test, and runs the devmaster executable under it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, type TempRoots } from '../daemon/helpers.js';

export interface ManagerEvent {
  event: 'ready' | 'listening' | 'started' | 'exited' | 'notify' | 'store';
  [key: string]: unknown;
}

export interface Notification extends ManagerEvent {
  event: 'notify';
  /** CLOCK_MONOTONIC when received, microseconds. */
  usec: number;
  pid: number | null;
  fields: Record<string, string>;
  fds: { family?: number; type?: number; proto?: number; inode: number; error?: string }[];
}

export const AF_UNIX = 1;
export const AF_NETLINK = 16;
export const SOCK_RAW = 3;

export class Manager {
  readonly events: ManagerEvent[] = [];
  readonly proc: ChildProcess;
  #waiters: { pred: (e: ManagerEvent) => boolean; resolve: (e: ManagerEvent) => void }[] = [];
  #stderr = '';

  private constructor(readonly notifySocket: string) {
    this.proc = spawn('/usr/bin/python3', [join(REPO_ROOT, 'test', 'service', 'manager.py'), notifySocket], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_ROOT });
    let buf = '';
    this.proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as ManagerEvent;
        this.events.push(e);
        this.#waiters = this.#waiters.filter((w) => (w.pred(e) ? (w.resolve(e), false) : true));
      }
    });
    this.proc.stderr!.on('data', (c: Buffer) => (this.#stderr += c.toString()));
  }

  /** Starts manager.py with its notification socket at `notifySocket` (a path, or "@name"). */
  static async open(notifySocket: string): Promise<Manager> {
    const m = new Manager(notifySocket);
    await m.waitFor((e) => e.event === 'ready', 10_000, 'manager.py ready');
    return m;
  }

  get stderr(): string {
    return this.#stderr;
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.stdin!.write(JSON.stringify(cmd) + '\n');
  }

  /** The first event (already received or to come) that matches. */
  waitFor(pred: (e: ManagerEvent) => boolean, timeoutMs = 20_000, what = 'manager event', from = 0): Promise<ManagerEvent> {
    const hit = this.events.slice(from).find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events.slice(-8))}\n${this.#stderr}`)), timeoutMs);
      this.#waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
    });
  }

  /** The notifications received so far (from index `from` of the event list). */
  notifications(from = 0): Notification[] {
    return this.events.slice(from).filter((e): e is Notification => e.event === 'notify');
  }

  waitNotify(pred: (n: Notification) => boolean, timeoutMs = 20_000, what = 'notification', from = 0): Promise<Notification> {
    return this.waitFor((e) => e.event === 'notify' && pred(e as Notification), timeoutMs, what, from) as Promise<Notification>;
  }

  async listenNetlink(name: string): Promise<number> {
    const mark = this.events.length;
    this.send({ cmd: 'listen-netlink', name });
    return (await this.waitFor((e) => e.event === 'listening' && e.name === name, 10_000, `${name} listening`, mark)).inode as number;
  }

  async listenUnix(name: string, path: string, type: 'seqpacket' | 'stream' | 'dgram'): Promise<number> {
    const mark = this.events.length;
    this.send({ cmd: 'listen-unix', name, path, type });
    return (await this.waitFor((e) => e.event === 'listening' && e.name === name, 10_000, `${name} listening`, mark)).inode as number;
  }

  /** Runs the devmaster executable (through tsx) on the test's roots under this manager; returns its pid. */
  async startDevmaster(r: TempRoots, opts: { extra?: string[]; watchdogUsec?: number; noFdnames?: boolean; env?: Record<string, string> } = {}): Promise<{ pid: number; fds: string[]; mark: number }> {
    const cfg = join(r.base, 'config.toml');
    if (!existsSync(cfg)) writeFileSync(cfg, '');
    const argv = [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'devmaster.ts'), '--sysfs', '/sys', '--dev', r.dev, '--run', r.run, '--rules-dir', r.rules, '--mknod', '--config', cfg, '--log-level', 'info', ...(opts.extra ?? [])];
    const mark = this.events.length;
    this.send({ cmd: 'start', argv, cwd: REPO_ROOT, watchdog_usec: opts.watchdogUsec, no_fdnames: opts.noFdnames, env: opts.env ?? {} });
    const e = await this.waitFor((x) => x.event === 'started', 10_000, 'service started', mark);
    return { pid: e.pid as number, fds: e.fds as string[], mark };
  }

  /** SIGTERM to the service; resolves with its exit event. */
  async stop(): Promise<ManagerEvent> {
    const mark = this.events.length;
    this.send({ cmd: 'stop' });
    return this.waitFor((e) => e.event === 'exited', 60_000, 'service exit', mark);
  }

  async store(): Promise<{ name: string; inode: number; family?: number; proto?: number }[]> {
    const mark = this.events.length;
    this.send({ cmd: 'store' });
    return (await this.waitFor((e) => e.event === 'store', 10_000, 'store listing', mark)).fds as { name: string; inode: number }[];
  }

  async quit(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.send({ cmd: 'quit' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(t);
  }
}
