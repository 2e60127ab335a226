// input_id against Debian's udevadm test-builtin on fake input devices of every class (this VM has no input
// devices), on the udev-test tree and on this machine's sysfs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBuiltin, isBuiltin } from '../../src/builtins/registry.js';
import { absSizeMm, parseCapabilities } from '../../src/builtins/input_id.js';
import type { Roots } from '../../src/device/roots.js';
import { compareBuiltin, listDevpaths, ourBuiltin, unpackConformanceTree } from './compare.js';
import { tempSysfs } from './tree.js';
import { INPUT_TREE, bitmap } from './input-tree.js';
import { scratchDir } from '../helpers/scratch.js';

describe('input_id on generated input devices', () => {
  let t: ReturnType<typeof tempSysfs>;
  beforeAll(() => {
    t = tempSysfs(INPUT_TREE);
  });
  afterAll(() => t?.cleanup());

  it('matches udevadm on every device (input and event nodes)', async () => {
    const devs = listDevpaths(t.roots.sysfs);
    expect(devs.length).toBeGreaterThan(50);
    const { diffs } = await compareBuiltin(t.roots, 'input_id', devs);
    expect(diffs).toEqual([]);
  }, 60_000);

  it('classifies each kind as the C code says', async () => {
    const byName: Record<string, string[]> = {};
    for (const d of listDevpaths(t.roots.sysfs).filter((p) => /\/input\d+$/.test(p))) {
      const name = readFileSync(join(t.roots.sysfs, d, 'name'), 'utf8').trim();
      byName[name] = [...((await ourBuiltin(t.roots, 'input_id', d)) ?? new Map()).keys()].filter((k) => k !== 'ID_INPUT');
    }
    expect(byName).toMatchObject({
      keyboard: ['ID_INPUT_KEY', 'ID_INPUT_KEYBOARD'],
      mouse: ['ID_INPUT_MOUSE'],
      'i2c mouse': ['ID_INPUT_POINTINGSTICK', 'ID_INPUT_MOUSE'],
      'vmware abs mouse': ['ID_INPUT_MOUSE'],
      touchpad: ['ID_INPUT_TOUCHPAD'],
      touchscreen: ['ID_INPUT_TOUCHSCREEN'],
      tablet: ['ID_INPUT_TABLET'],
      'tablet pad': ['ID_INPUT_TABLET', 'ID_INPUT_TABLET_PAD'],
      joystick: ['ID_INPUT_JOYSTICK'],
      pedals: [],
      'keyboard with joystick buttons': ['ID_INPUT_KEY'],
      accelerometer: ['ID_INPUT_ACCELEROMETER'],
      'scroll wheel': ['ID_INPUT_KEY'],
      'lid switch': ['ID_INPUT_SWITCH'],
      'high keys': ['ID_INPUT_KEY'],
      'buttons only': [],
    });
  });

  it('reports ID_INPUT on the event node from its parent and nothing for other devices', async () => {
    const ev = await ourBuiltin(t.roots, 'input_id', '/devices/virtual/input/input0/event0');
    expect(ev && [...ev]).toEqual([
      ['ID_INPUT', '1'],
      ['ID_INPUT_KEY', '1'],
      ['ID_INPUT_KEYBOARD', '1'],
    ]);
    // succeeds without properties, as udev's does
    expect(await ourBuiltin(t.roots, 'input_id', '/devices/virtual/misc/thing')).toEqual(new Map());
  });
});

describe('input_id on the udev-test fake sysfs and on this machine', () => {
  let tree: ReturnType<typeof unpackConformanceTree>;
  beforeAll(() => {
    tree = unpackConformanceTree();
  });
  afterAll(() => tree?.cleanup());

  it('matches udevadm on every device of the udev-test tree', async () => {
    const { ref, diffs } = await compareBuiltin(tree.roots, 'input_id', listDevpaths(tree.roots.sysfs));
    expect(diffs).toEqual([]);
    expect([...ref.values()].filter((p) => p?.has('ID_INPUT')).length).toBeGreaterThan(10);
  }, 120_000);

  it('matches udevadm on every device of the real sysfs', async () => {
    const roots: Roots = { sysfs: '/sys', dev: '/dev', run: scratchDir('dm-run-') };
    const { diffs } = await compareBuiltin(roots, 'input_id', listDevpaths('/sys'));
    expect(diffs).toEqual([]);
  }, 120_000);
});

describe('input_id pieces', () => {
  it('is registered', async () => {
    expect(isBuiltin('input_id')).toBe(true);
    expect((await getBuiltin('input_id'))?.help).toBe('Input device properties');
  });

  it('parses capability words like the kernel prints them', () => {
    const b = parseCapabilities('1 0 8000000000000001', 12);
    expect(b.test(0)).toBe(true);
    expect(b.test(63)).toBe(true);
    expect(b.test(128)).toBe(true);
    expect(b.test(1)).toBe(false);
    expect(b.count(0, 192)).toBe(3);
    // bad words stay zero, words beyond the size are dropped, missing attribute is empty
    expect(parseCapabilities('zz 3', 1).words).toEqual([3n]);
    expect(parseCapabilities('1 2 3', 2).words).toEqual([3n, 2n]);
    expect(parseCapabilities(undefined, 2).words).toEqual([0n, 0n]);
    expect(parseCapabilities('10000000000000000', 1).words).toEqual([0n]);
    expect(bitmap([0, 64, 65])).toBe('3 1');
  });

  it('computes the size in mm with C integer division', () => {
    expect(absSizeMm({ minimum: 0, maximum: 3000, resolution: 31 })).toBe(96);
    expect(absSizeMm({ minimum: -100, maximum: 1000, resolution: 12 })).toBe(91);
  });
});
