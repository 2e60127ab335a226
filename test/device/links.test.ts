// Device node symlinks on disk (src/event/links.ts): the stack of claims under the run root, the links in the dev
// root, and what is refused; in temporary roots.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Roots } from '../../src/device/roots.js';
import { placeDevnumLink, updateLink } from '../../src/event/links.js';

let base: string;
let roots: Roots;
let errors: string[];
const log = { error: (m: string) => errors.push(m) };

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'dm-links-'));
  roots = { sysfs: '/sys', dev: join(base, 'dev'), run: join(base, 'run') };
  mkdirSync(roots.dev);
  mkdirSync(roots.run);
  errors = [];
});

afterEach(() => rmSync(base, { recursive: true, force: true }));

const dev = (p: string) => join(roots.dev, p);
const owner = (id: string, devnode: string, priority = 0) => ({ id, devnode, priority });

describe('device number links', () => {
  it('are made where nothing is, the directory too, and left as they are when in place', () => {
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    placeDevnumLink(roots, true, 7, 0, '/dev/loop0', log);
    expect(readlinkSync(dev('char/1:3'))).toBe('../null');
    expect(readlinkSync(dev('block/7:0'))).toBe('../loop0');
    const before = lstatSync(dev('char/1:3')).ino;
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    expect(lstatSync(dev('char/1:3')).ino).toBe(before);
    expect(errors).toEqual([]);
  });

  it('are made again when someone removed or changed them since this process made them', () => {
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    rmSync(dev('char/1:3'));
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    expect(readlinkSync(dev('char/1:3'))).toBe('../null');
    rmSync(dev('char/1:3'));
    symlinkSync('../zero', dev('char/1:3'));
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    expect(readlinkSync(dev('char/1:3'))).toBe('../null');
    expect(errors).toEqual([]);
  });

  it('replace a symlink that points elsewhere, never anything else', () => {
    mkdirSync(dev('char'));
    symlinkSync('../zero', dev('char/1:3'));
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    expect(readlinkSync(dev('char/1:3'))).toBe('../null');
    writeFileSync(dev('char/1:5'), 'mine');
    placeDevnumLink(roots, false, 1, 5, '/dev/zero', log);
    expect(lstatSync(dev('char/1:5')).isFile()).toBe(true);
    expect(errors.join('\n')).toMatch(/conflicting inode '.*char\/1:5' found/);
    expect(readdirSync(dev('char')).sort()).toEqual(['1:3', '1:5']); // no temporary names left
  });

  it('are not made through a directory of the dev root that leads outside it', () => {
    const outside = join(base, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, dev('char'));
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    expect(readdirSync(outside)).toEqual([]);
    expect(errors.join('\n')).toMatch(/cannot create directory for '.*char\/1:3'.*outside/);
  });

  it('are made through a symlinked directory that stays inside the dev root', () => {
    mkdirSync(dev('real'));
    symlinkSync('real', dev('char'));
    placeDevnumLink(roots, false, 1, 3, '/dev/null', log);
    expect(readlinkSync(dev('real/1:3'))).toBe('../null');
    expect(errors).toEqual([]);
  });
});

describe('links claimed by devices', () => {
  it('go to the highest priority, are handed on when the owner leaves, and go away with the last claim', () => {
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:0', '/dev/sda', 0), true, log)).toBe('/dev/sda');
    expect(readlinkSync(dev('disk/by-id/x'))).toBe('../../sda');
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:16', '/dev/sdb', 10), true, log)).toBe('/dev/sdb');
    expect(readlinkSync(dev('disk/by-id/x'))).toBe('../../sdb');
    // a lower claim does not take it; its claim is recorded
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:32', '/dev/sdc', -5), true, log)).toBe('/dev/sdb');
    expect(readlinkSync(dev('disk/by-id/x'))).toBe('../../sdb');
    const stack = join(roots.run, 'links', '\\x2fdisk\\x2fby-id\\x2fx'); // udev's name: the link's path, '/' escaped
    expect(readdirSync(stack).sort()).toEqual(['b8:0', 'b8:16', 'b8:32']);
    expect(readlinkSync(join(stack, 'b8:16'))).toBe('10:/dev/sdb');
    // the same claim again changes nothing
    const ino = lstatSync(join(stack, 'b8:16')).ino;
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:16', '/dev/sdb', 10), true, log)).toBe('/dev/sdb');
    expect(lstatSync(join(stack, 'b8:16')).ino).toBe(ino);
    // a changed priority replaces the claim
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:32', '/dev/sdc', 20), true, log)).toBe('/dev/sdc');
    expect(readlinkSync(join(stack, 'b8:32'))).toBe('20:/dev/sdc');
    expect(readlinkSync(dev('disk/by-id/x'))).toBe('../../sdc');
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:32', '/dev/sdc', 20), false, log)).toBe('/dev/sdb');
    expect(readlinkSync(dev('disk/by-id/x'))).toBe('../../sdb');
    updateLink(roots, '/dev/disk/by-id/x', owner('b8:16', '/dev/sdb', 10), false, log);
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:0', '/dev/sda', 0), false, log)).toBeUndefined();
    expect(existsSync(dev('disk'))).toBe(false);
    expect(existsSync(stack)).toBe(false);
    expect(errors).toEqual([]);
  });

  it('take the place of a link left by someone else, and never of a file', () => {
    mkdirSync(dev('disk/by-id'), { recursive: true });
    symlinkSync('../../old', dev('disk/by-id/x'));
    writeFileSync(dev('disk/by-id/y'), 'mine');
    expect(updateLink(roots, '/dev/disk/by-id/x', owner('b8:0', '/dev/sda'), true, log)).toBe('/dev/sda');
    expect(readlinkSync(dev('disk/by-id/x'))).toBe('../../sda');
    expect(updateLink(roots, '/dev/disk/by-id/y', owner('b8:0', '/dev/sda'), true, log)).toBeUndefined();
    expect(lstatSync(dev('disk/by-id/y')).isFile()).toBe(true);
    expect(errors.join('\n')).toMatch(/conflicting inode '.*by-id\/y' found/);
  });

  it('are refused outside the dev root and where the device node is', () => {
    expect(updateLink(roots, '/dev/../etc/x', owner('b8:0', '/dev/sda'), true, log)).toBeUndefined();
    expect(updateLink(roots, '/dev/sda', owner('b8:0', '/dev/sda'), true, log)).toBeUndefined();
    expect(errors).toHaveLength(2);
    expect(existsSync(dev('sda'))).toBe(false);
  });
});
