// The hwdb builtin: modalias of the device or its parents, --subsystem, --lookup-prefix, --filter, --device,
// an explicit lookup string, usb_device modalias composition, and reloading when hwdb.bin changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pino } from 'pino';
import { Device } from '../../src/device/device.js';
import type { Roots } from '../../src/device/roots.js';
import { PACKAGE_HWDB_DIR } from '../../src/config/rules-path.js';
import { compileHwdb, hwdbSourceDirs, parseHwdbFiles, updateHwdb, writeFileAtomic } from '../../src/hwdb/index.js';
import hwdb, { configureHwdb, parseHwdbArgs } from '../../src/builtins/hwdb.js';
import { getBuiltin } from '../../src/builtins/registry.js';
import type { BuiltinContext } from '../../src/builtins/types.js';
import { referenceUdev } from '../helpers/reference.js';
import { formatProps } from './helpers.js';

let tmp: string;
let roots: Roots;
let bin: string;
const sources = `
pci:v00001AF4d00001041*
 T_PCI=virtio-net-pci

virtio:d00000001v00001AF4*
 T_VIRTIO=net

usb:v1D6Bp0002*
 T_USB=root-hub

usb:vFFFFp0001d*
 T_IFACE=1

pci:v00008086d0000ABCD*
 T_PCI=intel

platform:pcspkr
 T_PLATFORM=speaker

pre:virtio:d00000001*
 T_PREFIXED=1
`;

/** A device directory under the fake sysfs with a uevent file, a subsystem link and attributes. */
function dev(path: string, subsystem: string | undefined, uevent: string, attrs: Record<string, string> = {}): string {
  const dir = join(roots.sysfs, 'devices', path);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'uevent'), uevent);
  if (subsystem) {
    const target = subsystem === 'net' ? join(roots.sysfs, 'class', 'net') : join(roots.sysfs, 'bus', subsystem);
    mkdirSync(target, { recursive: true });
    symlinkSync(relative(dir, target), join(dir, 'subsystem'));
  }
  for (const [k, v] of Object.entries(attrs)) writeFileSync(join(dir, k), v + '\n');
  return dir;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'devmaster-hwdb-builtin-'));
  roots = { sysfs: join(tmp, 'sys'), dev: join(tmp, 'dev'), run: join(tmp, 'run') };
  dev('pci0000:00', undefined, '');
  dev('pci0000:00/0000:00:03.0', 'pci', 'MODALIAS=pci:v00001AF4d00001041sv00001AF4sd00001041bc02sc00i00\n');
  dev('pci0000:00/0000:00:03.0/virtio0', 'virtio', 'MODALIAS=virtio:d00000001v00001AF4\n');
  dev('pci0000:00/0000:00:03.0/virtio0/net/eth9', 'net', 'INTERFACE=eth9\nIFINDEX=99\n');
  dev('pci0000:00/0000:00:04.0', 'pci', 'MODALIAS=pci:v00008086d0000ABCDsv00000000sd00000000bc0Csc03i20\n');
  dev('pci0000:00/0000:00:04.0/usb1', 'usb', 'DEVTYPE=usb_device\n', { idVendor: '1d6b', idProduct: '0002', product: 'EHCI Host Controller' });
  dev('pci0000:00/0000:00:04.0/usb1/1-1', 'usb', 'DEVTYPE=usb_device\n', { idVendor: 'ffff', idProduct: '0001' });
  dev('pci0000:00/0000:00:04.0/usb1/1-1/1-1:1.0', 'usb', 'DEVTYPE=usb_interface\nMODALIAS=usb:vFFFFp0001d0100dc00dsc00dp00ic03isc01ip01in00\n');
  dev('platform/pcspkr', 'platform', '', { modalias: 'platform:pcspkr' });
  dev('platform/nothing', 'platform', 'MODALIAS=platform:nothing-matches\n');
  const busDevs = join(roots.sysfs, 'bus', 'pci', 'devices');
  mkdirSync(busDevs, { recursive: true });
  symlinkSync(relative(busDevs, join(roots.sysfs, 'devices', 'pci0000:00', '0000:00:03.0')), join(busDevs, '0000:00:03.0'));

  const src = join(tmp, 'src');
  mkdirSync(src);
  writeFileSync(join(src, '50-test.hwdb'), sources);
  bin = join(tmp, 'hwdb.bin');
  updateHwdb({ dirs: [src, PACKAGE_HWDB_DIR], output: bin });
  configureHwdb({ hwdbBin: bin });
  hwdb.init!(roots);
});

