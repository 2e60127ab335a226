// Runs systemd's udev-test conformance cases (../shared/conformance/udev-test, see its SPEC.md) through
// devMaster's real loader, compiler, executor and apply code, against the fake sysfs tree.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pino } from 'pino';
import { Device } from '../../src/device/device.js';
import { splitDevT } from '../../src/sys/devnum.js';
import type { Roots } from '../../src/device/roots.js';
import { loadRules } from '../../src/rules/load.js';
import { processEvent, runProgramList, type EventContext } from '../../src/event/process.js';
import { mknod } from '../../src/sys/file.js';
import { lookupGroup, lookupUser } from '../../src/sys/users.js';
import { initBuiltins } from '../../src/builtins/registry.js';
import type { Builtin } from '../../src/builtins/types.js';

export const SUITE_DIR = resolve(join(import.meta.dirname, '..', '..', '..', 'shared', 'conformance', 'udev-test'));

interface DeviceCase {
  devpath: string;
  devnode?: string;
  exp_links?: string[];
  not_exp_links?: string[];
  exp_perms?: string;
  exp_majorminor?: string;
  exp_add_error?: string;
  exp_rem_error?: string;
  exp_nodev_error?: string;
}

interface Case {
  index: number;
  desc: string;
  rules: string;
  devices: DeviceCase[];
  option?: string;
  sleep_us?: number;
  repeat?: number;
}

export interface CaseResult {
  index: number;
  desc: string;
  passed: boolean;
  failures: string[];
}

