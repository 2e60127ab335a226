// The devMaster daemon: kernel uevents → ordered queue → rules → apply → libudev broadcast.
//
//   const d = await Daemon.start({ config });   // ready = listening (kernel socket + control socket)
//   await d.stopped;                            // resolves after `exit`, SIGTERM (via the CLI) or d.stop()
//
// Per event (worker): Device.fromUevent → processEvent (rules + apply: node, links, db, tags; NAME= renames the
// interface and hooks.afterRules records what the units layer started, both before the database is written) →
// RUN programs → OPTIONS+="watch" → broadcast on the udev netlink group.
import { mkdirSync, readFileSync, realpathSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { devPath } from '../device/roots.js';
import { isNodeOf, type EventResult } from '../event/process.js';
import { constants as osConstants, cpus } from 'node:os';
import { join } from 'node:path';
import { log as rootLog, setLogLevel, normalizeLevel, preloadLogger, type Logger } from '../log.js';
import { loadConfigFile, type Config } from '../config/config.js';
import { rulesDirs } from '../config/rules-path.js';
import { Device } from '../device/device.js';
import { findDevice } from '../device/find.js';
import type { Roots } from '../device/roots.js';
import { UeventSocket } from '../netlink/kernel-socket.js';
import { Broadcaster } from '../netlink/broadcaster.js';
import type { Uevent } from '../netlink/uevent.js';
import { EventQueue, type QueueItem, type Retry } from './queue.js';
import { LOCK_RETRY_MS, LOCK_TIMEOUT_MS, lockWholeDisk, unlockWholeDisk } from './disk-lock.js';
import { errnoName } from '../sys/errno.js';
import { fileStamp, readFileWithMode } from '../sys/file.js';
import { useLibcReads } from '../sys/stamped.js';
import { DirChanges } from '../sys/dir-changes.js';
import { unwatchRecords, watchRecords } from '../device/db.js';
import { unwatchDevnumLinks, watchDevnumLinks } from '../event/links.js';
import { readRunState, Resyncer, resyncReason, savePending, takePending, writeRunState } from './resync.js';
import { ControlError, controlSocketPath, startControlServer, type ControlServer, type ControlHandler, type StatsRequest, type TestRequest } from './control.js';
import { lookupGroup, parseId } from '../sys/users.js';
import { startUdevCtrlServer, type UdevCtrlServer } from './udev-ctrl.js';
import { impactGuard, RulesManager, sameList } from './reload.js';
import type { RuleSet } from '../rules/load.js';
import type { CompiledFile } from '../rules/compile.js';
import { loadEngine, type Engine, type EventContext, type EventOutcome } from './engine.js';
import { keptRulesCachePath, rulesCachePath } from '../rules/cache.js';
import { assignAltnames, renameInterface, closeRename, RenameError } from './rename.js';
import type { Builtin } from '../builtins/types.js';
import { exitBuiltins, initBuiltins, reloadBuiltins } from '../builtins/registry.js';
import type { DbRecord } from '../device/db.js';
import { listDevices, triggerAll, kernelSeqnum } from './coldplug.js';
import { HeapKeeper } from './memory.js';
import { checkRehearsalRoots, rehearsalEvents } from './rehearsal.js';
import { warmUp, type WarmUpResult } from './warm-up.js';
import { EventDeadlines } from './deadlines.js';
import { DeviceWatcher } from './watch.js';
import type { Notifier } from './notify.js';
import type { ListenFds } from './listen-fds.js';
import { SORT_KEYS, StatsRecorder, type EventCostImpl, type SortKey } from '../stats/recorder.js';
import { renderMetrics, TOP_RULES, type MetricsFormat, type StatusView } from '../export/metrics.js';
import { MetricsFile } from '../export/textfile.js';
import { FeatureExport } from '../export/nfd.js';
import { rmdirIfEmpty, tryOr } from '../util/fs.js';
import { checkpoint, EventCancelled } from '../util/cancel.js';
import { killLeftoverGroups, preloadChildProcess } from '../util/spawn.js';
import { nowMs } from '../util/clock.js';

export interface DaemonHooks {
  /**
   * Called during processEvent, after the rules ran and before the database is written (on remove: after the
   * rules, the record already deleted). What it sets in device.dbProperties is stored and broadcast: the
   * units layer records what it started here (see src/event/process.ts EventContext.afterRules).
   */
  afterRules?: (device: Device, dbOld: DbRecord | undefined) => void;
  /** Extra sections for the control socket's status reply (e.g. `units: activator.stats()`). */
  status?: () => Record<string, unknown>;
}

export interface DaemonOptions {
  config: Config;
  logger?: Logger;
  hooks?: DaemonHooks;
  /** Watch rules directories and the config file for changes (default true). */
  watch?: boolean;
  /** Listen to kernel uevents and broadcast (default true; tests may feed events with inject()). */
  netlink?: boolean;
  /** Receive buffer of the kernel uevent socket, bytes (default 128 MiB; tests make it small to overflow it). */
  recvBufferSize?: number;
  /**
   * The service manager's notification socket ($NOTIFY_SOCKET, src/daemon/notify.ts): READY=1 and STATUS= when
   * ready, RELOADING=1/READY=1 around reloads, STOPPING=1, WATCHDOG=1, and the kernel socket handed over with
   * FDSTORE=1 when the daemon opened it itself.
   */
  notifier?: Notifier;
  /** $WATCHDOG_USEC: WATCHDOG=1 every half of it, through the notifier. */
  watchdogUsec?: number;
  /** Sockets handed over by the service manager (src/daemon/listen-fds.ts), used instead of opening them. */
  listenFds?: ListenFds;
}

export interface DaemonCounters {
  received: number;
  processed: number;
  failed: number;
  broadcast: number;
  renamed: number;
  renameFailed: number;
  timedOut: number;
  /** Events skipped because their whole disk stayed locked for 3 minutes. */
  lockSkipped: number;
  /** Events waiting for a locked disk retried at once because its node was closed after writing. */
  lockRetriedEarly: number;
}

/** children_max when the config says 0 (udev: 8 + 2 per CPU). */
export function defaultChildrenMax(): number {
  return 8 + 2 * Math.max(1, cpus().length);
}

/** Is `dir` on a devtmpfs mount? (/proc/self/mountinfo: the longest mount point containing it.) */
export function isDevtmpfs(dir: string): boolean {
  const real = tryOr(() => realpathSync(dir), undefined, 'ENOENT', 'ENOTDIR');
  if (real === undefined) return false;
  const text = tryOr(() => readFileSync('/proc/self/mountinfo', 'utf8'), '', 'ENOENT'); // no /proc: no devtmpfs known
  let best = '';
  let fstype = '';
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || f.length < sep + 2) continue;
    const mp = f[4]!.replace(/\\040/g, ' ');
    if ((real === mp || real.startsWith(mp === '/' ? '/' : mp + '/')) && mp.length >= best.length) {
      best = mp;
      fstype = f[sep + 1]!;
    }
  }
  return fstype === 'devtmpfs';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Payload {
  uevent: Uevent;
}

/** udevd's UDEV_WORKER_ERRNO(_NAME) of a failed event, when the errno is known. */
interface WorkerFailure {
  errno?: number;
  code?: string;
}

/** How running an event went: the pipeline's outcome (when it got that far), and the failure, if any. */
interface EventRun<E> {
  result?: E;
  /** The event failed: an error, a timeout, or a failed outcome of the rules (RUN does not change it). */
  failed: boolean;
  failure?: WorkerFailure;
}

/**
 * After an event was given up, how long the daemon waits for its work to stop (its programs are killed, every step
 * stops at its next await) before it lets the device's next event run anyway, with an error: the given-up work can
 * no longer apply anything, only a hung call could keep it.
 */