afterAll(() => {
  hwdb.exit!();
  rmSync(tmp, { recursive: true, force: true });
});

async function runOn(device: Device, ...args: string[]): Promise<{ ok: boolean; props: Map<string, string> }> {
  const props = new Map<string, string>();
  const ctx: BuiltinContext = {
    device,
    action: 'add',
    roots: device.roots,
    test: true,
    log: pino({ level: 'silent' }),
    setProperty: (k, v) => props.set(k, v),
  };
  const ok = await hwdb.run(ctx, ['hwdb', ...args]);
  return { ok, props };
}

const at = (p: string) => Device.fromSyspath(roots, join(roots.sysfs, 'devices', p));

describe('hwdb builtin', () => {
  it('is registered', async () => {
    expect(await getBuiltin('hwdb')).toBe(hwdb);
  });

  it("uses the device's own MODALIAS", async () => {
    expect(await runOn(at('pci0000:00/0000:00:03.0'))).toEqual({ ok: true, props: new Map([['T_PCI', 'virtio-net-pci'], ['DEVMASTER_HWDB_VIRTIO_PCI', '1']]) });
  });

  it('falls back to the parents, stopping at the first that gives properties', async () => {
    const r = await runOn(at('pci0000:00/0000:00:03.0/virtio0/net/eth9'));
    expect(r.ok).toBe(true);
    expect(r.props).toEqual(new Map([['T_VIRTIO', 'net'], ['DEVMASTER_HWDB_CLASS', 'network']]));
  });

  it('--subsystem restricts the walk to devices of that subsystem', async () => {
    const r = await runOn(at('pci0000:00/0000:00:03.0/virtio0/net/eth9'), '--subsystem=pci');
    expect(r.props.get('T_PCI')).toBe('virtio-net-pci');
    expect(r.props.has('T_VIRTIO')).toBe(false);
    expect((await runOn(at('pci0000:00/0000:00:03.0/virtio0/net/eth9'), '-s', 'usb')).ok).toBe(false);
  });

  it('--lookup-prefix is prepended to the modalias', async () => {
    const r = await runOn(at('pci0000:00/0000:00:03.0/virtio0/net/eth9'), '--lookup-prefix', 'pre:');
    expect(r).toEqual({ ok: true, props: new Map([['T_PREFIXED', '1']]) });
  });

  it('composes usb:vVVVVpPPPP:product for a usb_device without modalias', async () => {
    expect((await runOn(at('pci0000:00/0000:00:04.0/usb1'))).props).toEqual(new Map([['T_USB', 'root-hub']]));
  });

  it('does not look past a usb_device at its parents (hubs)', async () => {
    const r = await runOn(at('pci0000:00/0000:00:04.0/usb1/1-1'));
    expect(r.ok).toBe(false);
    expect(r.props.size).toBe(0);
    expect((await runOn(at('pci0000:00/0000:00:04.0/usb1/1-1/1-1:1.0'))).props).toEqual(new Map([['T_IFACE', '1']]));
  });

  it('reads the modalias attribute when there is no MODALIAS property', async () => {
    const r = await runOn(at('platform/pcspkr'));
    expect(r.props.get('T_PLATFORM')).toBe('speaker');
    expect(r.props.get('DEVMASTER_HWDB_CLASS')).toBe('speaker');
  });

  it('fails when nothing is found', async () => {
    expect(await runOn(at('platform/nothing'))).toEqual({ ok: false, props: new Map() });
    expect((await runOn(at('platform/nothing'), 'no:such:key')).ok).toBe(false);
  });

  it('looks up an explicit string, with --filter on the keys', async () => {
    const d = at('platform/nothing');
    expect((await runOn(d, 'devmaster:test:digit7')).props.get('DEVMASTER_TEST_DIGIT')).toBe('1');
    const f = await runOn(d, '--filter=DEVMASTER_FILTER_*', 'devmaster:test:value');
    expect([...f.props.keys()]).toEqual(['DEVMASTER_FILTER_A', 'DEVMASTER_FILTER_B']);
    expect((await runOn(d, '-p', 'devmaster:', 'block:zram0')).props.get('DEVMASTER_HWDB_CLASS')).toBe('zram');
  });

  it('--device reads the modalias from another device', async () => {
    const r = await runOn(at('platform/nothing'), '--device=+pci:0000:00:03.0');
    expect(r.props.get('T_PCI')).toBe('virtio-net-pci');
  });

  it('parses options like getopt_long and rejects unknown ones', () => {
    expect(parseHwdbArgs(['hwdb', '-sfoo', '--lookup-prefix=a:', 'x y'])).toEqual({ subsystem: 'foo', prefix: 'a:', lookup: 'x y' });
    expect(() => parseHwdbArgs(['hwdb', '--frobnicate'])).toThrow(/unknown option/);
    expect(() => parseHwdbArgs(['hwdb', '--subsystem'])).toThrow(/needs a value/);
  });

  it('asks for a reload when hwdb.bin changes on disk, and sees the new data after init', async () => {
    expect(hwdb.shouldReload!()).toBe(false);
    const src = join(tmp, 'src2');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, '50-new.hwdb'), 'platform:nothing-matches\n NEW_KEY=fresh\n');
    writeFileAtomic(bin, compileHwdb(parseHwdbFiles([join(src, '50-new.hwdb')])).data);
    expect(hwdb.shouldReload!()).toBe(true);
    hwdb.init!(roots);
    expect(hwdb.shouldReload!()).toBe(false);
    expect((await runOn(at('platform/nothing'))).props).toEqual(new Map([['NEW_KEY', 'fresh']]));
    // Put the original database back for any later test.
    updateHwdb({ dirs: [join(tmp, 'src'), PACKAGE_HWDB_DIR], output: bin });
    hwdb.init!(roots);
  });

  it('without a hwdb.bin the builtin fails instead of throwing', async () => {
    configureHwdb({ hwdbBin: join(tmp, 'missing.bin'), watch: false });
    hwdb.init!(roots);
    expect((await runOn(at('pci0000:00/0000:00:03.0'))).ok).toBe(false);
    expect(hwdb.shouldReload!()).toBe(false);
    writeFileAtomic(join(tmp, 'missing.bin'), readFileSync(bin));
    expect(hwdb.shouldReload!()).toBe(true);
    rmSync(join(tmp, 'missing.bin'));
    configureHwdb({ hwdbBin: bin, watch: true });
    hwdb.init!(roots);
    expect((await runOn(at('pci0000:00/0000:00:03.0'))).ok).toBe(true);
  });
});

