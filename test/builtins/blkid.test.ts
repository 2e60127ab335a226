// blkid against Debian's `udevadm test-builtin blkid` on real loop devices over temp files: GPT and MBR
// disks with ext4, vfat, btrfs and swap partitions, odd labels, a small partitioned disk, a bare file system,
// offsets, hints and --noraid; plus the GPT auto-root logic that needs an EFI boot (not this VM's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { getBuiltin } from '../../src/builtins/registry.js';
import blkid, { GPT_ROOT_NATIVE, gptAutoRoot, loaderDevicePartUuid, parseBlkidArgs, parseInt64, strverscmpImproved } from '../../src/builtins/blkid.js';
import { Device } from '../../src/device/device.js';
import type { Roots } from '../../src/device/roots.js';
import { compareBuiltin, ourBuiltin } from './compare.js';

const sh = (cmd: string, ...args: string[]) => execFileSync('sh', ['-c', cmd, 'sh', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Loop devices and files this test made; removed in afterAll whatever happened. */
const loops: string[] = [];
let work: string;
let roots: Roots;

/** Attaches an image with partition scanning; adds the partitions with partx when the kernel did not parse the table. */
function attach(img: string, parts = 0): { node: string; name: string; devpath: string } {
  const node = execFileSync('losetup', ['-f', '--show', '-P', img], { encoding: 'utf8' }).trim();
  loops.push(node);
  const name = node.replace('/dev/', '');
  const have = () => readdirSync(`/sys/class/block/${name}`).filter((e) => e.startsWith(`${name}p`)).length;
  if (parts > 0 && have() < parts) execFileSync('partx', ['-a', node], { stdio: 'ignore' });
  for (let i = 1; i <= parts; i++) {
    for (let t = 0; t < 100 && !existsSync(`${node}p${i}`); t++) execFileSync('sleep', ['0.05']);
    if (!existsSync(`${node}p${i}`)) throw new Error(`no ${node}p${i}`);
  }
  return { node, name, devpath: realpathSync(`/sys/class/block/${name}`).slice('/sys'.length) };
}

function image(name: string, size: string, table?: string): string {
  const img = join(work, name);
  execFileSync('truncate', ['-s', size, img]);
  if (table) execFileSync('sfdisk', ['-q', img], { input: table });
  return img;
}

/** This architecture's root partition type (what systemd calls SD_GPT_ROOT_NATIVE). */
const ROOT_TYPE = GPT_ROOT_NATIVE[process.arch]!;
let gpt: ReturnType<typeof attach>;
let mbr: ReturnType<typeof attach>;
let bare: ReturnType<typeof attach>;
let shifted: ReturnType<typeof attach>;
let small: ReturnType<typeof attach>;
let floppy: ReturnType<typeof attach>;
let empty: ReturnType<typeof attach>;
let raidy: ReturnType<typeof attach>;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dm-blkid-'));
  roots = { sysfs: '/sys', dev: '/dev', run: join(work, 'run') };
  // GPT: ext4 with an odd label, vfat (ESP type), btrfs (has UUID_SUB), swap, a raw partition with flags
  gpt = attach(
    image(
      'gpt.img',
      '400M',
      [
        'label: gpt',
        'size=24M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root part"',
        'size=40M, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI Sýstem"',
        `size=200M, type=${ROOT_TYPE}, name="root", attrs="RequiredPartition,GUID:63"`,
        'size=8M, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"',
        'size=4M, type=21686148-6449-6E6F-744E-656564454649, name="bios\\x20boot"',
        `size=8M, type=${ROOT_TYPE}, name="root-b"`,
      ].join('\n'),
    ),
    6,
  );
  sh(`mkfs.ext4 -q -F "$1" && tune2fs -L "$(printf 'a b"c\\\\d\\377é')" "$1" >/dev/null`, `${gpt.node}p1`);
  sh('mkfs.vfat -F 32 -n "ESP VOL" "$1" >/dev/null', `${gpt.node}p2`);
  sh('mkfs.btrfs -q -f -L "btr fs" "$1" >/dev/null', `${gpt.node}p3`);
  sh('mkswap -L swappy "$1" >/dev/null', `${gpt.node}p4`);
  // MBR: ext2 without label, FAT16, an extended partition with a logical vfat
  mbr = attach(image('mbr.img', '64M', ['label: dos', 'size=16M, type=83', 'size=16M, type=6, bootable', 'type=5', 'size=8M, type=c'].join('\n')), 2);
  sh('mkfs.ext2 -q -F "$1"', `${mbr.node}p1`);
  sh('mkfs.vfat -n MBRFAT "$1" >/dev/null', `${mbr.node}p2`);
  // a file system on the whole device
  bare = attach(image('bare.img', '16M'));
  sh('mkfs.ext4 -q -F -L "whole disk" -U 01234567-89ab-cdef-0123-456789abcdef "$1"', bare.node);
  // a file system 1 MiB into the device (probed with --offset)
  const shiftedImg = image('shifted.img', '17M');
  sh('mkfs.vfat -n SHIFTED --offset 2048 "$1" 16384 >/dev/null', shiftedImg);
  shifted = attach(shiftedImg);
  // a small (1 MiB) partitioned disk: udev looks only at the partition table
  small = attach(image('small.img', '1M', ['label: dos', 'start=64, type=1'].join('\n')), 1);
  sh('mkfs.vfat -n SMALLFAT "$1" >/dev/null', `${small.node}p1`);
  // a floppy-sized disk without a partition table: its file system is probed
  const floppyImg = image('floppy.img', '1440K');
  sh('mkfs.vfat -n FLOPPY "$1" >/dev/null', floppyImg);
  floppy = attach(floppyImg);
  empty = attach(image('empty.img', '4M'));
  // ext4 with an LVM1 physical volume magic ("HM", version 1) in its unused first bytes: a RAID member for
  // libblkid, unless RAID signatures are filtered out (--noraid)
  const raidyImg = image('raidy.img', '16M');
  sh('mkfs.ext4 -q -F -L raidy "$1" && printf \'HM\\001\\000\' | dd of="$1" conv=notrunc bs=1 seek=0 2>/dev/null', raidyImg);
  raidy = attach(raidyImg);
}, 120_000);

