// Differential test: Debian's systemd-udevd (unpacked, never installed) and devMaster's daemon run at the same
// time with the same rules copy, the same programs and the same hwdb.bin; ONE round of kernel "change" events
// (written to every device's uevent file) feeds both; then their databases, tag indexes and dev roots are compared
// device by device. How it runs and what it found: docs/COMPAT.md.
//
// Safety (test/helpers/udevd.ts): udevd lives in a private mount namespace whose /run and /dev are temp
// directories of this test (the /dev one holding the nodes a fresh devtmpfs would have, made from sysfs) and whose /usr/lib/udev
// is a tmpfs with the rules copy (without the two NAME= files), the programs and the hwdb.bin. devMaster runs in a
// namespace of the same kind (so that relative program names resolve in /usr/lib/udev) with temp --dev/--run
// roots; there /dev is the real one, used read-only by the programs (ata_id, scsi_id, ... open nodes read-only).
// Both are killed (process group) in afterAll, also when a test fails.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync, existsSync, openSync, closeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { referenceUdev, REPO } from '../helpers/reference.js';
import { rulesCopy, devtmpfsNodes, startUdevd, spawnInNamespace, EventTracker, kernelSeqnum, sleep, EXCLUDED_RULES, type NsProcess } from '../helpers/udevd.js';
import { updateHwdb } from '../../src/hwdb/index.js';
import { listDevices } from '../../src/daemon/coldplug.js';
import { controlRequest } from '../../src/daemon/control.js';
import { readDatabase, readTagIndex, readDevRoot, sysDevice, compareDb, type Difference, type SysDevice, type DbFile, type DevEntry } from './compare.js';

// ------------------------------------------------------------------ allowed differences (each with its reason)

interface Allowance {
  name: string;
  reason: string;
  applies(d: Difference, o: Outcome): boolean;
}

const ALLOWED: Allowance[] = [
  {
    name: 'whole-disk lock on a disk nobody may open',
    reason:
      "udevd 252's worker opens the whole disk of a block device read-only to take udev's shared BSD lock and fails " +
      'the event when the open fails with anything but "device absent"; this VM forbids opening its root disk ' +
      '(EPERM even for root), so udevd writes no database and no links for it. devMaster takes no whole-disk lock ' +
      '(not implemented) and processes the event. Applies only to the disks found unopenable at test time.',
    applies: (d, o) => {
      if (d.where.startsWith('dev:')) {
        // links (and /dev/block/M:m) that only devMaster made, pointing at such a disk or its partitions
        return d.what === 'symlink' && d.udevd === '(none)' && o.unopenable.names.has(d.devmaster.replace(/^link (\.\.\/)*/, ''));
      }
      return o.unopenable.ids.has(d.where) && (d.what === 'database file' ? d.udevd === 'absent' : d.what.startsWith('tag index') && d.udevd === 'absent');
    },
  },
];

function allowance(d: Difference, o: Outcome): Allowance | undefined {
  return ALLOWED.find((a) => a.applies(d, o));
}

/**
 * Block devices whose whole disk cannot be opened read-only here (EPERM/EACCES), as udevd's worker opens it:
 * their ids and node names. The nodes are those of the udevd namespace's /dev (made like a devtmpfs).
 */
function unopenableDisks(devices: SysDevice[], devRoot: string): { ids: Set<string>; names: Set<string> } {
  const ids = new Set<string>();
  const names = new Set<string>();
  const blocked = new Set<string>(); // whole-disk syspaths
  for (const d of devices) {
    if (d.subsystem !== 'block' || existsSync(join(d.syspath, 'partition'))) continue;
    const name = devName(d.syspath);
    if (!name) continue;
    try {
      closeSync(openSync(join(devRoot, name), constants.O_RDONLY | constants.O_NONBLOCK));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'EACCES') blocked.add(d.syspath);
    }
  }
  for (const d of devices) {
    if (d.subsystem !== 'block') continue;
    const whole = existsSync(join(d.syspath, 'partition')) ? dirname(d.syspath) : d.syspath;
    if (!blocked.has(whole)) continue;
    if (d.id) ids.add(d.id);
    const name = devName(d.syspath);
    if (name) names.add(name);
  }
  return { ids, names };
}