const ABANDONED_GRACE_MS = 10_000;
/** The queue idle this long: what the programs of past events left running in their process groups is killed. */
const LEFTOVER_KILL_MS = 3000;
/** As udevd: builtins whose configuration files changed (.link files, hwdb.bin) are re-initialized at most this often. */
const BUILTINS_CHECK_MS = 3000;
/** The queue drained this long: the identities recorded for resyncs are written (see #flushRegistryWhenIdle). */
const REGISTRY_FLUSH_MS = 100;
/** ... but never put off longer than this, however busy the queue stays. */
const REGISTRY_FLUSH_MAX_MS = 5000;
/** The queue idle this long after a rules load: the rules cache is written (see #saveCompiledRulesWhenIdle). */
const RULES_CACHE_QUIET_MS = 1000;
/** At most this many AbortControllers of past events are kept for reuse. */
const IDLE_CONTROLLERS = 16;
/**
 * The most rules files a `test` request compiles (files changed on disk since the last load); with more, devctl
 * compiles them itself. A reload compiles every changed file on the event loop too; a test should not do more.
 */
const MAX_TEST_COMPILES = 8;
/**
 * The warm-up starts this long after the builtins are loaded, so that it does not meet a boot's coldplug: the
 * trigger that follows READY=1 lists the devices before its first event (`udevadm trigger` takes about 80 ms for
 * 388 devices on the bench's machine), and a warm-up begun just before that event would hold the queue's first
 * turn. The start's own loads after READY=1 are done by then too.
 */
const WARM_UP_DELAY_MS = 500;

/** The daemon, with the rules engine's types: F a compiled rules file, R a rules set, E one event's outcome. */
export class Daemon<F = CompiledFile, R = RuleSet, E extends EventOutcome = EventResult> {
  readonly config: Config;
  readonly roots: Roots;
  readonly log: Logger;
  readonly queue: EventQueue<Payload>;
  readonly rules: RulesManager<F, R>;
  readonly counters: DaemonCounters = { received: 0, processed: 0, failed: 0, broadcast: 0, renamed: 0, renameFailed: 0, timedOut: 0, lockSkipped: 0, lockRetriedEarly: 0 };
  readonly mknod: boolean;
  readonly hooks: DaemonHooks;
  /** Resolves when the daemon has stopped. */
  readonly stopped: Promise<void>;
  /** Milliseconds from process start to ready. */
  readyMs = 0;

  #engine: Engine<F, R, E>;
  #heap = new HeapKeeper();
  #builtins = new Map<string, Builtin>();
  /** Renames done by the current events: devpath of the event → [old, new] (for the broadcast). */
  #renamed = new Map<Device, [string, string]>();
  #kernel: UeventSocket | undefined;
  #broadcaster: Broadcaster | undefined;
  #control: ControlServer | undefined;
  /** inotify on the nodes of devices whose rules say OPTIONS+="watch" (src/daemon/watch.ts). */
  #watch: DeviceWatcher | undefined;
  /** udev's binary protocol at <run>/control (udevadm control / settle). */
  #udevCtrl: UdevCtrlServer | undefined;
  /** udevadm control --property KEY=VALUE: added to every event that lacks KEY. */
  readonly globalProperties = new Map<string, string>();
  #resolveStopped!: () => void;
  #stopping: Promise<void> | undefined;
  #lastSeqnum = 0;
  /** Kernel seqnums up to this one are not awaited again: emitted before our socket, or never coming (catchUp). */
  #seqnumReached = 0;
  #startedAt = Date.now();
  /** Events waiting for a locked whole disk: since when (nowMs()), and the disk's node. */
  #lockWaits = new Map<QueueItem, { since: number; devnode: string }>();
  #notifier: Notifier | undefined;
  /** The service manager keeps the kernel socket open after us (handed over, or stored with FDSTORE=1). */
  #kernelKept = false;
  /** An explicit reload (reload()) is notified by itself; rules reloads by the watcher are notified after the fact. */
  #reloading = 0;
  /** Events the last daemon kept were queued at start-up, the queue stopped until ready. */
  #startQueueWhenReady = false;
  /** What the service manager handed over: the names of the sockets used, and how many were refused. */
  #handedOver: { kernel?: string; udevControl?: string; control?: string; rejected: number } | undefined;
  /** Cost accounting per rule line and event (src/stats), while stats are on. */
  #stats: StatsRecorder | undefined;
  /** The metrics file for node_exporter and the node-feature-discovery features (src/export), when configured. */
  #metricsFile: MetricsFile | undefined;
  #features: FeatureExport | undefined;
  /** Resynchronizing with sysfs after lost events, and the identities of the devices processed (resync.ts). */
  readonly resyncer: Resyncer;

  /** The netlink port our broadcasts come from (libudev clients see it as the sender), if broadcasting. */
  get broadcastPort(): number | undefined {
    return this.#broadcaster?.port;
  }

