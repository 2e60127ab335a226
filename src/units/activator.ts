// Service-unit activation on hotplug: decides from each device event which units to start or stop, records
// that in the device's database entry (see record.ts) and hands the requests to a background worker that talks
// to the service manager without ever blocking the event queue.
//
// Semantics (docs/UNITS.md):
// - a device tagged "sysmaster" or "systemd" is plugged while it exists (and SYSMASTER_READY / SYSTEMD_READY
//   is not "0");
// - SYSMASTER_WANTS and SYSTEMD_WANTS list units started when the device appears and, on later events, units
//   newly added to the list; units already listed are never started again by repeated events;
// - SYSMASTER_BINDS_TO lists units started like WANTS and stopped when the device goes away (removed, or no
//   longer tagged / ready);
// - requests failing are retried a bounded number of times with exponential backoff, then logged and counted.
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { ExecBackend } from './exec.js';
import { parseUnitList } from './names.js';
import { NoneBackend } from './none.js';
import type { RecordedUnits } from './record.js';
import { SysmasterBackend } from './sysmaster.js';
import { SystemdBackend } from './systemd.js';
import { UnitBackendError, type UnitAction, type UnitBackendImpl, type UnitRequest } from './types.js';

/** What the activator needs to know about a device (src/device/device.ts Device satisfies it). */
export interface UnitDevice {
  readonly devpath: string;
  /** udev database id (b8:0, n3, +pci:...), for logs and {id}. */
  readonly id?: string;
  readonly tags: ReadonlySet<string>;
  /** Tags set by this event's rules; preferred over `tags` when present (tags are sticky, current tags are not). */
  readonly currentTags?: ReadonlySet<string>;
  readonly properties: ReadonlyMap<string, string>;
}

export type UnitActivatorConfig = Pick<Config, 'unitBackend' | 'sysmasterSocket' | 'unitExec'> & Partial<Pick<Config, 'execTimeout'>>;

export interface UnitActivatorOptions {
  /** Attempts per request, the first one included (default 4). */
  maxAttempts?: number;
  /** Delay before the first retry, doubled for each further one (default 250 ms). */
  backoffMs?: number;
  /** Upper bound of the retry delay (default 10 s). */
  maxBackoffMs?: number;
  /** Requests talking to the service manager at once (default 4); requests of one device run in order. */
  concurrency?: number;
  /** Timeout of one sysMaster / systemctl request (default 10 s); the exec backend uses execTimeout. */
  requestTimeoutMs?: number;
  /** Requests queued or waiting for a retry beyond which new ones are dropped (default 4096). */
  maxQueue?: number;
  /** systemctl executable for the systemd backend (default "systemctl" from PATH). */
  systemctl?: string;
  /** sysfs mount point as seen by the service manager, used to instantiate templates (default /sys). */
  sysPrefix?: string;
  /** A ready-made backend (tests); overrides config.unitBackend. */
  backend?: UnitBackendImpl;
}

export interface UnitFailure {
  devpath: string;
  action: UnitAction;
  units: string[];
  error: string;
  attempts: number;
  /** Date.now() when it was given up. */
  at: number;
}

/** Counters for the control socket. */
export interface UnitStats {
  backend: string;
  /** Requests accepted into the queue. */
  requested: number;
  /** Requests the service manager accepted. */
  succeeded: number;
  /** Requests given up (attempts exhausted, or an error retrying cannot fix). */
  failed: number;
  /** Attempts that failed and were retried. */
  retries: number;
  /** Requests refused because the queue was full or the activator closed. */
  dropped: number;
  /** Unit names in device properties that were not valid and were ignored. */
  invalidNames: number;
  /** Requests queued or waiting for a retry. */
  pending: number;
  /** Requests talking to the service manager now. */
  inFlight: number;
  lastFailure?: UnitFailure;
}

interface Job {
  req: UnitRequest;
  attempts: number;
}

const PLUG_TAGS = ['sysmaster', 'systemd'];

function uniq(list: Iterable<string>): string[] {
  return [...new Set(list)];
}

