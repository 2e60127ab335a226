// path_id against Debian's udevadm test-builtin: on this machine's sysfs, on the udev-test fake tree, on the
// checked-in basic fixture and on a generated tree with every transport path_id knows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { getBuiltin, isBuiltin, runsOnce } from '../../src/builtins/registry.js';
import { pathTag } from '../../src/builtins/path_id.js';
import { scanNumbers } from '../../src/builtins/util.js';
import type { Roots } from '../../src/device/roots.js';
import { compareBuiltin, listDevpaths, ourBuiltin, unpackConformanceTree, REPO_FIXTURES } from './compare.js';
import { tempSysfs } from './tree.js';
import { PATH_ID_EXPECTED, PATH_ID_TREE } from './pathid-tree.js';
import { scratchDir } from '../helpers/scratch.js';

const countWith = (m: Map<string, Map<string, string> | null>, key: string) => [...m.values()].filter((p) => p?.has(key)).length;

describe('path_id on the real sysfs', () => {
  it('prints what udevadm test-builtin prints, for every device', async () => {
    const roots: Roots = { sysfs: '/sys', dev: '/dev', run: scratchDir('dm-run-') };
    const devs = listDevpaths('/sys');
    expect(devs.length).toBeGreaterThan(50);
    const { ref, diffs } = await compareBuiltin(roots, 'path_id', devs);
    expect(diffs).toEqual([]);
    // this VM has PCI devices (virtio disk and NIC): some must have a path
    expect(countWith(ref, 'ID_PATH')).toBeGreaterThan(5);
  }, 120_000);
});

describe('path_id on the udev-test fake sysfs', () => {
  let tree: ReturnType<typeof unpackConformanceTree>;
  beforeAll(() => {
    tree = unpackConformanceTree();
  });
  afterAll(() => tree?.cleanup());

  it('gives the conformance case 155 disk its path', async () => {
    const p = await ourBuiltin(tree.roots, 'path_id', '/devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda');
    expect(p && [...p]).toEqual([
      ['ID_PATH', 'pci-0000:00:1f.2-scsi-0:0:0:0'],
      ['ID_PATH_TAG', 'pci-0000_00_1f_2-scsi-0_0_0_0'],
    ]);
  });

  it('matches udevadm on every device of the tree', async () => {
    const devs = listDevpaths(tree.roots.sysfs);
    const { ref, diffs } = await compareBuiltin(tree.roots, 'path_id', devs);
    expect(diffs).toEqual([]);
    expect(countWith(ref, 'ID_PATH')).toBeGreaterThan(100);
  }, 120_000);
});

describe('path_id on the basic fixture (USB disk)', () => {
  it('matches udevadm on every device', async () => {
    const sysfs = join(REPO_FIXTURES, 'sysfs', 'basic', 'sys');
    const roots: Roots = { sysfs, dev: join(sysfs, '..', 'dev'), run: scratchDir('dm-run-') };
    const { ref, diffs } = await compareBuiltin(roots, 'path_id', listDevpaths(sysfs));
    expect(diffs).toEqual([]);
    const sda1 = [...ref].find(([d]) => d.endsWith('/block/sda/sda1'))?.[1];
    expect(sda1?.get('ID_PATH')).toBe('pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0');
  }, 60_000);
});

describe('path_id on a generated tree with every transport', () => {
  let t: ReturnType<typeof tempSysfs>;
  beforeAll(() => {
    t = tempSysfs(PATH_ID_TREE);
  });
  afterAll(() => t?.cleanup());

  it('matches udevadm on every device', async () => {
    const { diffs } = await compareBuiltin(t.roots, 'path_id', listDevpaths(t.roots.sysfs));
    expect(diffs).toEqual([]);
  }, 60_000);

  it('gives the paths derived from the C code', async () => {
    const got: Record<string, string | undefined> = {};
    for (const d of Object.keys(PATH_ID_EXPECTED)) got[d] = (await ourBuiltin(t.roots, 'path_id', d))?.get('ID_PATH');
    expect(got).toEqual(PATH_ID_EXPECTED);
  });

  it('sets ID_PATH_ATA_COMPAT for ATA disks only', async () => {
    const sda = await ourBuiltin(t.roots, 'path_id', '/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1');
    expect(sda && [...sda]).toEqual([
      ['ID_PATH', 'pci-0000:00:1f.2-ata-1.0'],
      ['ID_PATH_TAG', 'pci-0000_00_1f_2-ata-1_0'],
      ['ID_PATH_ATA_COMPAT', 'pci-0000:00:1f.2-ata-1'],
    ]);
    const sdn = await ourBuiltin(t.roots, 'path_id', '/devices/pci0000:00/0000:00:1f.1/host9/target9:0:0/9:0:0:0/block/sdn');
    expect(sdn?.has('ID_PATH_ATA_COMPAT')).toBe(false);
  });
});

describe('path_id pieces', () => {
  it('is registered, runs once per event', async () => {
    expect(isBuiltin('path_id')).toBe(true);
    const b = await getBuiltin('path_id');
    expect(b?.name).toBe('path_id');
    expect(runsOnce('path_id')).toBe(true);
    expect(b?.help).toMatch(/path/i);
  });

  it('makes tags like udev', () => {
    expect(pathTag('pci-0000:00:1f.2-ata-1.0')).toBe('pci-0000_00_1f_2-ata-1_0');
    expect(pathTag('::a..b::')).toBe('a_b');
    expect(pathTag('ip-192.168.1.1:3260-iscsi-iqn.2001-04.com.x:y-lun-0')).toBe('ip-192_168_1_1_3260-iscsi-iqn_2001-04_com_x_y-lun-0');
    expect(pathTag('ä-b')).toBe('-b');
  });

  it('reads numbers like sscanf', () => {
    expect(scanNumbers('1:2:3:4', '%u:%u:%u:%u')).toEqual([1, 2, 3, 4]);
    expect(scanNumbers('1:2:x', '%u:%u:%u:%u')).toEqual([1, 2]);
    expect(scanNumbers('c0d12p1', 'c%ud%u')).toEqual([0, 12]);
    expect(scanNumbers('bcma0:7', 'bcma%*u:%u')).toEqual([7]);
    expect(scanNumbers(' -1:0', '%u:%d')).toEqual([4294967295, 0]);
    expect(scanNumbers('-1', '%d')).toEqual([-1]);
  });
});