afterAll(() => {
  for (const l of loops.reverse()) {
    try {
      execFileSync('losetup', ['-d', l], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

const partsOf = (d: ReturnType<typeof attach>) => readdirSync(`/sys/class/block/${d.name}`).filter((e) => e.startsWith(`${d.name}p`)).sort().map((p) => `${d.devpath}/${p}`);

describe('blkid against udevadm test-builtin on loop devices', () => {
  it('sets the same properties on disks, partitions and bare file systems', async () => {
    const devs = [gpt, mbr, bare, shifted, small, floppy, empty].flatMap((d) => [d.devpath, ...partsOf(d)]);
    expect(devs.length).toBeGreaterThanOrEqual(7 + 5 + 4 + 1);
    const { ours, diffs } = await compareBuiltin(roots, 'blkid', devs);
    expect(diffs).toEqual([]);
    const types = devs.map((d) => ours.get(d)?.get('ID_FS_TYPE') ?? ours.get(d)?.get('ID_PART_TABLE_TYPE') ?? '-');
    expect(types).toEqual(expect.arrayContaining(['gpt', 'dos', 'ext4', 'vfat', 'btrfs', 'swap', 'ext2']));
  }, 60_000);

  it('encodes labels, names and UUIDs as udev does', async () => {
    const p1 = (await ourBuiltin(roots, 'blkid', `${gpt.devpath}/${gpt.name}p1`))!;
    // blkid_safe_string: white space to '_', other bytes kept; blkid_encode_string: \xNN for unsafe bytes
    expect(p1.get('ID_FS_LABEL_ENC')).toBe('a\\x20b\\x22c\\x5cd\\xffé');
    expect(p1.get('ID_PART_ENTRY_NAME')).toBe('root\\x20part');
    expect(p1.get('ID_PART_ENTRY_TYPE')).toBe('0fc63daf-8483-4772-8e79-3d69d8477de4');
    expect(p1.get('ID_PART_ENTRY_DISK')).toBe(readFileText(`/sys/class/block/${gpt.name}/dev`));
    const p2 = (await ourBuiltin(roots, 'blkid', `${gpt.devpath}/${gpt.name}p2`))!;
    expect([p2.get('ID_FS_LABEL'), p2.get('ID_FS_LABEL_ENC'), p2.get('ID_FS_VERSION'), p2.get('ID_PART_ENTRY_NAME')]).toEqual(['ESP_VOL', 'ESP\\x20VOL', 'FAT32', 'EFI\\x20Sýstem']);
    const p3 = (await ourBuiltin(roots, 'blkid', `${gpt.devpath}/${gpt.name}p3`))!;
    expect(p3.get('ID_FS_UUID_SUB')).toMatch(/^[0-9a-f-]{36}$/);
    expect(p3.get('ID_PART_ENTRY_FLAGS')).toBe('0x8000000000000001');
    const whole = (await ourBuiltin(roots, 'blkid', bare.devpath))!;
    expect([...whole]).toEqual(expect.arrayContaining([
      ['ID_FS_UUID', '01234567-89ab-cdef-0123-456789abcdef'],
      ['ID_FS_LABEL', 'whole_disk'],
      ['ID_FS_TYPE', 'ext4'],
      ['ID_FS_USAGE', 'filesystem'],
    ]));
    // the small partitioned disk: only its partition table; the floppy: its file system
    const sm = (await ourBuiltin(roots, 'blkid', small.devpath))!;
    expect(sm.get('ID_PART_TABLE_TYPE')).toBe('dos');
    expect(sm.has('ID_FS_TYPE')).toBe(false);
    expect((await ourBuiltin(roots, 'blkid', floppy.devpath))?.get('ID_FS_LABEL')).toBe('FLOPPY');
    expect(await ourBuiltin(roots, 'blkid', empty.devpath)).toEqual(new Map());
  });

  it('handles --offset, -o, --hint and --noraid like udevadm, and fails on bad offsets', async () => {
    const commands = ['blkid --offset=1048576', 'blkid -o 0x100000', 'blkid -o 04000000', 'blkid --noraid', 'blkid -R --hint=session_offset=0', 'blkid --offset=abc', 'blkid -o -5', 'blkid --offset', 'blkid --unknown -o 1048576 extra', 'blkid --hint=session_offset=abc', 'blkid -H foo'];
    const out: Record<string, unknown> = {};
    for (const c of commands) {
      const { ours, diffs } = await compareBuiltin(roots, c, [shifted.devpath, bare.devpath]);
      expect(diffs, c).toEqual([]);
      out[c] = ours.get(shifted.devpath)?.get('ID_FS_LABEL') ?? ours.get(shifted.devpath);
    }
    expect(out).toEqual({
      'blkid --offset=1048576': 'SHIFTED',
      'blkid -o 0x100000': 'SHIFTED',
      'blkid -o 04000000': 'SHIFTED',
      'blkid --noraid': new Map(),
      'blkid -R --hint=session_offset=0': new Map(),
      'blkid --offset=abc': null,
      'blkid -o -5': null,
      'blkid --offset': new Map(),
      'blkid --unknown -o 1048576 extra': 'SHIFTED',
      'blkid --hint=session_offset=abc': null,
      'blkid -H foo': new Map(),
    });
  }, 60_000);

  it('skips RAID signatures with --noraid / -R as udevadm', async () => {
    const types: Record<string, string | undefined> = {};
    for (const c of ['blkid', 'blkid --noraid', 'blkid -R']) {
      const { ours, diffs } = await compareBuiltin(roots, c, [raidy.devpath]);
      expect(diffs, c).toEqual([]);
      types[c] = `${ours.get(raidy.devpath)?.get('ID_FS_TYPE')}/${ours.get(raidy.devpath)?.get('ID_FS_USAGE')}`;
    }
    expect(types).toEqual({ blkid: 'LVM1_member/raid', 'blkid --noraid': 'ext4/filesystem', 'blkid -R': 'ext4/filesystem' });
  }, 60_000);

  it('matches udevadm on devices without a block node and on this machine\'s disks', async () => {
    const devs = ['/devices/virtual/mem/null', '/devices/virtual/mem/zero', '/devices/virtual/net/lo'];
    for (const e of readdirSync('/sys/class/block')) if (/^(vd|sd|nvme|xvd)/.test(e)) devs.push(realpathSync(`/sys/class/block/${e}`).slice(4));
    const { ours, diffs } = await compareBuiltin(roots, 'blkid', devs);
    expect(diffs).toEqual([]);
    expect(ours.get('/devices/virtual/net/lo')).toBeNull(); // no device node: the import fails
    expect(ours.get('/devices/virtual/mem/null')).toBeNull(); // libblkid refuses to probe /dev/null (EINVAL)
  }, 60_000);

  it('ignores a device node that belongs to another device (as sd_device_open)', async () => {
    const dev = join(work, 'dev');
    mkdirSync(dev, { recursive: true });
    // <dev>/<gpt.name> is a regular file here, not the block node: udev treats it as absent
    writeFileSync(join(dev, gpt.name), 'not a node');
    expect(await ourBuiltin({ ...roots, dev }, 'blkid', gpt.devpath)).toEqual(new Map());
  });

  it('marks the partition the disk named as GPT auto root', async () => {
    const b = (await getBuiltin('blkid'))!;
    expect(b).toBe(blkid);
    const p3 = Device.fromDevpath(roots, `${gpt.devpath}/${gpt.name}p3`);
    const uuid = (await ourBuiltin(roots, 'blkid', p3.devpath))!.get('ID_PART_ENTRY_UUID')!;
    p3.dbProperties.set('ID_PART_GPT_AUTO_ROOT_UUID', uuid);
    const props = new Map<string, string>();
    expect(await b.run({ device: p3, action: 'add', roots, test: true, log: pino({ level: 'silent' }), setProperty: (k, v) => props.set(k, v) }, ['blkid'])).toBe(true);
    expect(props.get('ID_PART_GPT_AUTO_ROOT')).toBe('1');
  });
});

function readFileText(p: string): string {
  return execFileSync('cat', [p], { encoding: 'utf8' }).trim();
}

describe('blkid GPT auto root on the loop disk (EFI variables from a fake sysfs root)', () => {
  /** Runs blkid on a real device with the EFI variables of `sysfs` (only ctx.roots.sysfs is fake). */
  async function withEfi(sysfs: string, devpath: string, set?: [string, string]): Promise<Map<string, string>> {
    const dev = Device.fromDevpath(roots, devpath);
    if (set) dev.dbProperties.set(set[0], set[1]);
    const props = new Map<string, string>();
    expect(await blkid.run({ device: dev, action: 'add', roots: { ...roots, sysfs }, test: true, log: pino({ level: 'silent' }), setProperty: (k, v) => props.set(k, v) }, ['blkid'])).toBe(true);
    return props;
  }

  it('exports the first auto-mountable root partition when we booted from this disk\'s ESP', async () => {
    const part = async (n: number) => (await ourBuiltin(roots, 'blkid', `${gpt.devpath}/${gpt.name}p${n}`))!.get('ID_PART_ENTRY_UUID')!;
    const [esp, rootNoAuto, rootB] = [await part(2), await part(3), await part(6)];
    const sysfs = mkdtempSync(join(tmpdir(), 'dm-efi-'));
    try {
      expect((await withEfi(sysfs, gpt.devpath)).has('ID_PART_GPT_AUTO_ROOT_UUID')).toBe(false); // no EFI
      const vars = join(sysfs, 'firmware', 'efi', 'efivars');
      mkdirSync(vars, { recursive: true });
      const setLoader = (uuid: string) => writeFileSync(join(vars, 'LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'), Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from(`${uuid.toUpperCase()}\0`, 'utf16le')]));
      setLoader(esp);
      const disk = await withEfi(sysfs, gpt.devpath);
      // partition 3 has the no-auto flag (bit 63): partition 6 is the one
      expect(disk.get('ID_PART_GPT_AUTO_ROOT_UUID')).toBe(rootB);
      expect(rootB).not.toBe(rootNoAuto);
      expect((await withEfi(sysfs, `${gpt.devpath}/${gpt.name}p6`, ['ID_PART_GPT_AUTO_ROOT_UUID', rootB])).get('ID_PART_GPT_AUTO_ROOT')).toBe('1');
      expect((await withEfi(sysfs, `${gpt.devpath}/${gpt.name}p3`, ['ID_PART_GPT_AUTO_ROOT_UUID', rootB])).has('ID_PART_GPT_AUTO_ROOT')).toBe(false);
      // booted from another disk's ESP: nothing
      setLoader('00000000-1111-2222-3333-444444444444');
      expect((await withEfi(sysfs, gpt.devpath)).has('ID_PART_GPT_AUTO_ROOT_UUID')).toBe(false);
      // an MBR disk is never looked at
      setLoader(esp);
      expect((await withEfi(sysfs, mbr.devpath)).has('ID_PART_GPT_AUTO_ROOT_UUID')).toBe(false);
    } finally {
      rmSync(sysfs, { recursive: true, force: true });
    }
  });
});

describe('blkid helpers', () => {
  it('parses options like getopt_long and offsets like safe_atoi64', () => {
    expect(parseBlkidArgs(['blkid', '-o', '512', '--hint=session_offset=7', '-R'])).toEqual({ offset: 512n, hints: ['session_offset=7'], noraid: true });
    expect(parseBlkidArgs(['blkid', '-o512', 'x', '--offset', '0x10'])).toEqual({ offset: 16n, hints: [], noraid: false });
    expect(() => parseBlkidArgs(['blkid', '-o', '1x'])).toThrow(/failed to parse '1x'/);
    expect(() => parseBlkidArgs(['blkid', '--offset=-1'])).toThrow(/invalid offset -1/);
    // what getopt_long does not know is passed over, as udev's loop passes over its '?'; long names abbreviate
    expect(parseBlkidArgs(['blkid', '--bogus', '-xR', '--off=3', '--noraid=1', '-H'])).toEqual({ offset: 3n, hints: [], noraid: true });
    expect([parseInt64(' 42'), parseInt64('010'), parseInt64('0x1F'), parseInt64('-0'), parseInt64('9223372036854775807')]).toEqual([42n, 8n, 31n, 0n, 9223372036854775807n]);
    expect([parseInt64(''), parseInt64('08'), parseInt64('9223372036854775808'), parseInt64('1 '), parseInt64('0x')]).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('compares versions as strverscmp_improved', () => {
    const cases: [string | null, string | null, number][] = [
      ['1.2', '1.10', -1],
      ['root-2', 'root-10', -1],
      ['1.0~rc1', '1.0', -1],
      ['1.0', '1.0.1', -1],
      ['123-9', '123.1-1', -1],
      ['abc', 'abcde', -1],
      ['00123', '123', 0],
      ['1a', '1', 1],
      ['b', 'a', 1],
      [null, 'x', -1],
      ['x', null, 1],
      [null, null, 0],
    ];
    for (const [a, b, want] of cases) expect(Math.sign(strverscmpImproved(a, b)), `${a} vs ${b}`).toBe(want);
  });

  it('finds the root partition only on the disk we booted from', () => {
    const esp = { uuid: '11111111-2222-3333-4444-555555555555', type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', name: 'ESP', flags: 0n };
    const root = (uuid: string, name: string | null, flags = 0n) => ({ uuid, type: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709', name, flags });
    const parts = [esp, root('aaaaaaaa-0000-0000-0000-000000000001', 'root-1'), root('aaaaaaaa-0000-0000-0000-000000000003', 'root-3', 1n << 63n), root('aaaaaaaa-0000-0000-0000-000000000002', 'root-2')];
    expect(gptAutoRoot(parts, esp.uuid, 'x64')).toBe('aaaaaaaa-0000-0000-0000-000000000002');
    expect(gptAutoRoot(parts, 'ffffffff-2222-3333-4444-555555555555', 'x64')).toBeUndefined();
    expect(gptAutoRoot(parts, undefined, 'x64')).toBeUndefined();
    expect(gptAutoRoot(parts.slice(0, 1), esp.uuid, 'x64')).toBeUndefined();
    expect(gptAutoRoot(parts, esp.uuid, 'arm64')).toBeUndefined(); // not the native root type
  });

  it('reads LoaderDevicePartUUID from the EFI variables under the sysfs root', () => {
    const sysfs = mkdtempSync(join(tmpdir(), 'dm-efi-'));
    try {
      expect(loaderDevicePartUuid(sysfs)).toBeUndefined();
      const vars = join(sysfs, 'firmware', 'efi', 'efivars');
      mkdirSync(vars, { recursive: true });
      expect(loaderDevicePartUuid(sysfs)).toBeUndefined();
      const text = Buffer.from('1798C041-242F-154F-9C3F-3D5818B3CD0A\0', 'utf16le');
      writeFileSync(join(vars, 'LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'), Buffer.concat([Buffer.from([6, 0, 0, 0]), text]));
      expect(loaderDevicePartUuid(sysfs)).toBe('1798c041-242f-154f-9c3f-3d5818b3cd0a');
    } finally {
      rmSync(sysfs, { recursive: true, force: true });
    }
  });
});
