// usb_id against Debian's udevadm test-builtin on fake USB trees (this VM has no USB devices), the basic
// fixture, the udev-test tree and this machine's sysfs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { getBuiltin, isBuiltin, runsOnce } from '../../src/builtins/registry.js';
import { encodeDevnodeName, replaceCharsBytes, replaceWhitespace, sanitizeId, utf8CharLength } from '../../src/builtins/util.js';
import type { Roots } from '../../src/device/roots.js';
import { compareBuiltin, listDevpaths, ourBuiltin, unpackConformanceTree, REPO_FIXTURES } from './compare.js';
import { tempSysfs } from './tree.js';
import { USB_TREE } from './usb-tree.js';
import { scratchDir } from '../helpers/scratch.js';

const ROOT = '/devices/pci0000:00/0000:00:14.0/usb1';

describe('usb_id on a generated USB tree', () => {
  let t: ReturnType<typeof tempSysfs>;
  beforeAll(() => {
    t = tempSysfs(USB_TREE);
  });
  afterAll(() => t?.cleanup());

  it('matches udevadm on every device', async () => {
    const devs = listDevpaths(t.roots.sysfs);
    const { ref, diffs } = await compareBuiltin(t.roots, 'usb_id', devs);
    expect(diffs).toEqual([]);
    expect([...ref.values()].filter((p) => p?.has('ID_USB_VENDOR')).length).toBeGreaterThan(30);
  }, 60_000);

  it('names a USB disk from its SCSI inquiry data, with the LUN instance', async () => {
    const p = await ourBuiltin(t.roots, 'usb_id', `${ROOT}/1-2/1-2:1.0/host1/target1:0:0/1:0:0:1/block/sdb`);
    expect(p && Object.fromEntries(p)).toMatchObject({
      ID_BUS: 'usb',
      ID_VENDOR: 'Generic-',
      ID_MODEL: 'SD_MMC_CRW',
      ID_MODEL_ENC: 'SD\\x2fMMC\\x20CRW',
      ID_REVISION: '1_.0_0',
      ID_TYPE: 'cd',
      ID_INSTANCE: '0:1',
      ID_SERIAL: 'Generic-_SD_MMC_CRW_000000001536-0:1',
      ID_SERIAL_SHORT: '000000001536',
      ID_USB_DRIVER: 'usb-storage',
      ID_USB_INTERFACE_NUM: '00',
    });
  });

  it('leaves ID_* alone when ID_BUS is already set', async () => {
    const p = await ourBuiltin(t.roots, 'usb_id', `${ROOT}/1-6/1-6:1.0/host5/target5:0:0/5:0:0:0/block/sdf`);
    expect(p && [...p.keys()].every((k) => k.startsWith('ID_USB_'))).toBe(true);
    expect(p?.get('ID_USB_SERIAL')).toBe('WD_My_Passport_0820_575837324131-0:0');
  });

  it('packs interface triples, stops at corrupt descriptors, fails without ids', async () => {
    expect((await ourBuiltin(t.roots, 'usb_id', `${ROOT}/1-1`))?.get('ID_USB_INTERFACES')).toBe(':080650:030101:');
    expect((await ourBuiltin(t.roots, 'usb_id', `${ROOT}/1-8`))?.get('ID_USB_INTERFACES')).toBe(':ffffff');
    expect((await ourBuiltin(t.roots, 'usb_id', `${ROOT}/1-10`))?.has('ID_USB_INTERFACES')).toBe(false);
    expect(await ourBuiltin(t.roots, 'usb_id', `${ROOT}/1-12`)).toBeNull();
    expect(await ourBuiltin(t.roots, 'usb_id', `${ROOT}/1-11/1-11:1.1`)).toBeNull();
    expect(await ourBuiltin(t.roots, 'usb_id', '/devices/pci0000:00/0000:00:14.0')).toBeNull();
  });
});

describe('usb_id on other trees', () => {
  let tree: ReturnType<typeof unpackConformanceTree>;
  beforeAll(() => {
    tree = unpackConformanceTree();
  });
  afterAll(() => tree?.cleanup());

  it('matches udevadm on the udev-test tree', async () => {
    const { ref, diffs } = await compareBuiltin(tree.roots, 'usb_id', listDevpaths(tree.roots.sysfs));
    expect(diffs).toEqual([]);
    expect([...ref.values()].filter((p) => p?.has('ID_USB_VENDOR')).length).toBeGreaterThan(20);
  }, 120_000);

  it('matches udevadm on the basic fixture', async () => {
    const sysfs = join(REPO_FIXTURES, 'sysfs', 'basic', 'sys');
    const roots: Roots = { sysfs, dev: join(sysfs, '..', 'dev'), run: scratchDir('dm-run-') };
    const { ref, diffs } = await compareBuiltin(roots, 'usb_id', listDevpaths(sysfs));
    expect(diffs).toEqual([]);
    expect([...ref.values()].filter((p) => p?.get('ID_SERIAL') === 'SanDisk_Ultra_4C530001230101117113-0:0').length).toBeGreaterThan(0);
  }, 60_000);

  it('matches udevadm on the real sysfs', async () => {
    const roots: Roots = { sysfs: '/sys', dev: '/dev', run: scratchDir('dm-run-') };
    const { diffs } = await compareBuiltin(roots, 'usb_id', listDevpaths('/sys'));
    expect(diffs).toEqual([]);
  }, 120_000);
});

describe('usb_id pieces', () => {
  it('is registered and runs once per event', async () => {
    expect(isBuiltin('usb_id')).toBe(true);
    expect(await getBuiltin('usb_id')).toBeDefined();
    expect(runsOnce('usb_id')).toBe(true);
  });

  it('has udev string helpers that work on bytes', () => {
    const b = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s) : Buffer.from(s));
    expect(encodeDevnodeName(b('a b/c\\Ü'))).toBe('a\\x20b\\x2fc\\x5cÜ');
    expect(encodeDevnodeName(b([0x41, 0xff, 0xc3]))).toBe('A\\xff\\xc3');
    expect(encodeDevnodeName(b('x'.repeat(300))).length).toBe(255);
    expect(replaceWhitespace(b('  a  b \t c  '), 63).toString()).toBe('a_b_c');
    expect(replaceWhitespace(b('abcdef'), 3).toString()).toBe('abc');
    expect(replaceCharsBytes(b('a/b\\xc,d é')).toString()).toBe('a_b\\xc_d_é');
    expect(sanitizeId(b([0x41, 0xed, 0xa0, 0x80, 0x42]), 63).toString()).toBe('A___B'); // a UTF-16 surrogate is not valid UTF-8
    expect(utf8CharLength(b([0xc0, 0x80]), 0)).toBe(0); // overlong
    expect(utf8CharLength(b([0xef, 0xb7, 0x90]), 0)).toBe(0); // U+FDD0
    expect(utf8CharLength(b('€'), 0)).toBe(3);
  });
});