export interface SuiteResult {
  passed: number;
  failed: number;
  results: CaseResult[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

class Env {
  base: string;
  roots!: Roots;
  rulesDir!: string;
  constructor(private tarball: string) {
    this.base = mkdtempSync(join(tmpdir(), 'dm-conformance-'));
    this.reset();
  }
  reset(): void {
    for (const d of ['sys', 'dev', 'run']) rmSync(join(this.base, d), { recursive: true, force: true });
    execFileSync('tar', ['-xJf', this.tarball, '-C', this.base]);
    mkdirSync(join(this.base, 'dev'), { mode: 0o755 });
    mknod(join(this.base, 'dev', 'null'), 'c', 0o666, 1, 3);
    mkdirSync(join(this.base, 'run', 'rules.d'), { recursive: true });
    this.rulesDir = join(this.base, 'run', 'rules.d');
    this.roots = { sysfs: join(this.base, 'sys'), dev: join(this.base, 'dev'), run: join(this.base, 'run') };
  }
  cleanup(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}

function nodePath(env: Env, d: DeviceCase): string {
  const name = d.devnode ?? d.devpath.slice(d.devpath.lastIndexOf('/') + 1);
  return join(env.roots.dev, name);
}

function ueventOf(env: Env, devpath: string): Map<string, string> {
  const m = new Map<string, string>();
  try {
    for (const l of readFileSync(join(env.roots.sysfs, devpath, 'uevent'), 'utf8').split('\n')) {
      const eq = l.indexOf('=');
      if (eq > 0) m.set(l.slice(0, eq), l.slice(eq + 1));
    }
  } catch {
    /* none */
  }
  return m;
}

/** devtmpfs emulation around an event, as test-udev does it. */
function emulateDevtmpfs(env: Env, devpath: string, action: 'add' | 'remove'): void {
  const u = ueventOf(env, devpath);
  const name = u.get('DEVNAME');
  if (!name || !u.has('MAJOR')) return;
  const path = join(env.roots.dev, name);
  if (action === 'add') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    let isBlock = false;
    try {
      isBlock = readlinkSync(join(env.roots.sysfs, devpath, 'subsystem')).endsWith('/block');
    } catch {
      /* char */
    }
    try {
      mknod(path, isBlock ? 'b' : 'c', 0o600, Number(u.get('MAJOR')), Number(u.get('MINOR')));
      chownSync(path, 0, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } else {
    unlinkSync(path);
    for (let d = dirname(path); d !== env.roots.dev && d.startsWith(env.roots.dev + '/'); d = dirname(d)) {
      try {
        rmdirSync(d);
      } catch {
        break;
      }
    }
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function resolvesTo(link: string, target: string): boolean {
  try {
    return realpathSync(link) === realpathSync(target);
  } catch {
    return false;
  }
}

function idOf(s: string, kind: 'user' | 'group'): number {
  const v = kind === 'user' ? lookupUser(s) : lookupGroup(s);
  return v ?? Number(s);
}

function checkAfterAdd(env: Env, d: DeviceCase, failures: string[]): void {
  const node = nodePath(env, d);
  let st;
  try {
    st = lstatSync(node);
  } catch {
    st = undefined;
  }
  const isNode = !!st && (st.isBlockDevice() || st.isCharacterDevice());
  if (!isNode) failures.push(`${d.devpath}: no device node at ${node}`);
  if (d.exp_perms && st) {
    const [o, g, m] = d.exp_perms.split(':');
    const bad: string[] = [];
    if (o && st.uid !== idOf(o, 'user')) bad.push(`uid ${st.uid} != ${o}`);
    if (g && st.gid !== idOf(g, 'group')) bad.push(`gid ${st.gid} != ${g}`);
    if (m && (st.mode & 0o7777) !== parseInt(m, 8)) bad.push(`mode ${(st.mode & 0o7777).toString(8)} != ${m}`);
    if (bad.length) failures.push(`${d.devpath}: perms ${bad.join(', ')}`);
  }
  if (d.exp_majorminor && st) {
    const [ma, mi] = d.exp_majorminor.split(':');
    const n = splitDevT(st.rdev);
    if ((ma && n.major !== Number(ma)) || (mi && n.minor !== Number(mi))) failures.push(`${d.devpath}: devnum ${n.major}:${n.minor} != ${d.exp_majorminor}`);
  }
  for (const l of d.exp_links ?? []) {
    const p = env.roots.dev + '/' + l;
    let isLink = false;
    try {
      isLink = lstatSync(p).isSymbolicLink();
    } catch {
      /* missing */
    }
    if (!isLink) {
      if (!d.exp_add_error) failures.push(`${d.devpath}: link ${l} missing`);
      continue;
    }
    if (!isNode || !resolvesTo(p, node)) failures.push(`${d.devpath}: link ${l} points elsewhere (${readlinkSync(p)})`);
  }
  for (const l of d.not_exp_links ?? []) {
    const p = env.roots.dev + '/' + l;
    if (!exists(p)) continue;
    if (isNode && resolvesTo(p, node) && !d.exp_nodev_error) failures.push(`${d.devpath}: unexpected link ${l}`);
  }
}

function checkAfterRemove(env: Env, d: DeviceCase, failures: string[]): void {
  const node = nodePath(env, d);
  if (existsSync(node)) failures.push(`${d.devpath}: node ${node} still there after remove`);
  for (const l of d.exp_links ?? []) {
    const p = env.roots.dev + '/' + l;
    if (exists(p) && !d.exp_rem_error) failures.push(`${d.devpath}: link ${l} still there after remove`);
  }
}

export async function runSuite(opts: { only?: number[]; log?: (s: string) => void } = {}): Promise<SuiteResult> {
  const data = JSON.parse(readFileSync(join(SUITE_DIR, 'cases.json'), 'utf8')) as { cases: Case[] };
  const env = new Env(join(SUITE_DIR, 'sys.tar.xz'));
  const logger = pino({ level: process.env.CONFORMANCE_LOG ?? 'silent' });
  const builtins: Map<string, Builtin> = await initBuiltins(env.roots);
  const results: CaseResult[] = [];
  try {
    for (const c of data.cases) {
      if (opts.only && !opts.only.includes(c.index)) continue;
      if (opts.only) env.reset();
      const failures: string[] = [];
      writeFileSync(join(env.rulesDir, 'udev-test.rules'), c.rules);
      const load = await loadRules([env.rulesDir]);
      const ctx: EventContext = { roots: env.roots, ruleSet: load.ruleSet, log: logger, test: false, mknod: false, execTimeoutMs: 3000, builtins };
      const phase = async (action: 'add' | 'remove') => {
        await Promise.all(
          c.devices.map(async (d, k) => {
            if (c.sleep_us) await sleep((k * c.sleep_us) / 1000);
            try {
              emulateDevtmpfs(env, d.devpath, action);
              const dev = Device.fromDevpath(env.roots, d.devpath);
              dev.action = action;
              const res = await processEvent(ctx, dev);
              await runProgramList(ctx, res);
              if (res.failed) failures.push(`${d.devpath}: ${action} event failed: ${res.errors.join('; ')}`);
            } catch (e) {
              failures.push(`${d.devpath}: ${action} event error: ${(e as Error).message}`);
            }
          }),
        );
      };
      for (let iter = 0; iter < (c.repeat ?? 1); iter++) {
        await phase('add');
        for (const d of c.devices) checkAfterAdd(env, d, failures);
        if (c.option === 'keep') break;
        await phase('remove');
        for (const d of c.devices) checkAfterRemove(env, d, failures);
      }
      if (c.option === 'clean') env.reset();
      const r = { index: c.index, desc: c.desc, passed: failures.length === 0, failures };
      results.push(r);
      opts.log?.(`${r.passed ? 'PASS' : 'FAIL'} ${c.index} ${c.desc}${r.passed ? '' : '\n    ' + failures.join('\n    ')}`);
    }
  } finally {
    env.cleanup();
  }
  const passed = results.filter((r) => r.passed).length;
  return { passed, failed: results.length - passed, results };
}

/** The floor recorded in the repo: npm test fails when fewer cases pass. */
export function conformanceFloor(): number {
  const f = JSON.parse(readFileSync(join(import.meta.dirname, 'floor.json'), 'utf8')) as { passed: number };
  return f.passed;
}