/** Builds the backend chosen by config.unitBackend; throws a clear Error for a bad exec template. */
export function createBackend(config: UnitActivatorConfig, opts: UnitActivatorOptions = {}): UnitBackendImpl {
  const timeout = opts.requestTimeoutMs ?? 10_000;
  switch (config.unitBackend) {
    case 'sysmaster':
      return new SysmasterBackend(config.sysmasterSocket, timeout);
    case 'systemd':
      return new SystemdBackend(timeout, opts.systemctl);
    case 'exec':
      return new ExecBackend(config.unitExec, (config.execTimeout ?? 180) * 1000);
    case 'none':
      return new NoneBackend();
    default:
      throw new Error(`unknown unit backend ${JSON.stringify(config.unitBackend)} (expected sysmaster, systemd, exec or none)`);
  }
}

export class UnitActivator {
  readonly backend: UnitBackendImpl;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly concurrency: number;
  private readonly maxQueue: number;
  private readonly sysPrefix: string;

  private readonly queue: Job[] = [];
  /** Devices with a request in flight or waiting for a retry: their next requests wait. */
  private readonly busy = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private waiting = 0;
  private pumpScheduled = false;
  private closed = false;
  /** Made for the first request run (loading Node's AbortController took about 1 ms of each start). */
  private abort: AbortController | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly counters = { requested: 0, succeeded: 0, failed: 0, retries: 0, dropped: 0, invalidNames: 0 };
  private lastFailure: UnitFailure | undefined;

