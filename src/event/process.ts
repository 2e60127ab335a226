// One event, start to finish: old database → rules → (rename hook) → node permissions and links → tags and
// database. RUN programs, the broadcast and units are the caller's (the daemon's) business afterwards.
import { chmodSync, chownSync, lstatSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { Device } from '../device/device.js';
import { splitDevT, type DevNum } from '../sys/devnum.js';
import { dbPath, deleteDb, readDb, updateTagIndex, writeDb, type DbParseIssue, type DbRecord } from '../device/db.js';
import { devPath, DEV_PREFIX, type Roots } from '../device/roots.js';
import type { Logger } from '../log.js';
import type { Builtin } from '../builtins/types.js';
import type { RuleSet } from '../rules/load.js';
import { EventState, executeRules, runBuiltin, propertiesEnv, type RuleCost, type RunItem, type TraceEntry } from '../rules/exec.js';
import { placeDevnumLink, removeDevnumLink, updateLink } from './links.js';
import { applyStaticNodes } from './static-nodes.js';
import { mknod } from '../sys/file.js';
import { applySeclabels } from './seclabel.js';
import { runCommandLine } from '../rules/spawn.js';
import { isSystemError, lstatIfAny, statIfAny } from '../util/fs.js';
import { monotonicUsec, nowMs } from '../util/clock.js';
import { checkpoint, EventCancelled } from '../util/cancel.js';
import { ConfinementError, mkdirInside, setNodePermissions } from '../device/confine.js';

export interface EventContext {
  roots: Roots;
  ruleSet: RuleSet;
  log: Logger;
  /** devctl test: run the rules, apply nothing. */
  test: boolean;
  /** Create missing device nodes with mknod. */
  mknod: boolean;
  execTimeoutMs: number;
  builtins: ReadonlyMap<string, Builtin>;
  /**
   * Renames a network interface (NAME=, undefined for no rename) and gives it the alternative names net_setup_link
   * asked for; called after the rules of an "add", before the database is written.
   */
  renameInterface?: (device: Device, newName: string | undefined, altnames: readonly string[], signal?: AbortSignal) => Promise<void>;
  trace?: TraceEntry[];
  /** The daemon's warm-up (src/daemon/warm-up.ts): PROGRAM and IMPORT{program} fail without running anything. */
  noPrograms?: boolean;
  /**
   * Called after the rules ran, before the database is written (on remove: after the rules, the record being
   * already deleted). What it sets in device.dbProperties is stored and broadcast (e.g. the units record).
   */
  afterRules?: (device: Device, dbOld: DbRecord | undefined) => void;
  /** Monotonic clock in microseconds (for USEC_INITIALIZED); injectable for tests. */
  nowUsec?: () => number;
  /**
   * Aborted when the daemon gives the event up (event_timeout), as udevd kills its worker: the rules stop, running
   * programs are killed, nothing more is applied.
   */
  signal?: AbortSignal;
  /** Cost accounting (src/stats), only when stats are on. */
  cost?: EventCost;
}

/** The per-event cost hooks: the rule lines' (RuleCost) and the time the rules took as a whole. */
export interface EventCost extends RuleCost {
  /** Milliseconds spent in executeRules (processEvent adds to it). */
  rulesMs: number;
}

export interface EventResult {
  /** The processed device: what is broadcast and stored. */
  device: Device;
  state: EventState;
  runList: RunItem[];
  /** NAME= for a network interface (already applied when ctx.renameInterface was given). */
  rename: string | undefined;
  /** Owner, group and mode applied to the node (or that would be, in test mode). */
  node: { uid: number; gid: number; mode: number } | undefined;
  failed: boolean;
  errors: string[];
  /** The database record before the event. */
  dbOld: DbRecord | undefined;
}

/**
 * Runs the rules for one event and applies the result. Given up (ctx.signal aborted with an EventCancelled), it
 * throws the cancellation after its next await and applies nothing more. What it applies once the rules and the
 * rename are done happens synchronously and as a whole: the record is written last, and a failure on the way (a
 * full run root) puts back what was changed before it (commit()) and is thrown.
 */
export function processEvent(ctx: EventContext, device: Device): Promise<EventResult> {
  try {
    return Promise.resolve(processEventNow(ctx, device));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * processEvent(), whose result is a promise only when the event waited (a program or a builtin that waits, a
 * rename): most events wait for nothing, and the daemon's queue takes their result at once.
 */
export function processEventNow(ctx: EventContext, device: Device): EventResult | Promise<EventResult> {
  const action = device.action ?? 'add';
  const id = device.id;
  const issues: DbParseIssue[] = [];
  const dbOld = readDb(ctx.roots.run, id, issues);
  // a damaged entry is used as far as it goes, and said
  for (const is of issues) ctx.log.warn(`${dbPath(ctx.roots.run, id)}:${is.line}: ${is.message}, line ignored`);
  const ev = new EventState(device, dbOld);

  if (action === 'remove') {
    // as udevd: the record and the tag index go first, the rules run on what the record said
    if (dbOld) device.applyDb(dbOld);
    if (!ctx.test && dbOld) {
      updateTagIndex(ctx.roots.run, id, dbOld.tags, []);
      deleteDb(ctx.roots.run, id);
    }
  } else if (!ctx.test && ctx.mknod && device.devnum && device.devname) {
    // with mknod the node exists before the rules, as on a devtmpfs (blkid, ata_id, ... open it)
    makeNode(ctx, device);
  }

  const waiting = runRules(ctx, ev);
  if (waiting === undefined) return afterRules(ctx, device, ev, dbOld, action);
  return waiting.then(() => afterRules(ctx, device, ev, dbOld, action));
}

/**
 * The rules: a promise only when a line waited for a program or a builtin. Timed as a whole with the statistics
 * on, the wait included.
 */
function runRules(ctx: EventContext, ev: EventState): void | Promise<void> {
  const cost = ctx.cost;
  if (cost === undefined) return executeRules(ctx.ruleSet, ev, ctx);
  const t0 = nowMs();
  const took = (): void => void (cost.rulesMs += nowMs() - t0);
  let waiting: void | Promise<void>;
  try {
    waiting = executeRules(ctx.ruleSet, ev, ctx);
  } catch (e) {
    took();
    throw e;
  }
  if (waiting === undefined) return took();
  return waiting.finally(took);
}

/** What follows the rules: the rename (the only wait), then everything applied at once. */
function afterRules(ctx: EventContext, device: Device, ev: EventState, dbOld: DbRecord | undefined, action: string): EventResult | Promise<EventResult> {
  checkpoint(ctx.signal); // given up meanwhile: nothing (more) is applied

  if (action === 'remove') {
    if (!ctx.test) ctx.afterRules?.(device, dbOld);
    if (!ctx.test && device.devnum) removeNode(ctx, device);
    return { device, state: ev, runList: ev.runList, rename: undefined, node: undefined, failed: ev.failed, errors: ev.errors.slice(), dbOld };
  }

  let rename = ev.name;
  if (rename !== undefined && rename === device.sysname) rename = undefined;
  const altnames = action === 'add' ? (ev.builtinEvent.altnames ?? []) : [];
  if ((rename !== undefined || altnames.length) && ctx.renameInterface && !ctx.test) return renameThenApply(ctx, device, ev, dbOld, action, rename, altnames);
  return apply(ctx, device, ev, dbOld, action, rename, []);
}

async function renameThenApply(ctx: EventContext, device: Device, ev: EventState, dbOld: DbRecord | undefined, action: string, rename: string | undefined, altnames: readonly string[]): Promise<EventResult> {
  const errors: string[] = [];
  try {
    await ctx.renameInterface!(device, rename, altnames, ctx.signal);
  } catch (e) {
    if (e instanceof EventCancelled) throw e;
    const msg = `failed to rename network interface ${device.sysname} to '${rename}': ${(e as Error).message}`;
    ctx.log.error(msg);
    errors.push(msg);
  }
  checkpoint(ctx.signal); // given up while renaming: the rest is not applied
  return apply(ctx, device, ev, dbOld, action, rename, errors);
}

/** From here on nothing waits: the event is applied whole, or (a write failed) put back as far as it can be. */
function apply(ctx: EventContext, device: Device, ev: EventState, dbOld: DbRecord | undefined, action: string, rename: string | undefined, errors: string[]): EventResult {
  const node = device.devnum ? nodeSettings(ev, action) : undefined;
  // keep the first initialization time; remember every tag the device ever had
  device.usecInitialized = dbOld?.usecInitialized || (ctx.nowUsec ?? monotonicUsec)();
  dbOld?.tags.forEach((t) => device.tags.add(t));
  if (!ctx.test) commit(ctx, device, ev, node, dbOld);
  return { device, state: ev, runList: ev.runList, rename, node: node?.apply ? node : undefined, failed: ev.failed, errors: errors.concat(ev.errors), dbOld };
}

/**
 * Applies an event's outcome: node owner/group/mode and links, the afterRules hook, the tag index, and last the
 * database record (written atomically: the old one stays when that fails). When a step throws (ENOSPC on a full
 * run root), the steps done are undone in reverse order (node permissions, link claims and links, tag index) and
 * the error is thrown: the event fails whole, the previous record and state stay, the next event starts clean.
 */
function commit(ctx: EventContext, device: Device, ev: EventState, node: NodeSettings | undefined, dbOld: DbRecord | undefined): void {
  const run = ctx.roots.run;
  const id = device.id;
  const undo: (() => void)[] = [];
  try {
    if (device.devnum) applyNode(ctx, device, ev, node, dbOld, undo);
    ctx.afterRules?.(device, dbOld);
    const oldTags = dbOld?.tags ?? [];
    undo.push(() => updateTagIndex(run, id, device.tags, oldTags));
    updateTagIndex(run, id, oldTags, device.tags);
    writeDb(
      run,
      id,
      {
        hasDevnode: (device.devnum?.major ?? 0) > 0,
        links: device.devlinks,
        linkPriority: device.devlinkPriority,
        usecInitialized: device.usecInitialized,
        properties: device.dbProperties,
        tags: device.tags,
        currentTags: device.currentTags,
      },
      { keepEmpty: (device.devnum?.major ?? 0) > 0 || device.ifindex !== undefined, persist: device.dbPersist, previous: dbOld },
    );
  } catch (e) {
    ctx.log.error({ devpath: device.devpath, err: (e as Error).message }, 'applying the event failed; putting back what it changed');
    for (const step of undo.reverse()) {
      try {
        step();
      } catch (e2) {
        if (!isSystemError(e2)) throw e2;
        ctx.log.error({ devpath: device.devpath, err: e2.message }, 'cannot put back a change of the failed event');
      }
    }
    throw e;
  }
}

interface NodeSettings {
  uid: number;
  gid: number;
  mode: number;
  /** Whether permissions are applied at all (always on add; otherwise only when the rules set some). */
  apply: boolean;
}

function nodeSettings(ev: EventState, action: string): NodeSettings {
  const d = ev.device;
  const uid = ev.uid ?? d.devuid;
  const gid = ev.gid ?? d.devgid;
  let mode = ev.mode ?? d.devmode;
  // a group without a mode upgrades the mode for the group, as udev does
  if (mode === undefined) mode = gid !== undefined ? 0o660 : 0o600;
  const apply = action === 'add' || ev.uid !== undefined || ev.gid !== undefined || ev.mode !== undefined;
  return { uid: uid ?? 0, gid: gid ?? 0, mode, apply };
}

/**
 * mknod mode (no devtmpfs): makes a missing node as a devtmpfs would have it before the event — the kernel's
 * DEVMODE (else 0600), DEVUID/DEVGID (else root), no umask — plus the static_node= settings udev applies at
 * start-up to nodes that exist. Called before the rules (builtins and programs open the node) and, as a
 * fallback, when the node is applied. Returns the node's stat, undefined when it could not be made.
 */
export function makeNode(ctx: EventContext, device: Device): Stats | undefined {
  const devnode = device.devname!;
  const dn = device.devnum!;
  const path = devPath(ctx.roots, devnode);
  const existing = lstatIfAny(path);
  if (existing) return existing;
  const mode = device.devmode ?? 0o600;
  try {
    mkdirInside(ctx.roots.dev, dirname(path), 0o755);
    mknod(path, device.isBlock ? 'b' : 'c', mode, dn.major, dn.minor);
    chmodSync(path, mode); // mknod(2) applies the umask, a devtmpfs does not
    chownSync(path, device.devuid ?? 0, device.devgid ?? 0);
    applyStaticNodes(ctx.ruleSet, ctx.roots, ctx.log, devnode.slice(DEV_PREFIX.length + 1));
    return lstatSync(path);
  } catch (e) {
    if (!(e instanceof ConfinementError) && !isSystemError(e)) throw e;
    ctx.log.error({ devpath: device.devpath }, `cannot create device node ${path}: ${e.message}`);
    return undefined;
  }
}

/**
 * Makes the node (mknod when asked), sets owner/group/mode, and updates the links; pushes onto `undo` what puts
 * the permissions and the links back as they were.
 */
function applyNode(ctx: EventContext, device: Device, ev: EventState, node: NodeSettings | undefined, dbOld: DbRecord | undefined, undo: (() => void)[]): void {
  const devnode = device.devname;
  const dn = device.devnum!;
  if (!devnode) return;
  if (node?.apply) {
    const path = devPath(ctx.roots, devnode);
    if (ctx.mknod) makeNode(ctx, device);
    const want = { block: device.isBlock, rdev: (st: Stats) => isNumber(st, dn) };
    try {
      const before = setNodePermissions(path, want, node);
      if (before) undo.push(() => setNodePermissions(path, want, before));
      if (device.action === 'add' && ev.seclabels?.size && isNodeOf(path, device)) applySeclabels(path, ev.seclabels, ctx.log);
    } catch (e) {
      if (e instanceof ConfinementError) ctx.log.warn({ devpath: device.devpath }, `${e.message}, not changing it`);
      else if (isSystemError(e)) ctx.log.error({ devpath: device.devpath }, `cannot set permissions of ${path}: ${e.message}`);
      else throw e;
    }
  } else if (node && ctx.mknod) makeNode(ctx, device);
  const owner = { id: device.id, devnode, priority: device.devlinkPriority };
  const oldLinks = dbOld?.links ?? [];
  const log = { error: (msg: string) => ctx.log.error({ devpath: device.devpath }, msg) }; // a refused or failed link names its device
  undo.push(() => {
    for (const l of device.devlinks) if (!oldLinks.includes(l)) updateLink(ctx.roots, l, owner, false, log);
    for (const l of oldLinks) updateLink(ctx.roots, l, { ...owner, priority: dbOld?.linkPriority ?? 0 }, true, log);
  });
  // links the device had before but not now are released first
  for (const old of oldLinks) if (!device.devlinks.has(old)) updateLink(ctx.roots, old, owner, false, log);
  for (const l of device.devlinks) updateLink(ctx.roots, l, owner, true, log);
  placeDevnumLink(ctx.roots, device.isBlock, dn.major, dn.minor, devnode, log);
}

function isNumber(st: Stats, dn: DevNum): boolean {
  const n = splitDevT(st.rdev);
  return n.major === dn.major && n.minor === dn.minor;
}

function removeNode(ctx: EventContext, device: Device): void {
  const devnode = device.devname;
  const dn = device.devnum!;
  if (devnode) {
    const owner = { id: device.id, devnode, priority: device.devlinkPriority };
    for (const l of device.devlinks) updateLink(ctx.roots, l, owner, false, ctx.log);
  }
  removeDevnumLink(ctx.roots, device.isBlock, dn.major, dn.minor);
}

/** Runs the RUN list of a processed event (programs with the device's properties, builtins in-process). */
export async function runProgramList(ctx: Omit<EventContext, 'ruleSet'>, res: EventResult): Promise<void> {
  for (const item of res.runList) {
    if (ctx.signal?.aborted) return;
    ctx.cost?.childStart('run', item.file, item.line, item.command);
    if (item.builtin) {
      await runBuiltin(ctx.builtins.get(item.builtin), item.builtin, item.command, res.device, res.state, ctx);
      ctx.cost?.childEnd();
      continue;
    }
    const r = await runCommandLine(item.command, { env: propertiesEnv(res.device), timeoutMs: ctx.execTimeoutMs, captureStdout: false, signal: ctx.signal });
    ctx.cost?.childEnd();
    if (r.timedOut) {
      res.failed = true;
      const msg = `${item.file}:${item.line} RUN "${item.command}" timed out after ${ctx.execTimeoutMs} ms, killed`;
      res.errors.push(msg);
      ctx.log.error(msg);
    } else if (r.error) ctx.log.warn(`${item.file}:${item.line} failed to execute "${item.command}": ${r.error.message}`);
    else if (r.code !== 0) ctx.log.debug(`${item.file}:${item.line} "${item.command}" exited with ${r.code ?? r.signal}`);
    if (r.stderr) ctx.log.debug(`${item.file}:${item.line} "${item.command}" stderr: ${r.stderr.trimEnd()}`);
  }
}

/** Checks that a stat'ed path is the node of a device (type and number). */
export function isNodeOf(path: string, device: Device): boolean {
  const st = statIfAny(path);
  const dn = device.devnum;
  if (!st || !dn) return false;
  const n = splitDevT(st.rdev);
  return (device.isBlock ? st.isBlockDevice() : st.isCharacterDevice()) && n.major === dn.major && n.minor === dn.minor;
}
