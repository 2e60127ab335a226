// Differential test: Debian's systemd-udevd (unpacked, never installed) and devMaster's daemon run at the same
// time with the same rules copy, the same programs and the same hwdb.bin, fed by the same kernel events:
//   1. coldplug: "change" written to every device's uevent file (one round feeds both daemons),
//   2. hotplug: a zram disk and an ifb interface of our own added ("add" events, the path most rules take),
//   3. their removal ("remove" events).
// After 1+2 and after 3 their databases, tag indexes, static_node tags and dev roots are compared device by
// device. How it runs and what it found: docs/COMPAT.md.
//
// Safety (test/helpers/udevd.ts): udevd lives in a private mount namespace whose /run and /dev are temp
// directories of this test (the /dev one holding the nodes a fresh devtmpfs would have, made from sysfs) and whose /usr/lib/udev
// is a tmpfs with the rules copy (without the two NAME= files), the programs and the hwdb.bin. devMaster runs in a
// namespace of the same kind (so that relative program names resolve in /usr/lib/udev) with temp --dev/--run
// roots; there /dev is the real one, used read-only by the programs (ata_id, scsi_id, ... open nodes read-only).
// Both are killed (process group) in afterAll, also when a test fails.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { referenceUdev, referenceUdev257, REPO } from '../helpers/reference.js';
import { rulesCopy, devtmpfsNodes, startUdevd, spawnInNamespace, EventTracker, eventDeviceId, kernelSeqnum, sleep, EXCLUDED_RULES, type NsProcess, type KernelEvent } from '../helpers/udevd.js';
import { updateHwdb } from '../../src/hwdb/index.js';
import { listDevices } from '../../src/daemon/coldplug.js';
import { controlRequest } from '../../src/daemon/control.js';
import { readDatabase, readTagIndex, readDevRoot, sysDevice, compareDb, type Difference, type SysDevice, type DbFile, type DevEntry } from './compare.js';

// ------------------------------------------------------------------ the run

const root = process.getuid?.() === 0;

/** What both daemons left behind at one moment. */
interface Snapshot {
  udevdDb: Map<string, DbFile>;
  dmDb: Map<string, DbFile>;
  udevdTags: Set<string>;
  dmTags: Set<string>;
  udevdStaticTags: Set<string>;
  dmStaticTags: Set<string>;
  udevdDev: Map<string, DevEntry>;
  dmDev: Map<string, DevEntry>;
}

interface Context {
  devices: SysDevice[];
  /** Ids and node names of devices something else touched during the run (skipped). */
  disturbed: Set<string>;
  disturbedNames: Set<string>;
}

interface Comparison {
  diffs: Difference[];
  compared: number;
  identical: number;
}