  constructor(
    config: UnitActivatorConfig,
    private readonly logger: Logger,
    opts: UnitActivatorOptions = {},
  ) {
    this.backend = opts.backend ?? createBackend(config, opts);
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 4);
    this.backoffMs = opts.backoffMs ?? 250;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.maxQueue = opts.maxQueue ?? 4096;
    this.sysPrefix = (opts.sysPrefix ?? '/sys').replace(/\/+$/, '');
  }

  /** Whether the device counts as plugged for the service manager. */
  static isPlugged(dev: UnitDevice, properties?: ReadonlyMap<string, string>): boolean {
    return UnitActivator.#isTagged(dev) && UnitActivator.#isReady(properties ?? dev.properties);
  }

  static #isTagged(dev: UnitDevice): boolean {
    const tags = dev.currentTags ?? dev.tags;
    return PLUG_TAGS.some((t) => tags.has(t));
  }

  static #isReady(properties: ReadonlyMap<string, string>): boolean {
    return properties.get('SYSMASTER_READY') !== '0' && properties.get('SYSTEMD_READY') !== '0';
  }

  private units(dev: UnitDevice, properties: ReadonlyMap<string, string>, key: string): string[] {
    const { units, invalid } = parseUnitList(properties.get(key), this.sysPrefix + dev.devpath);
    for (const bad of invalid) {
      this.counters.invalidNames++;
      this.logger.warn({ devpath: dev.devpath, property: key, unit: bad.word }, `ignoring invalid unit name: ${bad.reason}`);
    }
    return units;
  }

  /**
   * Called by the daemon once per processed event, after the rules ran. `recorded` is the record read from the
   * device's database before this event (readRecord), undefined when there is none. Returns the record to store
   * in the device's database entry for this event (applyRecord), undefined meaning none (delete the keys).
   * Start/stop requests are queued; this never waits for the service manager.
   */
  onEvent(action: string, dev: UnitDevice, recorded: RecordedUnits | undefined): RecordedUnits | undefined {
    const base = { devpath: dev.devpath, id: dev.id };
    // a getter building a new Map on Device: read once, and only for a device with the tag (few have it)
    const props = action !== 'remove' && UnitActivator.#isTagged(dev) ? dev.properties : undefined;
    if (props === undefined || !UnitActivator.#isReady(props)) {
      if (recorded && recorded.bound.length > 0) this.enqueue({ ...base, action: 'stop', units: [...recorded.bound] });
      return undefined;
    }
    const wants = uniq([...this.units(dev, props, 'SYSMASTER_WANTS'), ...this.units(dev, props, 'SYSTEMD_WANTS')]);
    const binds = this.units(dev, props, 'SYSMASTER_BINDS_TO');
    const listed = uniq([...wants, ...binds]);
    // "add" is the device appearing: a record left from an earlier life of the device (its removal was missed)
    // does not count, and units it bound that are no longer listed are stopped.
    const fresh = action === 'add';
    const previous = new Set(fresh ? [] : recorded?.started ?? []);
    const stale = fresh && recorded ? recorded.bound.filter((u) => !binds.includes(u)) : [];
    if (stale.length > 0) this.enqueue({ ...base, action: 'stop', units: stale });
    const toStart = listed.filter((u) => !previous.has(u));
    if (toStart.length > 0) this.enqueue({ ...base, action: 'start', units: toStart });
    const bound = uniq([...(fresh ? [] : recorded?.bound ?? []), ...binds]);
    if (listed.length === 0 && bound.length === 0) return undefined;
    return { started: listed, bound };
  }

  private enqueue(req: UnitRequest): void {
    if (this.backend.name === 'none') return;
    if (this.closed || this.queue.length + this.waiting >= this.maxQueue) {
      this.counters.dropped++;
      this.logger.error(
        { devpath: req.devpath, action: req.action, units: req.units },
        this.closed ? 'unit request dropped: unit activation is shut down' : `unit request dropped: ${this.maxQueue} requests already queued`,
      );
      return;
    }
    this.counters.requested++;
    this.queue.push({ req, attempts: 0 });
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    for (let i = 0; i < this.queue.length && this.inFlight < this.concurrency; ) {
      const job = this.queue[i]!;
      if (this.busy.has(job.req.devpath)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.busy.add(job.req.devpath);
      this.inFlight++;
      void this.execute(job);
    }
    this.checkIdle();
  }

  private async execute(job: Job): Promise<void> {
    const { req } = job;
    job.attempts++;
    let error: Error | undefined;
    try {
      await this.backend.run(req, (this.abort ??= new AbortController()).signal);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    this.inFlight--;
    const ctx = { devpath: req.devpath, id: req.id, action: req.action, units: req.units, backend: this.backend.name };
    if (!error) {
      this.counters.succeeded++;
      this.logger.debug({ ...ctx, attempts: job.attempts }, `${req.action} ${req.units.join(' ')}: done`);
      this.busy.delete(req.devpath);
    } else {
      const retryable = !(error instanceof UnitBackendError) || error.retryable;
      if (retryable && job.attempts < this.maxAttempts && !this.closed) {
        const delay = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (job.attempts - 1));
        this.counters.retries++;
        this.logger.warn(
          { ...ctx, attempt: job.attempts, maxAttempts: this.maxAttempts, err: error.message },
          `${req.action} ${req.units.join(' ')} for ${req.devpath} failed, retrying in ${delay} ms: ${error.message}`,
        );
        this.waiting++;
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          this.waiting--;
          // Back at the head of the queue; the device stays busy until then so its later requests keep order.
          this.busy.delete(req.devpath);
          this.queue.unshift(job);
          this.pump();
        }, delay);
        timer.unref();
        this.retryTimers.add(timer);
      } else {
        this.counters.failed++;
        this.lastFailure = { devpath: req.devpath, action: req.action, units: [...req.units], error: error.message, attempts: job.attempts, at: Date.now() };
        this.logger.error(
          { ...ctx, attempts: job.attempts, err: error.message },
          `${req.action} ${req.units.join(' ')} for ${req.devpath} failed after ${job.attempts} attempt(s): ${error.message}`,
        );
        this.busy.delete(req.devpath);
      }
    }
    this.pump();
  }

  private checkIdle(): void {
    if (this.queue.length === 0 && this.inFlight === 0 && this.waiting === 0 && !this.pumpScheduled) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** Counters for the control socket. */
  stats(): UnitStats {
    return {
      backend: this.backend.name,
      ...this.counters,
      pending: this.queue.length + this.waiting,
      inFlight: this.inFlight,
      ...(this.lastFailure ? { lastFailure: { ...this.lastFailure } } : {}),
    };
  }

  /** Resolves when every queued request has succeeded or been given up (retries included). */
  drain(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  /**
   * Shuts down: waits up to `graceMs` for queued requests, then drops what is left (counted as dropped) and
   * aborts requests in flight.
   */
  async close(graceMs = 0): Promise<void> {
    if (graceMs > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.drain(), new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
      clearTimeout(t);
    }
    this.closed = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.counters.dropped += this.queue.length + this.waiting;
    this.queue.length = 0;
    this.waiting = 0;
    (this.abort ??= new AbortController()).abort();
    this.backend.close?.();
    if (this.inFlight > 0) await this.drain();
    this.checkIdle();
  }
}