  private constructor(opts: DaemonOptions, engine: Engine<F, R, E>) {
    this.config = opts.config;
    this.roots = { sysfs: opts.config.sysfs, dev: opts.config.dev, run: opts.config.run };
    this.log = opts.logger ?? rootLog();
    this.hooks = opts.hooks ?? {};
    this.#engine = engine;
    this.mknod = opts.config.mknod ?? !isDevtmpfs(this.roots.dev);
    if (opts.config.stats) this.#stats = this.#newStats();
    this.rules = new RulesManager(rulesDirs(opts.config.rulesDirs), engine, this.log);
    // OPTIONS+="static_node=" permissions and tags, at start-up and after every reload (as udevd)
    this.rules.onReload = () => {
      this.#applyStaticNodes();
      this.#saveCompiledRulesWhenIdle();
      // a reload the watcher started: tell the manager it happened (an explicit one is bracketed in reload())
      if (this.readyMs && !this.#reloading && this.#notifier) {
        this.#notifier.reloading();
        this.#notifier.ready(this.#statusLine());
      }
    };
    // reload_max_impact: a reload that would change too many devices is refused (src/preview/impact.ts)
    const impact = engine.impact?.bind(engine);
    if (impact) {
      this.rules.guard = (next) =>
        impactGuard(
          async (stopAfter) => {
            await this.#builtinsLoading; // a reload right after READY=1 runs with the builtins
            return impact(next, this.rules.ruleSet, { roots: this.roots, builtins: this.#builtins, log: this.log.child({ component: 'reload-impact' }, { level: 'error' }), execTimeoutMs: this.config.execTimeout * 1000, stopAfter });
          },
          this.config.reloadMaxImpact,
        );
    }
    this.queue = new EventQueue<Payload>({
      childrenMax: opts.config.maxWorkers > 0 ? opts.config.maxWorkers : defaultChildrenMax(),
      runDir: this.roots.run,
      worker: (p, item) => this.#process(p.uevent, item),
      onError: (err, item) => this.log.error({ devpath: item.devpath, seqnum: item.seqnum, err: (err as Error).message }, 'event failed'),
      onIdle: () => this.#drained(),
    });
    this.resyncer = new Resyncer({
      roots: this.roots,
      log: this.log,
      enqueue: (ev) => this.#enqueue(ev, true),
      whenIdle: () => this.queue.whenIdle(),
      catchUp: () => this.catchUp(),
      stopping: () => this.#stopping !== undefined,
    });
    this.stopped = new Promise((r) => (this.#resolveStopped = r));
  }

  /**
   * Loads rules, opens the kernel socket, the broadcaster and the control socket, with the real rules engine
   * (src/rules, src/event). Ready when it returns.
   */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    return Daemon.startWithEngine(await loadEngine({ resolveNames: opts.config.resolveNames, logger: opts.logger, rulesCache: rulesCachePath(opts.config.run), keptRulesCache: opts.config.cacheDir === undefined ? undefined : keptRulesCachePath(opts.config.cacheDir) }), opts);
  }

  /** As start(), with another engine (tests drive the daemon with a stand-in). */
  static async startWithEngine<F, R, E extends EventOutcome>(engine: Engine<F, R, E>, opts: DaemonOptions): Promise<Daemon<F, R, E>> {
    const d = new Daemon<F, R, E>(opts, engine);
    try {
      await d.#start(opts);
    } catch (e) {
      await d.#close();
      throw e;
    }
    return d;
  }

  async #start(opts: DaemonOptions): Promise<void> {
    const { run } = this.roots;
    useLibcReads({ readFileWithMode, fileStamp }); // every event reads a database record: through libc
    // records and /dev/{block,char} links trusted while inotify does not name them (src/sys/dir-changes.ts)
    this.#changes = DirChanges.open();
    watchRecords(run, this.#changes);
    watchDevnumLinks(this.roots, this.#changes);
    this.#notifier = opts.notifier;
    if (this.#notifier && opts.watchdogUsec) this.#notifier.startWatchdog(opts.watchdogUsec);
    const passed = opts.listenFds;
    if (passed) this.#handedOver = { kernel: passed.kernel?.name, udevControl: passed.udevControl?.name, control: passed.control?.name, rejected: passed.rejected.length };
    for (const r of passed?.rejected ?? []) {
      this.log.warn({ fd: r.fd.fd, fdName: r.fd.name }, `socket handed over by the service manager not used: ${r.reason}`);
      if (r.fd.name !== 'unknown') this.#notifier?.send({ FDSTOREREMOVE: 1, FDNAME: r.fd.name });
    }
    for (const sub of ['', 'data', 'tags', 'links']) mkdirSync(join(run, sub), { recursive: true });
    await this.rules.load(true);
    // The builtins are loaded and initialized right after READY=1 (their modules, hwdb.bin, the .link files): an
    // event that comes before waits for them (#process), from the first one on, whatever queued it.
    let initBuiltinsNow!: () => void;
    const builtinsReady = new Promise<void>((resolve) => (initBuiltinsNow = resolve)).then(() => this.#initBuiltins(opts.config));
    this.#builtinsLoading = builtinsReady.finally(() => (this.#builtinsLoading = undefined));
    if (opts.netlink !== false) {
      // what the last daemon had queued when it stopped comes before anything the kernel socket holds; the queue
      // waits until the daemon is ready (the broadcaster is not open yet)
      const pending = takePending(run);
      if (pending.invalid) this.log.warn({ invalid: pending.invalid }, 'kept events that are not valid uevents were dropped');
      if (pending.events.length) {
        this.log.info({ events: pending.events.length }, 'processing the events the last daemon kept');
        this.queue.stop();
        for (const ev of pending.events) this.inject(ev);
        this.#startQueueWhenReady = true;
      }
      // earlier uevents never reach a socket opened now; a handed-over socket may still hold some
      this.#seqnumReached = passed?.kernel ? 0 : (kernelSeqnum(this.roots) ?? 0);
      this.#kernel = await UeventSocket.open({ logger: this.log, recvBufferSize: opts.recvBufferSize, fd: passed?.kernel?.fd });
      this.#kernel.on('uevent', (ev) => this.#arrive(ev));
      this.#kernel.on('error', (e) => this.log.error({ err: e.message }, 'kernel uevent socket error'));
      this.#broadcaster = await Broadcaster.open({ logger: this.log });
      // the manager keeps the kernel socket over a restart: the one it handed over, or ours given to its store
      this.#kernelKept = this.#kernel.adopted || (this.#kernel.fd !== undefined && this.#notifier?.storeFds('devmaster-kernel', [this.#kernel.fd]) === true);
    }
    this.#control = await startControlServer(run, this.#controlHandler(), (msg) => this.log.warn(msg), { fd: passed?.control?.fd, readOnlyGroup: this.#controlGroup(opts.config.controlGroup) });
    this.#udevCtrl = startUdevCtrlServer(run, this.#controlHandler(), this.log, { fd: passed?.udevControl?.fd });
    // this daemon owns the run root now: what the last one left says whether events may have been lost
    const previous = readRunState(run);
    this.resyncer.open();
    writeRunState(run, { pid: process.pid, clean: false });
    this.queue.resetFlag(); // a stale queue flag goes
    this.#watch = DeviceWatcher.open(this.roots, this.log);
    // a watched node closed after writing: whoever locked it may be done, retry the events waiting for it (as udevd)
    if (this.#watch) this.#watch.onCloseWrite = (d) => this.#retryLockedDisk(d);
    this.#watch?.restore(); // the watches a previous daemon left in <run>/watch/
    if (this.#kernel) {
      this.#kernel.on('overflow', () => this.resyncer.schedule('the kernel uevent receive queue overflowed'));
      const k = this.#kernel;
      const reason = resyncReason(previous, kernelSeqnum(this.roots), k.adopted && k.inode !== undefined ? { inode: k.inode, drops: k.dropsAtOpen } : undefined);
      // with --coldplug every device gets "add" anyway: only the removals are left to the resync
      if (reason) void this.resyncer.run(reason, { trigger: !opts.config.coldplug });
    }
    const { nfdFeaturesDir, metricsFile } = opts.config;
    if (nfdFeaturesDir) {
      this.#features = new FeatureExport({ dir: nfdFeaturesDir, properties: opts.config.nfdProperties, expirySec: opts.config.nfdExpiry }, this.log);
      this.#features.load(this.roots);
    }
    if (metricsFile) this.#metricsFile = new MetricsFile(metricsFile, opts.config.metricsInterval, () => this.metrics('prometheus'), this.log);
    this.readyMs = Math.round(nowMs());
    this.log.info(
      { readyMs: this.readyMs, run, dev: this.roots.dev, sysfs: this.roots.sysfs, childrenMax: this.queue.childrenMax, mknod: this.mknod, rulesFiles: this.rules.status().files.length },
      `devmaster ready in ${this.readyMs} ms (listening)`,
    );
    if (this.#startQueueWhenReady) this.queue.start();
    this.#notifier?.ready(this.#statusLine());
    // the build's code cache training (scripts/bundle.mjs) rehearses events from here; no listener otherwise
    (process as NodeJS.EventEmitter).emit('devmaster-ready', this);
    initBuiltinsNow();
    if (opts.config.warmUp) this.#warmUpWhenIdle(builtinsReady);
    // what start-up put off, loaded while nothing waits for it (unless events already do): the first event
    // that runs a program or drains the queue would otherwise wait for these loads
    setImmediate(() => {
      preloadChildProcess();
      preloadLogger();
      this.#heap.prepare();
      // the start's garbage, collected while nothing waits (after the rules cache is written, when it is to be)
      if (!this.#compiledRulesUnsaved) this.#heap.collectWhenIdle(() => this.queue.isIdle);
    });
    if (opts.watch !== false) {
      const extra = opts.config.configFile ? [opts.config.configFile] : [];
      // after ready: the rules changed since they were loaded are reloaded once the watcher's first scan is done
      this.rules.watch(extra, () => this.#reloadConfig());
    }
  }

  /** control_group as a gid; an unknown group is a warning, and the socket stays root's alone. */
  #controlGroup(name: string | undefined): number | undefined {
    if (name === undefined || name === '') return undefined;
    const gid = parseId(name) ?? lookupGroup(name);
    if (gid === undefined) this.log.warn(`control_group: unknown group '${name}'; ${controlSocketPath(this.roots.run)} stays root's alone`);
    return gid;
  }

  /** STATUS= while running (udevd's words). */
  #statusLine(): string {
    return `Processing with ${this.queue.childrenMax} children at max`;
  }

  /**
   * Build time only (scripts/bundle.mjs, src/daemon/rehearsal.ts): a "change" event of every device under the sysfs
   * root through the whole event path, on temporary roots, with nothing received from the kernel and nothing
   * broadcast, so that the code caches made from this run hold the event path. It asks for no gc(): the flag that
   * gives it would change the hash of V8's flags the caches are made with, and every start would refuse them.
   * Resolves to the number of events once the queue has drained (each device's event runs twice, without and with
   * the rule statistics).
   */
  async rehearse(): Promise<number> {
    checkRehearsalRoots(this.roots);
    this.#heap.forgo();
    this.#kernel?.close();
    this.#kernel = undefined;
    this.#broadcaster?.mute();
    // what every start runs after READY=1 goes into the caches too: the loads put off to the next turn of the event
    // loop (pino, which the daemon's records go through from then on) and the rules watcher's first scan
    await new Promise((resolve) => setImmediate(resolve));
    await this.rules.whenWatching();
    await this.warmedUp; // and the warm-up, which a start runs when no event comes first
    // twice: with the rule statistics off (the default) and on (devctl stats), each path in the caches
    const statsWereOn = this.#stats !== undefined;
    let n = 0;
    for (const stats of [false, true]) {
      if (stats) this.#stats ??= this.#newStats();
      const events = rehearsalEvents(this.roots, 'change', n + 1);
      // queued as a wake-up of the kernel socket queues what it read: together, in the next turn of the event loop
      for (const ev of events) this.#arrive(ev);
      await new Promise((resolve) => setImmediate(resolve));
      if (!(await this.queue.whenIdle(60_000))) throw new Error('the rehearsal\'s events did not drain in 60 s');
      n += events.length;
    }
    if (!statsWereOn) {
      this.#stats?.close();
      this.#stats = undefined;
    }
    return n;
  }

  /**
   * Queues a uevent that did not come through the kernel socket's batches (the events a previous daemon kept,
   * tests), after a look at what changed on disk, as a batch gets.
   */
  inject(ev: Uevent): QueueItem | undefined {
    this.#changes?.sync();
    return this.#enqueue(ev, false);
  }

  /** Watches the files the event path keeps what it read of (opened at start, closed at stop). */
  #changes: DirChanges | undefined;
  /** Kernel uevents read in this wake-up of the socket, queued together once it has been drained. */
  #arrived: Uevent[] = [];

  #arrive(ev: Uevent): void {
    if (this.#arrived.push(ev) === 1) setImmediate(this.#queueArrived);
  }

  /**
   * Queues what the kernel socket gave in one wake-up, after one look at what changed on disk meanwhile: every
   * change made before the kernel sent these events is seen when they are processed, at one inotify read() for
   * the batch instead of a statx and a readlink for each event.
   */
  readonly #queueArrived = (): void => {
    const evs = this.#arrived;
    if (evs.length === 0) return;
    this.#arrived = [];
    this.#changes?.sync();
    this.queue.batch(() => {
      // the broadcasts of the events that finish in this batch go out together, before the queue's drain is told
      this.#broadcaster?.hold();
      try {
        for (let i = 0; i < evs.length; i++) this.#enqueue(evs[i]!, false);
      } finally {
        this.#broadcaster?.release();
      }
    });
  };

  /** Queues an event; a synthesized one (resync's removes) does not count as received from the kernel. */
  #enqueue(ev: Uevent, synthesized: boolean): QueueItem | undefined {
    if (this.#stopping) return undefined;
    if (!synthesized) {
      this.counters.received++;
      if (ev.seqnum > this.#lastSeqnum) this.#lastSeqnum = ev.seqnum;
    }
    const p = ev.properties;
    const major = p.get('MAJOR');
    const minor = p.get('MINOR');
    const devnumKey = major !== undefined && minor !== undefined && major !== '0' ? `${ev.subsystem === 'block' ? 'b' : 'c'}${major}:${minor}` : undefined;
    const ifi = p.get('IFINDEX');
    const ifindex = ifi !== undefined && /^\d+$/.test(ifi) && ifi !== '0' ? Number(ifi) : undefined;
    return this.queue.push({ seqnum: ev.seqnum, devpath: ev.devpath, devpathOld: p.get('DEVPATH_OLD'), devnumKey, ifindex, action: ev.action, payload: { uevent: ev } });
  }

  /** The warm-up's end (src/daemon/warm-up.ts): undefined when it did not run (off, no engine support, an event first). */
  warmedUp: Promise<WarmUpResult | undefined> = Promise.resolve(undefined);

  /**
   * The rules run once on a sample of the devices, in test mode, once the builtins are loaded and the start's own
   * loads are done, unless an event came first (src/daemon/warm-up.ts).
   */
  #warmUpWhenIdle(builtinsReady: Promise<void>): void {
    const warm = this.#engine.warmUp?.bind(this.#engine);
    if (!warm) return;
    const idle = () => this.counters.received === 0 && this.queue.size === 0 && !this.#stopping;
    // with the statistics on, their path is warmed too, on a recorder of the warm-up's own: it counts in no statistics
    let scratch: StatsRecorder | undefined;
    const run = (device: Device, builtins: ReadonlyMap<string, Builtin>): unknown => {
      if (!this.#stats) return warm(this.#context(), this.rules.ruleSet, device, builtins);
      const cost = (scratch ??= this.#newStats()).begin(device.devpath, 0, nowMs());
      const done = warm(this.#context(undefined, cost), this.rules.ruleSet, device, builtins);
      return done instanceof Promise ? done.finally(() => cost.end(false)) : cost.end(false);
    };
    this.warmedUp = builtinsReady
      .then(() => new Promise((resolve) => setTimeout(resolve, WARM_UP_DELAY_MS)))
      .then(() => (idle() ? warmUp({ roots: this.roots, builtins: this.#builtins, idle, run }, nowMs) : undefined))
      .finally(() => scratch?.close())
      .then((r) => {
        if (r) this.log.debug({ events: r.events, ms: Math.round(r.ms), interrupted: r.interrupted }, 'warm-up done');
        return r;
      })
      .catch((e) => {
        this.log.debug({ err: (e as Error).message }, 'warm-up failed');
        return undefined;
      });
  }

  #context(signal?: AbortSignal, cost?: EventContext['cost']): EventContext {
    return {
      signal,
      cost,
      roots: this.roots,
      log: this.log,
      test: false,
      mknod: this.mknod,
      execTimeoutMs: this.config.execTimeout * 1000,
      builtins: this.#builtins,
      renameInterface: this.#renameInterface,
      afterRules: this.hooks.afterRules,
    };
  }

  #applyStaticNodes(): void {
    try {
      this.#engine.applyStaticNodes(this.rules.ruleSet, this.roots, this.log);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'static_node permissions failed');
    }
  }

  /** The builtins' load and init at start, until it is done (events wait for it). */
  #builtinsLoading: Promise<void> | undefined;

  /** Loads and initializes every builtin; one whose init() fails is disabled (logged). */
  async #initBuiltins(config: Config): Promise<void> {
    // where the hwdb builtin finds hwdb.bin: config hwdb_bin (--hwdb-bin), else the search next to the config file
    this.#builtins = await initBuiltins(
      this.roots,
      {
        hwdbBin: config.hwdbBin,
        configFile: config.configFile,
        watch: true,
        namingScheme: config.namingScheme,
        networkDirs: config.networkDirs,
        cmdlinePath: config.kernelCmdline,
        warn: (msg) => this.log.warn(msg),
      },
      { builtins: await this.#engine.builtins(), onError: (name, e) => this.log.error({ builtin: name, err: e.message }, 'builtin failed to initialize; it is disabled') },
    );
  }

  /** When the builtins were last asked whether their configuration changed (.link files, hwdb.bin). */
  #builtinsCheckedAt = 0;

  /** As udevd when it starts on queued events: at most every BUILTINS_CHECK_MS, re-initialize builtins whose files changed. */
  async #reloadChangedBuiltins(): Promise<void> {
    this.#builtinsCheckedAt = nowMs();
    const done = await reloadBuiltins(this.#builtins, this.roots, (name, e) => this.log.error({ builtin: name, err: e.message }, 'builtin reload failed'));
    if (done.length) this.log.info({ builtins: done }, 'builtins reloaded: their configuration changed');
  }

  /**
   * The queue's worker: one event (see #processDevice); Retry puts it back (its whole disk is locked). An event
   * that waits for nothing (most) is over when this returns: no promise is made for it.
   */
  #process(ev: Uevent, item: QueueItem): void | Retry | Promise<void | Retry> {
    if (this.#builtinsLoading) return this.#builtinsLoading.then(() => this.#process(ev, item));
    if ((item.startedAt ?? nowMs()) - this.#builtinsCheckedAt >= BUILTINS_CHECK_MS) return this.#reloadChangedBuiltins().then(() => this.#processNow(ev, item));
    return this.#processNow(ev, item);
  }

  #processNow(ev: Uevent, item: QueueItem): void | Retry | Promise<void | Retry> {
    let device: Device;
    try {
      device = Device.fromUevent(this.roots, this.globalProperties.size ? new Map([...ev.properties, ...[...this.globalProperties].filter(([k]) => !ev.properties.has(k))]) : ev.properties);
    } catch (e) {
      this.counters.failed++;
      this.log.error({ devpath: ev.devpath, seqnum: ev.seqnum, err: (e as Error).message }, 'event dropped: invalid device');
      return;
    }
    const rules = this.rules.ruleSet; // captured once: the event sees one complete rules set
    // udev's whole-disk lock (disk-lock.ts): held until the event, RUN included, is done
    const lock = lockWholeDisk(device, ev.action, this.roots, this.mknod ? (disk) => disk.devnum !== undefined && this.#engine.makeNode(this.#context(), rules, disk) : undefined);
    if (lock.kind === 'busy') return this.#diskBusy(ev, item, lock.devnode);
    this.#lockWaits.delete(item);
    if (lock.kind !== 'locked') return this.#processDevice(ev, item, rules, device, lock.kind === 'error' ? lock : undefined);
    let done: void | Promise<void>;
    try {
      done = this.#processDevice(ev, item, rules, device, undefined);
    } catch (e) {
      unlockWholeDisk(lock);
      throw e;
    }
    if (done instanceof Promise) return done.finally(() => unlockWholeDisk(lock));
    unlockWholeDisk(lock);
  }

  /** A block device's whole disk is locked exclusively: retry in 200 ms, skip the event after 3 minutes (as udevd). */
  #diskBusy(ev: Uevent, item: QueueItem, devnode: string): Retry | undefined {
    const now = nowMs();
    const since = this.#lockWaits.get(item)?.since ?? now;
    if (now - since < LOCK_TIMEOUT_MS) {
      if (since === now) this.log.debug({ devpath: ev.devpath, seqnum: ev.seqnum, devnode }, 'block device is locked, requeueing the event');
      this.#lockWaits.set(item, { since, devnode });
      return { retryAfterMs: LOCK_RETRY_MS };
    }
    this.#lockWaits.delete(item);
    this.counters.lockSkipped++;
    this.log.warn({ devpath: ev.devpath, seqnum: ev.seqnum, action: ev.action, devnode }, `the underlying block device is locked by a process more than ${LOCK_TIMEOUT_MS / 60000} min, skipping event`);
    return undefined;
  }

  #retryLockedDisk(device: Device): void {
    const name = device.devname;
    if (!name || this.#lockWaits.size === 0) return;
    const devnode = devPath(this.roots, name);
    const n = this.queue.retryNow((item) => this.#lockWaits.get(item)?.devnode === devnode);
    if (n > 0) {
      this.counters.lockRetriedEarly += n;
      this.log.debug({ devnode, events: n }, 'locked block device closed after writing: retrying its events now');
    }
  }

  /**
   * One event, in udevd's order: the rules and RUN under event_timeout, the node removed (mknod mode), the
   * broadcast, the record for resyncs. With `lockError` (the whole disk could not be opened or locked), the rules
   * do not run and the kernel event is broadcast marked as failed, as udevd does. A promise only when the event
   * waited (a program, a builtin that waits, a rename, a broadcast the socket could not take at once).
   */
  #processDevice(ev: Uevent, item: QueueItem, rules: R, device: Device, lockError: { errno: number; code: string; message: string } | undefined): void | Promise<void> {
    this.#watch?.end(device); // no watch while the event runs, none at all after a remove (as udevd)
    const cost = this.#stats?.begin(ev.devpath, ev.seqnum, item.queuedAt, item.startedAt);
    const run = lockError ? { failed: true, failure: this.#lockFailure(ev, lockError) } : this.#runEvent(ev, rules, device, cost);
    if (run instanceof Promise) return run.then((r) => this.#eventRan(ev, device, r, cost));
    return this.#eventRan(ev, device, run, cost);
  }

  #eventRan(ev: Uevent, device: Device, run: EventRun<E>, cost: EventCostImpl | undefined): void | Promise<void> {
    if (ev.action === 'remove' && this.mknod && !run.failed) this.#removeOwnNode(device);
    const props = this.#broadcastProperties(ev, device, run);
    cost?.end(run.failed);
    const sending = this.#broadcast(props, ev);
    if (sending) return sending.then(() => this.#eventSent(ev, device, run, props));
    this.#eventSent(ev, device, run, props);
  }

  #eventSent(ev: Uevent, device: Device, run: EventRun<E>, props: Map<string, string>): void {
    if (run.result || ev.action === 'remove') this.#features?.onEvent(ev.action, run.result?.device ?? device);
    this.#recordProcessed(ev, device, run.result, props, run.failed);
  }

  /**
   * The rules, then RUN and OPTIONS+="watch", under event_timeout: at the timeout the event is given up as udevd
   * kills its worker. Its signal is aborted with an EventCancelled: its programs are killed, it applies nothing
   * more after its next await (src/util/cancel.ts). The event ends only once that work has really stopped, so the
   * whole-disk lock and the device's place in the queue are held until then. Work that waited for nothing is over
   * before any timer could fire: it has no deadline.
   */
  #runEvent(ev: Uevent, rules: R, device: Device, cost: EventCostImpl | undefined): EventRun<E> | Promise<EventRun<E>> {
    const giveUp = this.#idleControllers.pop() ?? new AbortController();
    const ctx = this.#context(giveUp.signal, cost);
    let work: E | Promise<E>;
    try {
      work = this.#work(ctx, ev, rules, device, cost);
    } catch (e) {
      this.#controllerDone(giveUp);
      return { failed: true, failure: this.#failure(ev, e as NodeJS.ErrnoException) };
    }
    if (work instanceof Promise) return this.#underDeadline(ev, giveUp, work);
    this.#controllerDone(giveUp);
    return { result: work, failed: work.failed };
  }

  async #underDeadline(ev: Uevent, giveUp: AbortController, work: Promise<E>): Promise<EventRun<E>> {
    try {
      const result = await this.#deadlines.run(Math.max(1, this.config.eventTimeout) * 1000, { ev, giveUp }, work);
      return { result, failed: result.failed };
    } catch (e) {
      if (giveUp.signal.aborted) await this.#whenStopped(ev, work);
      return { failed: true, failure: this.#failure(ev, e as NodeJS.ErrnoException) };
    } finally {
      this.#controllerDone(giveUp);
    }
  }

  /** The work is over (it settled, or was given up): a controller never aborted serves the next event. */
  #controllerDone(giveUp: AbortController): void {
    if (!giveUp.signal.aborted && this.#idleControllers.length < IDLE_CONTROLLERS) this.#idleControllers.push(giveUp);
  }

  /**
   * AbortControllers of past events that were never aborted. Making one costs more than the rest of a quiet
   * event's bookkeeping; once its event is over nothing listens to it any more (programs and waits remove their
   * listeners when they end), so it is handed to the next event.
   */
  readonly #idleControllers: AbortController[] = [];

  /** What runs under event_timeout: the pipeline, the RUN list, then OPTIONS+="watch". */
  #work(ctx: EventContext, ev: Uevent, rules: R, device: Device, cost: EventCostImpl | undefined): E | Promise<E> {
    const result = this.#engine.processEvent(ctx, rules, device);
    if (result instanceof Promise) return result.then((r) => this.#afterPipeline(ctx, ev, r, cost));
    return this.#afterPipeline(ctx, ev, result, cost);
  }

  #afterPipeline(ctx: EventContext, ev: Uevent, result: E, cost: EventCostImpl | undefined): E | Promise<E> {
    for (const err of result.errors) this.log.warn({ devpath: ev.devpath, seqnum: ev.seqnum }, err);
    if (result.runList.length === 0) return this.#watchIfAsked(ctx, result);
    cost?.processed();
    return this.#runPrograms(ctx, ev, result).then(() => this.#watchIfAsked(ctx, result));
  }

  #watchIfAsked(ctx: EventContext, result: E): E {
    checkpoint(ctx.signal);
    if (result.state.watch === true) this.#watch?.begin(result.device); // OPTIONS+="watch"
    return result;
  }

  /** Waits (at most ABANDONED_GRACE_MS) until the work of a given-up event has stopped. */
  async #whenStopped(ev: Uevent, work: Promise<E>): Promise<void> {
    let bound: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([work.then(() => true, () => true), new Promise<boolean>((r) => (bound = setTimeout(() => r(false), ABANDONED_GRACE_MS)))]);
    clearTimeout(bound);
    if (!stopped) this.log.error({ devpath: ev.devpath, seqnum: ev.seqnum }, `the given-up event did not stop within ${ABANDONED_GRACE_MS / 1000} s; the next event of the device runs anyway (this one applies nothing more)`);
  }

  /** event_timeout: a warning at a third of it, then the event is given up (its work's signal is aborted). */
  readonly #deadlines = new EventDeadlines<{ ev: Uevent; giveUp: AbortController }>(
    ({ ev }, ms) => this.log.warn({ devpath: ev.devpath, seqnum: ev.seqnum }, `event still running after ${ms / 3000} s`),
    ({ giveUp }, ms) => {
      const err = new EventCancelled(`event timed out after ${ms / 1000} s`, 'timeout');
      giveUp.abort(err);
      return err;
    },
  );

  /** RUN programs and builtins, after the database is written (as udevd); a failure of one is logged. */
  async #runPrograms(ctx: EventContext, ev: Uevent, result: E): Promise<void> {
    if (result.runList.length === 0) return;
    try {
      await this.#engine.runProgramList(ctx, result);
    } catch (e) {
      if (e instanceof EventCancelled) throw e;
      this.log.error({ devpath: ev.devpath, err: (e as Error).message }, 'RUN failed');
    }
  }

  /** udevd's UDEV_WORKER_* of an event that failed (timed out, or an error with its errno), logged. */
  #failure(ev: Uevent, err: NodeJS.ErrnoException): WorkerFailure {
    const timedOut = err instanceof EventCancelled && err.why === 'timeout';
    if (timedOut) this.counters.timedOut++;
    this.log.error({ devpath: ev.devpath, seqnum: ev.seqnum, action: ev.action, err: err.message }, 'event processing failed; broadcasting the kernel event marked as failed');
    if (timedOut) return { errno: osConstants.errno.ETIMEDOUT, code: 'ETIMEDOUT' };
    return typeof err.errno === 'number' ? { errno: Math.abs(err.errno), code: err.code } : {};
  }

  /** A whole disk nobody may open fails every event of it: a warning, as udevd's "Failed to process device, ignoring". */
  #lockFailure(ev: Uevent, lockError: { errno: number; code: string; message: string }): WorkerFailure {
    this.log.warn({ devpath: ev.devpath, seqnum: ev.seqnum, action: ev.action, err: lockError.message }, 'event processing failed; broadcasting the kernel event marked as failed');
    return { errno: Math.abs(lockError.errno), code: lockError.code };
  }

  /**
   * What is broadcast: the final device's properties; for a failed event the kernel's, as it sent them (DEVNAME
   * as /dev/..., as sd-device reads it), marked as failed; after a rename, the new name and devpath.
   */
  #broadcastProperties(ev: Uevent, device: Device, run: EventRun<E>): Map<string, string> {
    const props = run.result ? run.result.device.properties : Device.fromUevent(this.roots, ev.properties).properties;
    const renamed = this.#renamed.get(device);
    if (renamed) {
      this.#renamed.delete(device);
      // the interface's sysfs path changed with its name: broadcast the new one, as udevd does
      const [oldName, newName] = renamed;
      props.set('INTERFACE', newName);
      props.set('INTERFACE_OLD', oldName);
      const dp = props.get('DEVPATH');
      if (dp?.endsWith('/' + oldName)) props.set('DEVPATH', dp.slice(0, dp.length - oldName.length) + newName);
    }
    const failure = run.failure;
    if (failure) {
      props.set('UDEV_WORKER_FAILED', '1');
      if (failure.errno !== undefined) {
        props.set('UDEV_WORKER_ERRNO', String(failure.errno));
        props.set('UDEV_WORKER_ERRNO_NAME', failure.code ?? errnoName(failure.errno));
      }
    }
    return props;
  }

  /** After the broadcast: the identity for resyncs, the counters, and the heap and registry upkeep when idle. */
  #recordProcessed(ev: Uevent, device: Device, result: E | undefined, props: Map<string, string>, failed: boolean): void {
    if (ev.action === 'remove') this.resyncer.registry?.forget(device.id);
    else if (result) this.resyncer.registry?.record(result.device.id, props);
    if (failed) this.counters.failed++;
    else this.counters.processed++;
    this.#heap.onEvent();
  }

  /** The queue drained (its last event finished): the work that waits for a quiet moment. */
  #drained(): void {
    // what the events' own writes told inotify, read now rather than by the next event's batch (after a coldplug,
    // hundreds of records and links: the first hotplug would wait for them)
    this.#changes?.sync();
    this.#heap.onIdle(() => this.queue.isIdle);
    this.#flushRegistryWhenIdle();
    this.#killLeftoversWhenIdle();
    if (this.#compiledRulesUnsaved) this.#saveCompiledRulesWhenIdle();
  }

  #compiledRulesUnsaved = false;
  #compiledRulesTimer: NodeJS.Timeout | undefined;

  /**
   * The rules cache (src/rules/cache.ts: for `devctl test`, and the next start's, with its copy in cache_dir) is
   * written once the queue has been idle
   * RULES_CACHE_QUIET_MS after a rules load: never while events wait (a start's coldplug follows its load).
   */
  #saveCompiledRulesWhenIdle(): void {
    if (!this.#engine.saveCompiled) return;
    this.#compiledRulesUnsaved = true;
    if (this.#compiledRulesTimer) return void this.#compiledRulesTimer.refresh();
    this.#compiledRulesTimer = setTimeout(() => {
      this.#compiledRulesTimer = undefined;
      // not idle: the queue's next drain arms the timer again
      if (!this.queue.isIdle || this.#stopping !== undefined) return;
      this.#compiledRulesUnsaved = false;
      try {
        this.#engine.saveCompiled!(this.rules.compiledFiles());
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'rules cache not written');
      }
      // what the load and the writing left behind
      this.#heap.collectWhenIdle(() => this.queue.isIdle);
    }, RULES_CACHE_QUIET_MS);
    this.#compiledRulesTimer.unref();
  }

  #registryTimer: NodeJS.Timeout | undefined;

  /**
   * The identities recorded for resyncs go to disk once the queue has stayed drained REGISTRY_FLUSH_MS (a coldplug
   * drains the queue now and then: the registry would otherwise be written again between its events). A resync and
   * the daemon's stop write them at once.
   */
  #flushRegistryWhenIdle(): void {
    const now = nowMs();
    // put off while the queue keeps draining and filling again, but not past REGISTRY_FLUSH_MAX_MS
    if (this.#registryTimer) {
      if (now - this.#registryArmedAt < REGISTRY_FLUSH_MAX_MS) this.#registryTimer.refresh();
      return;
    }
    this.#registryArmedAt = now;
    this.#registryTimer = setTimeout(() => {
      this.#registryTimer = undefined;
      if (this.queue.isIdle || nowMs() - this.#registryArmedAt >= REGISTRY_FLUSH_MAX_MS) this.resyncer.flush();
    }, REGISTRY_FLUSH_MS);
    this.#registryTimer.unref();
  }

  #registryArmedAt = 0;

  #leftoverTimer: NodeJS.Timeout | undefined;

  /**
   * As udevd kills what is left in its cgroup when it is idle: LEFTOVER_KILL_MS after the queue drained, the
   * processes that programs of past events left behind in their process groups (background jobs) are killed.
   */
  #killLeftoversWhenIdle(): void {
    if (this.#leftoverTimer) return void this.#leftoverTimer.refresh();
    this.#leftoverTimer = setTimeout(() => {
      this.#leftoverTimer = undefined;
      if (!this.queue.isIdle) return;
      const n = killLeftoverGroups();
      if (n) this.log.info({ groups: n }, 'killed processes that programs of past events left running');
    }, LEFTOVER_KILL_MS);
    this.#leftoverTimer.unref();
  }

  /** #rename() as EventContext.renameInterface: one function for every event. */
  readonly #renameInterface = (device: Device, newName: string | undefined, altnames: readonly string[], signal?: AbortSignal): Promise<void> => this.#rename(device, newName, altnames, signal);

  /**
   * NAME= and net_setup_link's alternative names on a network interface (called by processEvent before the database
   * is written). A failed rename keeps the old name (the event goes on); it is logged and counted.
   */
  async #rename(device: Device, newName: string | undefined, altnames: readonly string[], signal?: AbortSignal): Promise<void> {
    const oldName = device.property('INTERFACE') ?? device.sysname;
    const ifindex = device.ifindex;
    const log = { debug: (m: string) => this.log.debug({ devpath: device.devpath }, m), warn: (m: string) => this.log.warn({ devpath: device.devpath }, m) };
    if (newName === undefined) {
      if (ifindex !== undefined) await assignAltnames(ifindex, device.sysname, altnames, log, signal);
      return;
    }
    if (device.subsystem !== 'net' || ifindex === undefined) throw new RenameError(`NAME="${newName}" ignored: ${device.devpath} is not a network interface`, 'EINVAL');
    if (device.action !== 'add') throw new RenameError(`NAME="${newName}" ignored: interfaces are renamed on "add" only`, 'EINVAL');
    try {
      await renameInterface(ifindex, oldName, newName, altnames, log, signal);
    } catch (e) {
      // the interface keeps its name (and, as with udevd, gets no alternative names); the event goes on
      this.counters.renameFailed++;
      throw e;
    }
    this.counters.renamed++;
    // as udevd: set until the "move" event of the rename is processed
    device.setProperty('ID_RENAMING', '1');
    this.#renamed.set(device, [oldName, newName]);
    this.log.info({ ifindex, from: oldName, to: newName }, `network interface ${oldName} renamed to ${newName}`);
  }

  /**
   * Without devtmpfs nobody else removes the nodes we made with mknod: on "remove", delete the device's node
   * (only when it is a node of this very device) and the directories it leaves empty under the dev root.
   */
  #removeOwnNode(device: Device): void {
    const name = device.devname;
    if (!name || !device.devnum) return;
    const path = devPath(this.roots, name);
    if (!path.startsWith(this.roots.dev + '/') || !isNodeOf(path, device)) return;
    try {
      unlinkSync(path);
    } catch (e) {
      this.log.warn({ path, err: (e as Error).message }, 'cannot remove device node');
      return;
    }
    for (let dir = dirname(path); dir.startsWith(this.roots.dev + '/'); dir = dirname(dir)) {
      if (!rmdirIfEmpty(dir)) break;
    }
  }

  /** Broadcasts the processed event; a promise only when the socket could not take it at once. */
  #broadcast(props: Map<string, string>, ev: Uevent): void | Promise<void> {
    if (!this.#broadcaster) return;
    const n = this.#broadcaster.broadcast(props);
    if (typeof n !== 'number') return n.then((size) => this.#broadcastDone(size, ev));
    this.#broadcastDone(n, ev);
  }

  #broadcastDone(size: number, ev: Uevent): void {
    if (size > 0) this.counters.broadcast++;
    else this.log.debug({ devpath: ev.devpath }, 'event not broadcast');
  }

  // ------------------------------------------------------------------ settle, coldplug

  /**
   * Waits until every uevent the kernel had emitted when this was called has been received and processed.
   * Returns false on timeout.
   */
  async settle(timeoutMs: number): Promise<boolean> {
    const deadline = nowMs() + timeoutMs;
    await this.catchUp(deadline);
    const left = deadline - nowMs();
    if (left <= 0) return this.queue.isIdle;
    return this.queue.whenIdle(left);
  }

  /** Returns once the uevents the kernel had emitted when called were received and queued (at most 250 ms). */
  async catchUp(deadline = Infinity): Promise<void> {
    const target = kernelSeqnum(this.roots);
    // Let the event loop read what is already in the socket buffer. Events of other network namespaces
    // advance the kernel's counter without reaching us, so this catch-up wait is bounded.
    await new Promise((r) => setImmediate(r));
    if (target !== undefined && this.#kernel && target > this.#seqnumReached) {
      const bound = nowMs() + 250;
      const end = Math.min(deadline, bound);
      while (this.#lastSeqnum < target && nowMs() < end) await sleep(5);
      // what did not come within the bound belongs to another namespace: later calls do not wait for it again
      if (this.#lastSeqnum >= target || nowMs() >= bound) this.#seqnumReached = Math.max(this.#seqnumReached, target);
    }
  }

  /** Triggers `action` for every device and waits until the queue drained. */
  async coldplug(action = 'add', timeoutMs = 600_000): Promise<{ triggered: number; failed: number; ms: number; settled: boolean }> {
    const t0 = nowMs();
    const devices = listDevices(this.roots);
    const res = triggerAll(devices, action);
    for (const f of res.failed.slice(0, 10)) this.log.debug({ syspath: f.syspath, err: f.error }, 'coldplug: trigger failed');
    const settled = await this.settle(timeoutMs);
    const ms = Math.round(nowMs() - t0);
    this.log.info({ triggered: res.triggered, failed: res.failed.length, ms, settled }, `coldplug: ${res.triggered} devices triggered, queue ${settled ? 'drained' : 'NOT drained'} in ${ms} ms`);
    return { triggered: res.triggered, failed: res.failed.length, ms, settled };
  }

  // ------------------------------------------------------------------ control

  async reload(): Promise<Record<string, unknown>> {
    // bracketed by RELOADING=1 ... READY=1, but only once ready: READY=1 must not come early
    const notify = this.readyMs > 0 ? this.#notifier : undefined;
    this.#reloading++;
    notify?.reloading();
    try {
      const st = await this.rules.load(true);
      await this.#builtinsLoading;
      await reloadBuiltins(this.#builtins, this.roots, (name, e) => this.log.error({ builtin: name, err: e.message }, 'builtin reload failed'));
      return { generation: st.generation, files: st.files.length, errors: st.errors, refused: st.refusal };
    } finally {
      this.#reloading--;
      notify?.ready(this.#statusLine());
    }
  }

  #reloadConfig(): void {
    const file = this.config.configFile;
    try {
      const { config: next, warnings } = loadConfigFile(file, false);
      for (const w of warnings) this.log.warn(w);
      if (next.logLevel !== this.config.logLevel) {
        this.config.logLevel = next.logLevel;
        this.log.level = normalizeLevel(next.logLevel);
      }
      if (next.maxWorkers !== this.config.maxWorkers) {
        this.config.maxWorkers = next.maxWorkers;
        this.queue.childrenMax = next.maxWorkers > 0 ? next.maxWorkers : defaultChildrenMax();
      }
      this.config.execTimeout = next.execTimeout;
      this.config.eventTimeout = next.eventTimeout;
      this.config.reloadMaxImpact = next.reloadMaxImpact;
      this.log.info({ file }, 'config reloaded (roots, rules directories and backends need a restart)');
    } catch (e) {
      this.log.error({ file, err: (e as Error).message }, 'config change rejected, previous settings stay');
    }
  }

  status(): Record<string, unknown> {
    const rules = this.rules.status();
    return {
      pid: process.pid,
      uptimeMs: Date.now() - this.#startedAt,
      readyMs: this.readyMs,
      roots: this.roots,
      mknod: this.mknod,
      childrenMax: this.queue.childrenMax,
      execQueue: this.queue.stopped ? 'stopped' : 'running',
      queue: { size: this.queue.size, running: this.queue.running, ...this.queue.stats },
      lastSeqnum: this.#lastSeqnum,
      kernelSeqnum: kernelSeqnum(this.roots),
      counters: { ...this.counters },
      netlink: this.#kernel ? { ...this.#kernel.counters } : undefined,
      broadcaster: this.#broadcaster ? { port: this.#broadcaster.port, ...this.#broadcaster.counters } : undefined,
      rules: { generation: rules.generation, loadedAt: rules.loadedAt, files: rules.files.length, fromCache: rules.fromCache, errors: rules.errors, rejected: rules.files.filter((f) => !f.ok).map((f) => f.path), refused: rules.refused },
      logLevel: this.log.level,
      memory: { ...process.memoryUsage(), collections: this.#heap.collections, collectionsSkipped: this.#heap.collectionsSkipped },
      watch: this.#watch?.status(),
      resync: this.resyncer.status(),
      control: this.#control?.stats(),
      udevControl: this.#udevCtrl?.stats(),
      serviceManager: {
        notify: this.#notifier ? { socket: this.#notifier.address, watchdogRunning: this.#notifier.watchdogRunning, ...this.#notifier.stats } : undefined,
        kernelSocket: this.#kernel ? { inode: this.#kernel.inode, adopted: this.#kernel.adopted, kept: this.#kernelKept } : undefined,
        handedOver: this.#handedOver,
      },
      globalProperties: Object.fromEntries(this.globalProperties),
      stats: { enabled: this.#stats !== undefined, slowMs: this.#stats?.slowMs },
      metricsFile: this.#metricsFile?.status(),
      nfd: this.#features?.status(),
      ...this.hooks.status?.(),
    };
  }

  #controlHandler(): ControlHandler {
    return {
      ping: () => ({ pong: true, pid: process.pid }),
      reload: () => this.reload(),
      exit: () => {
        setImmediate(() => void this.stop());
        return { exiting: true };
      },
      setLogLevel: (level) => {
        const l = normalizeLevel(level);
        this.log.level = l;
        if (this.log !== rootLog()) setLogLevel(l);
        this.config.logLevel = l;
        return { logLevel: l };
      },
      stopExecQueue: () => {
        this.queue.stop();
        return { execQueue: 'stopped' };
      },
      startExecQueue: () => {
        this.queue.start();
        return { execQueue: 'running' };
      },
      setChildrenMax: (n) => {
        this.queue.childrenMax = n > 0 ? n : defaultChildrenMax();
        this.#notifier?.status(this.#statusLine());
        return { childrenMax: this.queue.childrenMax };
      },
      settle: async (timeoutMs) => {
        const settled = await this.settle(timeoutMs);
        return { settled, queued: this.queue.size, lastSeqnum: this.#lastSeqnum };
      },
      status: () => this.status(),
      setEnv: (key, value) => {
        if (value === undefined) this.globalProperties.delete(key);
        else this.globalProperties.set(key, value);
        return { globalProperties: Object.fromEntries(this.globalProperties) };
      },
      catchUp: () => this.catchUp(),
      stats: (req) => this.#statsRequest(req),
      test: (req) => this.#testRequest(req),
    };
  }

  /**
   * The control socket's `test` request (devctl test): the device's event run in test mode with the rules devctl
   * would load, when the daemon has the same roots, rules directories and --resolve-names: the rules in force, with
   * the files changed on disk since the last load compiled for the test (RulesManager.testSet). Otherwise declined,
   * with the reason: devctl then runs the event itself.
   */
  async #testRequest(req: TestRequest): Promise<Record<string, unknown>> {
    const declined = (reason: string) => ({ declined: reason });
    if (!this.#engine.test) return declined('this engine runs no tests');
    await this.#builtinsLoading?.catch(() => undefined);
    if (req.sysfs !== this.roots.sysfs || req.dev !== this.roots.dev) return declined('other sysfs or dev roots');
    if (!sameList(req.rulesDirs, this.rules.dirs)) return declined('other rules directories');
    if (req.resolveNames !== this.config.resolveNames) return declined('other --resolve-names');
    const rules = await this.rules.testSet(MAX_TEST_COMPILES);
    if ('declined' in rules) return declined(rules.declined);
    let device: Device;
    try {
      device = findDevice(this.roots, req.device);
    } catch (e) {
      throw new ControlError((e as Error).message);
    }
    device.action = req.action;
    return (await this.#engine.test(this.#context(), rules.ruleSet, device, rules.inForce)) as unknown as Record<string, unknown>;
  }

  /** The control socket's `stats` request: turn the accounting on or off, answer a snapshot, reset. */
  #statsRequest(req: StatsRequest): Record<string, unknown> {
    if (req.sort !== undefined && !(SORT_KEYS as readonly string[]).includes(req.sort)) throw new Error(`unknown sort '${req.sort}' (expected one of ${SORT_KEYS.join(', ')})`);
    if (req.enable === true && !this.#stats) this.#stats = this.#newStats();
    if (req.enable === false && this.#stats) {
      this.#stats.close();
      this.#stats = undefined;
    }
    const snap = this.#stats?.snapshot({ top: req.top, sort: req.sort as SortKey | undefined });
    if (req.reset) this.#stats?.reset();
    return { enabled: this.#stats !== undefined, ...snap };
  }

  #newStats(): StatsRecorder {
    return new StatsRecorder({ slowMs: this.config.statsSlowMs, sample: this.config.statsSample, log: this.log });
  }

  /** The metrics (src/export/metrics.ts) in Prometheus's text format or OpenMetrics. */
  metrics(format: MetricsFormat): string {
    return renderMetrics({ status: this.status() as StatusView, stats: this.#stats?.snapshot({ top: TOP_RULES }) }, format);
  }

  // ------------------------------------------------------------------ exit

  /** Stops receiving, lets running events finish (queued ones are dropped), closes everything. */
  stop(): Promise<void> {
    this.#queueArrived(); // read before the stop: queued like the rest
    if (!this.#stopping) this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.log.info({ running: this.queue.running, queued: this.queue.size - this.queue.running }, 'devmaster exiting');
    this.#notifier?.stopping();
    const resyncDone = this.resyncer.stop();
    // A socket the manager keeps is let go at once: what the kernel sends from now on waits in it for the next
    // daemon. Our own socket is read up to here; anything later shows as a seqnum change at the next start.
    let kernelSocket: { inode: number; drops: number } | undefined;
    if (this.#kernel && this.#kernelKept && this.#kernel.inode !== undefined) kernelSocket = { inode: this.#kernel.inode, drops: this.#kernel.drops ?? 0 };
    else if (this.#kernel) await this.catchUp();
    const seqnum = kernelSeqnum(this.roots);
    this.#kernel?.close();
    this.#kernel = undefined;
    // with the kernel socket kept, the events not started yet are kept too (<run>/devmaster/pending)
    const pending: Uevent[] = [];
    const dropped = this.queue.dropQueued(kernelSocket ? (p) => pending.push(p.uevent) : undefined);
    let kept = 0;
    if (pending.length) {
      try {
        savePending(this.roots.run, pending);
        kept = pending.length;
        this.log.info({ kept }, 'queued events kept for the next daemon');
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'cannot keep the queued events for the next daemon');
      }
    }
    if (dropped > kept) this.log.warn({ dropped: dropped - kept }, 'queued events dropped at exit (the next start resynchronizes)');
    const ok = await this.queue.whenIdle(Math.max(1, this.config.eventTimeout) * 1000);
    if (!ok) this.log.error({ running: this.queue.running }, 'events still running at exit');
    await resyncDone;
    if (this.resyncer.registry) {
      this.resyncer.flush();
      try {
        writeRunState(this.roots.run, { pid: process.pid, clean: dropped === kept && ok, seqnum, kernelSocket });
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'cannot record the clean stop');
      }
    }
    await this.#close();
    this.#resolveStopped();
  }

  async #close(): Promise<void> {
    this.queue.close();
    this.#deadlines.close();
    if (this.#changes) {
      unwatchRecords(this.#changes);
      unwatchDevnumLinks(this.#changes);
      this.#changes.close();
      this.#changes = undefined;
    }
    clearTimeout(this.#registryTimer);
    clearTimeout(this.#compiledRulesTimer);
    this.#heap.stop();
    clearTimeout(this.#leftoverTimer);
    killLeftoverGroups();
    this.#notifier?.stopWatchdog();
    this.#metricsFile?.close(); // the final counters
    this.#metricsFile = undefined;
    this.#features?.close();
    this.#features = undefined;
    this.#stats?.close();
    await this.#watch?.close();
    this.#watch = undefined;
    this.#kernel?.close();
    this.#kernel = undefined;
    await this.rules.close();
    await this.#control?.close();
    this.#control = undefined;
    this.#udevCtrl?.close();
    this.#udevCtrl = undefined;
    // a stop right after READY=1: what the init opens is freed too (before READY=1 it has not begun)
    if (this.readyMs) await this.#builtinsLoading?.catch(() => undefined);
    exitBuiltins(this.#builtins);
    this.#builtins = new Map();
    this.#broadcaster?.close();
    this.#broadcaster = undefined;
    closeRename();
  }
}