function compareSnapshot(snap: Snapshot, ctx: Context): Comparison {
  const diffs: Difference[] = [];
  let compared = 0;
  let identical = 0;
  for (const id of [...new Set([...snap.udevdDb.keys(), ...snap.dmDb.keys()])].sort()) {
    if (ctx.disturbed.has(id)) continue;
    compared++;
    const dd = compareDb(id, snap.udevdDb.get(id), snap.dmDb.get(id));
    if (dd.length === 0) identical++;
    diffs.push(...dd);
  }
  const tagIds = (s: Set<string>) => [...s].filter((t) => !ctx.disturbed.has(t.slice(t.indexOf('/') + 1)));
  const [ut, dt] = [tagIds(snap.udevdTags), tagIds(snap.dmTags)];
  for (const t of ut.filter((x) => !dt.includes(x))) diffs.push({ where: t.slice(t.indexOf('/') + 1), what: `tag index ${t.split('/')[0]}`, udevd: 'present', devmaster: 'absent' });
  for (const t of dt.filter((x) => !ut.includes(x))) diffs.push({ where: t.slice(t.indexOf('/') + 1), what: `tag index ${t.split('/')[0]}`, udevd: 'absent', devmaster: 'present' });
  // static_node= tags (udevd records them at start-up for nodes that exist, devMaster also when it makes one)
  const [us, ds] = [[...snap.udevdStaticTags], [...snap.dmStaticTags]];
  for (const t of us.filter((x) => !ds.includes(x))) diffs.push({ where: `static:${t}`, what: 'static_node tag', udevd: 'present', devmaster: 'absent' });
  for (const t of ds.filter((x) => !us.includes(x))) diffs.push({ where: `static:${t}`, what: 'static_node tag', udevd: 'absent', devmaster: 'present' });

  // dev roots: every symlink and every node (udevd's nodes were made before it started, like a devtmpfs, and
  // for our hotplugged devices by us, as the kernel's devtmpfs would; devMaster makes its own with --mknod)
  for (const p of new Set([...snap.udevdDev.keys(), ...snap.dmDev.keys()])) {
    const a = snap.udevdDev.get(p);
    const b = snap.dmDev.get(p);
    const target = (e: DevEntry | undefined) => (e?.kind === 'link' ? join(dirname(p), e.target!).replace(/^\.\//, '') : undefined);
    if (ctx.disturbedNames.has(p) || ctx.disturbedNames.has(target(a)!) || ctx.disturbedNames.has(target(b)!)) continue;
    if (a?.kind === 'dir' || b?.kind === 'dir') continue; // directories follow from their entries
    if (a?.kind === 'link' || b?.kind === 'link') {
      if (a?.kind !== b?.kind || a?.target !== b?.target) diffs.push({ where: `dev:${p}`, what: 'symlink', udevd: a ? `${a.kind} ${a.target ?? ''}` : '(none)', devmaster: b ? `${b.kind} ${b.target ?? ''}` : '(none)' });
    } else {
      const fmt = (e: DevEntry | undefined) => (e ? `${e.kind} ${e.rdev} ${e.mode?.toString(8)} ${e.uid}:${e.gid}` : '(none)');
      if (fmt(a) !== fmt(b)) diffs.push({ where: `dev:${p}`, what: 'node', udevd: fmt(a), devmaster: fmt(b) });
    }
  }
  return { diffs, compared, identical };
}

function report(title: string, c: Comparison, snap: Snapshot): { text: string; bad: Difference[] } {
  const text = [
    `${title}: databases compared ${c.compared}, identical ${c.identical}; dev entries udevd ${snap.udevdDev.size}, devMaster ${snap.dmDev.size}`,
    `  differences ${c.diffs.length}`,
    ...c.diffs.map((x) => `  ${x.where} ${x.what}: udevd ${x.udevd} | devMaster ${x.devmaster}`),
  ].join('\n');
  return { text, bad: c.diffs };
}

/**
 * One comparison: Debian 12's udevd 252 (devMaster with the v252 naming scheme, which 252 has compiled in) or Debian 13's
 * udevd 257 with its own rules, programs and hwdb sources (devMaster on its default scheme, v257).
 */
function suite(version: 252 | 257): void {
describe(`devMaster against Debian udevd ${version}, same rules, same events`, () => {
  let base = '';
  let udevd: NsProcess | undefined;
  let dm: NsProcess | undefined;
  let tracker: EventTracker | undefined;
  let zram: number | undefined;
  const ifb = `dmcmp${version}x${process.pid % 10000}`;
  let ifbAdded = false;
  let triggered = 0;
  let rulesFiles = 0;
  const missing: Map<string, number[]>[] = [];
  let afterAdd: Snapshot;
  let afterRemove: Snapshot;
  let ctx: Context;
  let hot: { zramId: string; zramName: string; netId: string; ids: string[] };
  let seconds = 0;

  const cleanupDevices = () => {
    if (zram !== undefined && existsSync(`/sys/block/zram${zram}`)) {
      try {
        writeFileSync('/sys/class/zram-control/hot_remove', String(zram));
      } catch {
        /* busy or gone */
      }
    }
    if (ifbAdded) {
      try {
        execFileSync('ip', ['link', 'del', ifb], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
      ifbAdded = false;
    }
  };

  beforeAll(async () => {
    // it drives the real kernel and mounts namespaces: without root it cannot run, which fails every test here
    if (!root) throw new Error(`the differential against Debian's udevd needs root (it hot-adds devices and runs udevd in a mount namespace); uid ${process.getuid?.()}`);
    const t0 = performance.now();
    const ref = version === 257 ? referenceUdev257() : referenceUdev();
    base = mkdtempSync(join(tmpdir(), 'dm-compat-'));
    const rules = join(base, 'rules.d');
    rulesFiles = rulesCopy(ref.rulesDir, rules);
    const hwdbBin = join(base, 'hwdb.bin');
    const hw = updateHwdb({ dirs: [ref.hwdbDir], output: hwdbBin, sync: false });
    if (!hw.written) throw new Error(`no hwdb sources in ${ref.hwdbDir}`);
    const u = { run: join(base, 'udevd-run'), dev: join(base, 'udevd-dev') };
    const d = { run: join(base, 'dm-run'), dev: join(base, 'dm-dev') };
    for (const p of [u.run, u.dev, d.run, d.dev]) mkdirSync(p);
    writeFileSync(join(base, 'none.toml'), '');

    // udevd's /dev starts as a fresh devtmpfs would (devMaster's dev root starts empty: it makes nodes with --mknod)
    const syspaths = listDevices({ sysfs: '/sys', dev: '/dev', run: '/run/udev' });
    devtmpfsNodes(u.dev, syspaths);

    tracker = await EventTracker.open();
    await Promise.all([
      startUdevd({ rules, run: u.run, dev: u.dev, copyNodes: false, programs: true, reference: version, hwdbBin }, base, { ...process.env, SYSTEMD_LOG_LEVEL: process.env.DM_COMPAT_UDEVD_LOG ?? 'err' }).then((p) => (udevd = p)),
      (async () => {
        const args = ['--sysfs', '/sys', '--dev', d.dev, '--run', d.run, '--rules-dir', rules, '--mknod', '--hwdb-bin', hwdbBin, '--unit-backend', 'none', '--config', join(base, 'none.toml'), '--log-level', process.env.DM_COMPAT_DM_LOG ?? 'warn'];
        if (version === 252) args.push('--naming-scheme', 'v252');
        dm = spawnInNamespace({ programs: true, reference: version, dev: 'keep' }, [join(REPO, 'dist', 'cli', 'devmaster.js'), ...args], process.env, REPO);
        await dm.nsReady();
        for (let i = 0; ; i++) {
          try {
            await controlRequest(d.run, { command: 'ping' }, 1000);
            return;
          } catch {
            if (dm.proc.exitCode !== null || dm.proc.signalCode !== null || i > 600) throw new Error(`devmaster did not start (exit ${dm.proc.exitCode ?? dm.proc.signalCode}):\n${dm.output()}`);
            await sleep(50);
          }
        }
      })(),
    ]);
    tracker.follow('udevd', udevd!.proc.pid!);
    tracker.follow('devmaster', dm!.proc.pid!);
    const snapshot = (): Snapshot => ({
      udevdDb: readDatabase(join(u.run, 'udev', 'data')),
      dmDb: readDatabase(join(d.run, 'data')),
      udevdTags: readTagIndex(join(u.run, 'udev', 'tags')),
      dmTags: readTagIndex(join(d.run, 'tags')),
      udevdStaticTags: readTagIndex(join(u.run, 'udev', 'static_node-tags')),
      dmStaticTags: readTagIndex(join(d.run, 'static_node-tags')),
      udevdDev: readDevRoot(u.dev),
      dmDev: readDevRoot(d.dev),
    });

    // 1. coldplug: one round of change events for both
    const devices = syspaths.map((p) => sysDevice(p));
    const s0 = kernelSeqnum();
    for (const p of syspaths) {
      try {
        writeFileSync(join(p, 'uevent'), 'change');
        triggered++;
      } catch {
        /* some devices refuse; they then have no event in either daemon */
      }
    }
    const s1 = kernelSeqnum();
    missing.push(await tracker.waitBroadcast(s0, s1, 30_000));

    // 2. hotplug of our own devices; udevd's namespace /dev gets the nodes the kernel's devtmpfs would make
    // before udevd runs the add event (its queue is held meanwhile), as a devtmpfs node exists before the uevent
    const udevadm = (...a: string[]) => execFileSync('nsenter', ['-t', String(udevd!.proc.pid), '-m', ref.udevadm, 'control', ...a], { stdio: 'ignore' });
    const h0 = kernelSeqnum();
    udevadm('--stop-exec-queue');
    try {
      zram = Number(readFileSync('/sys/class/zram-control/hot_add', 'utf8').trim());
      devtmpfsNodes(u.dev, [`/sys/devices/virtual/block/zram${zram}`]);
      execFileSync('ip', ['link', 'add', ifb, 'type', 'ifb']);
      ifbAdded = true;
    } finally {
      udevadm('--start-exec-queue');
    }
    const h1 = kernelSeqnum();
    missing.push(await tracker.waitBroadcast(h0, h1, 20_000));
    await sleep(200);
    afterAdd = snapshot();
    const zramDev = readFileSync(`/sys/block/zram${zram}/dev`, 'utf8').trim();
    const ifindex = readFileSync(`/sys/class/net/${ifb}/ifindex`, 'utf8').trim();
    hot = { zramId: `b${zramDev}`, zramName: `zram${zram}`, netId: `n${ifindex}`, ids: [] };

    // 3. their removal (a devtmpfs drops the node itself; udevd never removes nodes)
    const r0 = kernelSeqnum();
    cleanupDevices();
    const r1 = kernelSeqnum();
    rmSync(join(u.dev, hot.zramName), { force: true });
    missing.push(await tracker.waitBroadcast(r0, r1, 20_000));
    await sleep(200);
    afterRemove = snapshot();
    await Promise.all([udevd!.stop(), dm!.stop()]);

    // devices something else touched during the run (other tests hot-add zram, ifb, loop devices): in the
    // coldplug window anything but one change event per listed device; outside it anything not ours
    const byDevpath = new Map(devices.map((x) => [x.devpath, x]));
    const ourHot = (e: KernelEvent) => e.seqnum > h0 && e.seqnum <= r1 && (e.devpath.includes(`/zram${zram}`) || e.devpath.includes(`/${ifb}`) || e.devpath.endsWith(`/bdi/${zramDev}`));
    const changes = new Map<string, number>();
    const disturbed = new Set<string>();
    const disturbedNames = new Set<string>();
    for (const e of tracker.window(s0, Number.MAX_SAFE_INTEGER)) {
      if (ourHot(e)) {
        hot.ids.push(eventDeviceId(e));
        continue;
      }
      let bad = e.seqnum > s1 || e.action !== 'change' || !byDevpath.has(e.devpath);
      if (!bad) {
        changes.set(e.devpath, (changes.get(e.devpath) ?? 0) + 1);
        bad = changes.get(e.devpath)! > 1;
      }
      if (!bad) continue;
      disturbed.add(eventDeviceId(e));
      const name = e.properties.get('DEVNAME');
      if (name) disturbedNames.add(name);
    }
    ctx = { devices, disturbed, disturbedNames };
    seconds = (performance.now() - t0) / 1000;
  });

  afterAll(async () => {
    tracker?.close();
    await Promise.all([udevd?.stop(), dm?.stop()]);
    cleanupDevices();
    // DM_COMPAT_KEEP=1 keeps the roots and the daemons' output for a look (the daemons are stopped all the same)
    if (process.env.DM_COMPAT_KEEP && base) {
      writeFileSync(join(base, 'udevd.log'), udevd?.output() ?? '');
      writeFileSync(join(base, 'devmaster.log'), dm?.output() ?? '');
      console.log(`kept ${base}`);
    } else if (base) rmSync(base, { recursive: true, force: true });
  });

  it('both daemons processed and broadcast every event of every phase', () => {
    expect(triggered).toBeGreaterThan(50);
    const what = (seqs: number[] | undefined) => (seqs ?? []).map((n) => `${n} ${tracker?.kernel.get(n)?.action} ${tracker?.kernel.get(n)?.devpath}`).join('\n');
    for (const m of missing) {
      expect(m.get('udevd'), `udevd did not broadcast:\n${what(m.get('udevd'))}`).toEqual([]);
      expect(m.get('devmaster'), `devMaster did not broadcast:\n${what(m.get('devmaster'))}`).toEqual([]);
    }
  });

  it('after coldplug and hotplug: databases, tag index and dev roots identical device by device', () => {
    const c = compareSnapshot(afterAdd, ctx);
    const r = report('after change round + add', c, afterAdd);
    console.log(
      [
        `udevd ${(version === 257 ? referenceUdev257() : referenceUdev()).version}, ${rulesFiles} rules files (without ${EXCLUDED_RULES.join(', ')}); ${ctx.devices.length} devices, ${triggered} change events; hotplug zram${zram} + ${ifb}; ${seconds.toFixed(1)} s`,
        `disturbed by other activity (skipped): ${ctx.disturbed.size} ${[...ctx.disturbed].join(' ')}`,
        r.text,
      ].join('\n'),
    );
    // the hotplugged devices were really compared: both daemons have them
    for (const id of [hot.zramId, hot.netId]) {
      expect(afterAdd.udevdDb.has(id), id).toBe(true);
      expect(afterAdd.dmDb.has(id), id).toBe(true);
    }
    expect(r.bad, r.text).toEqual([]);
  });

  it('after the hot-remove: the same again, and nothing of the removed devices is left in either', () => {
    const c = compareSnapshot(afterRemove, ctx);
    const r = report('after remove', c, afterRemove);
    console.log(r.text);
    for (const id of new Set(hot.ids)) {
      expect(afterRemove.udevdDb.has(id), id).toBe(false);
      expect(afterRemove.dmDb.has(id), id).toBe(false);
    }
    expect(r.bad, r.text).toEqual([]);
  });
});
}

suite(252);
suite(257);
