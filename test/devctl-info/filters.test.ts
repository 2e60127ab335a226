// devctl info --export-db with udevadm 257's filters, on this machine's devices, against `udevadm info` 257 reading
// the same database: devMaster runs on temp roots and processes two zram disks it is shown, /dev/null and lo (rules
// give them a property, a tag and a symlink); udevadm runs in a private mount namespace with that run root at
// /run/udev and that dev root at /dev. Devices other tests add and remove meanwhile are why each comparison is
// repeated until the reference is stable (stableCompare).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { devctl } from '../enumerate/helpers.js';
import { stableCompare } from '../enumerate/helpers.js';
import { udevadm257 } from '../helpers/udevadm257.js';
import { addProcessedZram, BroadcastListener, startDevmaster, tempRoots, type RunningDevmaster, type TempRoots, stopAll } from '../daemon/helpers.js';
import { normalize } from './dbfixture.js';

let r: TempRoots;
let dm: RunningDevmaster;
let listener: BroadcastListener;
const zrams: number[] = [];
let disk = '';

beforeAll(async () => {
  r = tempRoots('dm-info-filters-');
  writeFileSync(
    join(r.rules, '60-info.rules'),
    [
      'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_INFO}="zram", TAG+="dminfo", SYMLINK+="dminfo/$kernel"',
      'SUBSYSTEM=="mem", KERNEL=="null", ENV{DM_INFO}="mem", TAG+="dminfo"',
      'SUBSYSTEM=="net", KERNEL=="lo", ENV{DM_INFO}="lo"',
      '',
    ].join('\n'),
  );
  listener = await BroadcastListener.open();
  dm = await startDevmaster(r);
  const port = ((await controlRequest(r.run, { command: 'status' }, 5000)) as { broadcaster: { port: number } }).broadcaster.port;
  disk = (await addProcessedZram(listener, port, r.dev, zrams)).name;
  await addProcessedZram(listener, port, r.dev, zrams);
  for (const d of ['/sys/class/mem/null', '/sys/class/net/lo']) writeFileSync(join(d, 'uevent'), 'change');
  await dm.settle();
});

afterAll(async () => {
  expect(await stopAll(zrams, dm, listener, r)).toBe(0);
});

function compare(args: string[]): string {
  const res = stableCompare(
    () => normalize(devctl(['info', '--run', r.run, '--dev', r.dev, ...args]).stdout),
    () => normalize(udevadm257(['info', ...args], { run: r.run, dev: r.dev }).stdout),
  );
  expect(res.ours, args.join(' ')).toBe(res.ref);
  return res.ours;
}

const count = (text: string) => text.split('\n').filter((l) => l.startsWith('P: ')).length;

describe('devctl info --export-db filters = udevadm info 257 (live devices, database written by devMaster)', () => {
  it('the database holds what the rules set', () => {
    const all = compare(['--export-db', '--tag-match=dminfo']);
    expect(all).toContain(`E: DEVLINKS=/dev/dminfo/${disk}`);
    expect(count(all)).toBe(3);
  });

  const cases: string[][] = [
    ['--subsystem-match=block'],
    ['--subsystem-match=mem', '--subsystem-match=net'],
    ['--subsystem-match=m*', '--subsystem-nomatch=misc'],
    ['--subsystem-nomatch=block', '--subsystem-nomatch=net', '--subsystem-nomatch=mem'],
    ['--attr-match=size=0', '--subsystem-match=block'],
    ['--attr-match=dev=*', '--subsystem-match=mem'],
    ['--attr-nomatch=size=0', '--subsystem-match=block'],
    ['--attr-match=ifindex=1'],
    ['--property-match=DM_INFO=*'],
    ['--property-match=DM_INFO=zram', '--property-match=DEVTYPE=disk'],
    ['--property-match=DM_INFO=mem', '--property-match=DM_INFO=lo'],
    ['--property-match=DM_*=l?', '--subsystem-match=net'],
    ['--tag-match=dminfo'],
    ['--tag-match=dminfo', '--subsystem-nomatch=mem'],
    ['--sysname-match=zram*', '--property-match=DM_INFO=zram'],
    ['--sysname-match=lo', '--sysname-match=null'],
    ['--name-match=/dev/null'],
    ['--name-match=DISK'],
    ['--name-match=/dev/dminfo/DISK'],
    ['--parent-match=/sys/devices/platform'],
    ['--parent-match=/sys/class/net/lo', '--parent-match=/sys/class/mem/null'],
    ['--initialized-match'],
    ['--initialized-nomatch', '--subsystem-match=mem'],
    ['--initialized-match', '--json=short'],
    ['--tag-match=dminfo', '--json=pretty'],
  ];
  for (const c of cases) {
    it(c.join(' '), () => {
      const args = ['--export-db', ...c.map((a) => a.replace('DISK', disk))];
      const out = compare(args);
      if (!c.includes('--subsystem-nomatch=block')) expect(out.length, 'matches something').toBeGreaterThan(0);
    });
  }

  it('filters are ignored without --export-db, as udevadm ignores them', () => {
    compare(['--subsystem-match=block', '-q', 'property', '/sys/class/net/lo']);
  });
});