describe('hwdb builtin on the devices of this machine', () => {
  it('gives each PCI device what systemd-hwdb query gives for its modalias', async () => {
    const ref = referenceUdev();
    const root = join(tmp, 'debian');
    mkdirSync(join(root, 'lib', 'udev'), { recursive: true });
    cpSync(ref.hwdbDir, join(root, 'lib', 'udev', 'hwdb.d'), { recursive: true });
    for (const f of readdirSync(PACKAGE_HWDB_DIR)) cpSync(join(PACKAGE_HWDB_DIR, f), join(root, 'lib', 'udev', 'hwdb.d', f));
    execFileSync(ref.systemdHwdb, [`--root=${root}`, 'update']);
    const ours = join(tmp, 'debian-dm.bin');
    updateHwdb({ dirs: hwdbSourceDirs(root), output: ours });
    configureHwdb({ hwdbBin: ours, watch: false });
    hwdb.init!(roots);
    const real: Roots = { sysfs: '/sys', dev: '/dev', run: '/run/udev' };
    const pciDir = '/sys/bus/pci/devices';
    const names = existsSync(pciDir) ? readdirSync(pciDir) : [];
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) {
      const d = Device.fromSyspath(real, join(pciDir, n));
      const modalias = readFileSync(join(pciDir, n, 'modalias'), 'utf8').trim();
      const want = execFileSync(ref.systemdHwdb, [`--root=${root}`, 'query', modalias], { encoding: 'utf8' });
      const r = await runOn(d);
      expect(formatProps(r.props), n).toBe(want);
      expect(r.ok).toBe(want !== '');
    }
    configureHwdb({ hwdbBin: bin, watch: true });
    hwdb.init!(roots);
  }, 120_000);
});