function devName(syspath: string): string | undefined {
  try {
    return /^DEVNAME=(.*)$/m.exec(readFileSync(join(syspath, 'uevent'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ the run

const root = process.getuid?.() === 0;

interface Outcome {
  devices: SysDevice[];
  triggered: number;
  disturbed: Set<string>;
  missing: Map<string, number[]>;
  udevdDb: Map<string, DbFile>;
  dmDb: Map<string, DbFile>;
  udevdTags: Set<string>;
  dmTags: Set<string>;
  udevdDev: Map<string, DevEntry>;
  dmDev: Map<string, DevEntry>;
  rulesFiles: number;
  seconds: number;
  unopenable: { ids: Set<string>; names: Set<string> };
  udevdStaticTags: Set<string>;
  dmStaticTags: Set<string>;
}

describe.runIf(root)('devMaster against Debian udevd, same rules, same events', () => {
  let base = '';
  let udevd: NsProcess | undefined;
  let dm: NsProcess | undefined;
  let tracker: EventTracker | undefined;
  let out: Outcome;

  beforeAll(async () => {
    const t0 = performance.now();
    const ref = referenceUdev();
    base = mkdtempSync(join(tmpdir(), 'dm-compat-'));
    const rules = join(base, 'rules.d');
    const rulesFiles = rulesCopy(ref.rulesDir, rules);
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
    const started = Promise.all([
      startUdevd({ rules, run: u.run, dev: u.dev, copyNodes: false, programs: true, hwdbBin }, base, { ...process.env, SYSTEMD_LOG_LEVEL: process.env.DM_COMPAT_UDEVD_LOG ?? 'err' }).then((p) => (udevd = p)),
      (async () => {
        const shebang = readFileSync(join(REPO, 'src', 'cli', 'devmaster.ts'), 'utf8').split('\n')[0]!;
        const flags = shebang.replace(/^#!.*?\bnode\b\s*/, '').split(' ').filter(Boolean);
        const args = ['--sysfs', '/sys', '--dev', d.dev, '--run', d.run, '--rules-dir', rules, '--mknod', '--hwdb-bin', hwdbBin, '--unit-backend', 'none', '--config', join(base, 'none.toml'), '--log-level', process.env.DM_COMPAT_DM_LOG ?? 'warn'];
        dm = spawnInNamespace({ programs: true, dev: 'keep' }, [process.execPath, ...flags, '--import', 'tsx', join(REPO, 'src', 'cli', 'devmaster.ts'), ...args], process.env, REPO);
        await dm.nsReady();
        for (let i = 0; ; i++) {
          try {
            await controlRequest(d.run, { command: 'ping' }, 1000);
            return;
          } catch {
            if (dm.proc.exitCode !== null || i > 600) throw new Error(`devmaster did not start:\n${dm.output()}`);
            await sleep(50);
          }
        }
      })(),
    ]);
    await started;
    tracker.follow('udevd', udevd!.proc.pid!);
    tracker.follow('devmaster', dm!.proc.pid!);

    // one round of kernel events for both
    const devices = syspaths.map((p) => sysDevice(p));
    const s0 = kernelSeqnum();
    let triggered = 0;
    for (const p of syspaths) {
      try {
        writeFileSync(join(p, 'uevent'), 'change');
        triggered++;
      } catch {
        /* some devices refuse; they then have no event in either daemon */
      }
    }
    const s1 = kernelSeqnum();
    const missing = await tracker.waitBroadcast(s0, s1, 40_000);
    await sleep(300);
    await Promise.all([udevd!.stop(), dm!.stop()]);
    await sleep(200);

    // devices something else touched during the run (other tests hot-add zram, ifb, loop devices): another
    // action, a second change event, or any event after our window
    const byDevpath = new Map(devices.map((x) => [x.devpath, x]));
    const changes = new Map<string, number>();
    const disturbed = new Set<string>();
    for (const e of tracker.window(s0, Number.MAX_SAFE_INTEGER)) {
      const dev = byDevpath.get(e.devpath);
      const id = dev?.id ?? sysDevice(join('/sys', e.devpath)).id ?? e.devpath;
      if (e.seqnum > s1 || e.action !== 'change' || !dev) disturbed.add(id);
      else {
        changes.set(e.devpath, (changes.get(e.devpath) ?? 0) + 1);
        if (changes.get(e.devpath)! > 1) disturbed.add(id);
      }
    }

    out = {
      devices,
      triggered,
      disturbed,
      missing,
      udevdDb: readDatabase(join(u.run, 'udev', 'data')),
      dmDb: readDatabase(join(d.run, 'data')),
      udevdTags: readTagIndex(join(u.run, 'udev', 'tags')),
      dmTags: readTagIndex(join(d.run, 'tags')),
      udevdDev: readDevRoot(u.dev),
      dmDev: readDevRoot(d.dev),
      rulesFiles,
      seconds: (performance.now() - t0) / 1000,
      unopenable: unopenableDisks(devices, u.dev),
      udevdStaticTags: readTagIndex(join(u.run, 'udev', 'static_node-tags')),
      dmStaticTags: readTagIndex(join(d.run, 'static_node-tags')),
    };
  });

  afterAll(async () => {
    tracker?.close();
    await Promise.all([udevd?.stop(), dm?.stop()]);
    // DM_COMPAT_KEEP=1 keeps the roots and the daemons' output for a look (the daemons are stopped all the same)
    if (process.env.DM_COMPAT_KEEP && base) {
      writeFileSync(join(base, 'udevd.log'), udevd?.output() ?? '');
      writeFileSync(join(base, 'devmaster.log'), dm?.output() ?? '');
      console.log(`kept ${base}`);
    } else if (base) rmSync(base, { recursive: true, force: true });
  });

  it('both daemons processed and broadcast every event of the round', () => {
    expect(out.triggered).toBeGreaterThan(50);
    expect(out.missing.get('udevd')).toEqual([]);
    expect(out.missing.get('devmaster')).toEqual([]);
  });

  it('databases, tag index and dev roots are identical device by device (but for documented allowances)', () => {
    const diffs: Difference[] = [];
    const ids = new Set([...out.udevdDb.keys(), ...out.dmDb.keys()]);
    let compared = 0;
    let identical = 0;
    for (const id of [...ids].sort()) {
      if (out.disturbed.has(id)) continue;
      compared++;
      const dd = compareDb(id, out.udevdDb.get(id), out.dmDb.get(id));
      if (dd.length === 0) identical++;
      diffs.push(...dd);
    }
    const tagIds = (s: Set<string>) => [...s].filter((t) => !out.disturbed.has(t.slice(t.indexOf('/') + 1)));
    const ut = tagIds(out.udevdTags);
    const dt = tagIds(out.dmTags);
    for (const t of ut.filter((x) => !dt.includes(x))) diffs.push({ where: t.slice(t.indexOf('/') + 1), what: `tag index ${t.split('/')[0]}`, udevd: 'present', devmaster: 'absent' });
    for (const t of dt.filter((x) => !ut.includes(x))) diffs.push({ where: t.slice(t.indexOf('/') + 1), what: `tag index ${t.split('/')[0]}`, udevd: 'absent', devmaster: 'present' });

    // dev roots: every symlink and every node (udevd's nodes were made before it started, like a devtmpfs;
    // devMaster made its own on the change events), but those of disturbed devices
    const disturbedNames = new Set(out.devices.filter((x) => x.id && out.disturbed.has(x.id)).map((x) => devName(x.syspath)));
    for (const p of new Set([...out.udevdDev.keys(), ...out.dmDev.keys()])) {
      const a = out.udevdDev.get(p);
      const b = out.dmDev.get(p);
      const target = (e: DevEntry | undefined) => (e?.kind === 'link' ? join(dirname(p), e.target!).replace(/^\.\//, '') : undefined);
      if (disturbedNames.has(p) || disturbedNames.has(target(a)) || disturbedNames.has(target(b))) continue;
      if (a?.kind === 'dir' || b?.kind === 'dir') continue; // directories follow from their entries
      if (a?.kind === 'link' || b?.kind === 'link') {
        if (a?.kind !== b?.kind || a?.target !== b?.target) diffs.push({ where: `dev:${p}`, what: 'symlink', udevd: a ? `${a.kind} ${a.target ?? ''}` : '(none)', devmaster: b ? `${b.kind} ${b.target ?? ''}` : '(none)' });
      } else {
        const fmt = (e: DevEntry | undefined) => (e ? `${e.kind} ${e.rdev} ${e.mode?.toString(8)} ${e.uid}:${e.gid}` : '(none)');
        if (fmt(a) !== fmt(b)) diffs.push({ where: `dev:${p}`, what: 'node', udevd: fmt(a), devmaster: fmt(b) });
      }
    }
    // static_node= tags (udevd records them at start-up for nodes that exist, devMaster also when it makes one)
    const [us, ds] = [[...out.udevdStaticTags], [...out.dmStaticTags]];
    for (const t of us.filter((x) => !ds.includes(x))) diffs.push({ where: `static:${t}`, what: 'static_node tag', udevd: 'present', devmaster: 'absent' });
    for (const t of ds.filter((x) => !us.includes(x))) diffs.push({ where: `static:${t}`, what: 'static_node tag', udevd: 'absent', devmaster: 'present' });

    const allowed = diffs.filter((x) => allowance(x, out));
    const bad = diffs.filter((x) => !allowance(x, out));
    const byAllowance = ALLOWED.map((a) => `${a.name}: ${diffs.filter((x) => allowance(x, out) === a).length}`).join('; ');
    const report = [
      `udevd ${referenceUdev().version}, ${out.rulesFiles} rules files (without ${EXCLUDED_RULES.join(', ')}); ${out.devices.length} devices, ${out.triggered} change events`,
      `databases compared ${compared}, identical ${identical}; disturbed by other activity (skipped) ${out.disturbed.size}: ${[...out.disturbed].join(' ')}`,
      `dev entries udevd ${out.udevdDev.size}, devMaster ${out.dmDev.size}; differences ${diffs.length}, allowed ${allowed.length} (${byAllowance}); ${out.seconds.toFixed(1)} s`,
      ...bad.map((x) => `  ${x.where} ${x.what}: udevd ${x.udevd} | devMaster ${x.devmaster}`),
    ].join('\n');
    console.log(report);
    expect(bad, report).toEqual([]);
  });
});
