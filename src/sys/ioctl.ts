// ioctl through libc, the request encoding of <asm-generic/ioctl.h>, and the requests and argument structs
// devMaster uses (block devices, btrfs, evdev, network interfaces), declared once as koffi structs on first use.
// A request whose number holds the size of a struct is a function, computed on its first call.
import { declared, koffi, libcAsyncFunction, libcFunction } from './libc.js';

const ioctlC = libcFunction<(fd: number, request: number, arg: Buffer) => number>('int ioctl(int fd, unsigned long request, void *arg)');
/** struct ifreq with the ifr_data member of its union (the union is 24 bytes: struct ifmap's size). */
const ifreqData = declared((k) => k.struct('ifreq_data', { ifr_name: k.array('char', 16), ifr_data: 'void *', pad: k.array('uint8_t', 16) }));
const ioctlIfreqC = libcFunction<(fd: number, request: number, ifr: { ifr_name: string; ifr_data: Buffer }) => number>(
  'int ioctl(int fd, unsigned long request, const ifreq_data *ifr)',
  ifreqData,
);
const ioctlValueAsync = libcAsyncFunction<[fd: number, request: number, arg: number]>('int ioctl(int fd, unsigned long request, long arg)');

/** ioctl(fd, request, buffer): the C result; on -1 errno() says why. */
export function ioctl(fd: number, request: number, arg: Buffer): number {
  return ioctlC()(fd, request, arg);
}

/** ioctl(fd, request, &ifreq) for an interface name whose ifr_data points to `data`: the C result (errno()). */
export function ioctlIfreq(fd: number, request: number, ifname: string, data: Buffer): number {
  return ioctlIfreqC()(fd, request, { ifr_name: ifname, ifr_data: data });
}

/**
 * ioctl(fd, request, value) on koffi's thread pool, for requests that take a while (BLKRRPART): the C result.
 * The errno of a call on another thread is not available.
 */
export function ioctlAsync(fd: number, request: number, arg = 0): Promise<number> {
  return ioctlValueAsync()(fd, request, arg);
}

// ------------------------------------------------------------------ request numbers (_IOC)

export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/** _IOC(dir, type, nr, size) as <asm-generic/ioctl.h> computes it (nr and size are not masked, like the macro). */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

// ------------------------------------------------------------------ block devices (<linux/fs.h>)

/** BLKRRPART: _IO(0x12, 95), re-read the partition table. */
export const BLKRRPART = ioc(IOC_NONE, 0x12, 95, 0);
/** BLKGETDISKSEQ: _IOR(0x12, 128, __u64). */
export const BLKGETDISKSEQ = ioc(IOC_READ, 0x12, 128, 8);

// ------------------------------------------------------------------ btrfs (<linux/btrfs.h>)

/** struct btrfs_ioctl_vol_args: __s64 fd; char name[BTRFS_PATH_NAME_MAX + 1]. */
const btrfsVolArgs = declared((k) => k.struct('btrfs_ioctl_vol_args', { fd: 'int64_t', name: k.array('char', 4087 + 1) }));
const volArgsSize = declared((k) => k.sizeof(btrfsVolArgs()));
/** BTRFS_IOC_DEVICES_READY: _IOR(BTRFS_IOCTL_MAGIC 0x94, 39, struct btrfs_ioctl_vol_args). */
export const BTRFS_IOC_DEVICES_READY = declared(() => ioc(IOC_READ, 0x94, 39, volArgsSize()));

/** The btrfs_ioctl_vol_args for a device path (fd 0); undefined when the path does not fit or has a NUL. */
export function volArgs(path: string): Buffer | undefined {
  const k = koffi();
  const name = Buffer.from(path);
  if (name.length >= volArgsSize() - k.offsetof(btrfsVolArgs(), 'name') || name.includes(0)) return undefined;
  const b = Buffer.alloc(volArgsSize());
  k.encode(b, btrfsVolArgs(), { fd: 0, name: path });
  return b;
}

// ------------------------------------------------------------------ evdev (<linux/input.h>)

const EVDEV = 0x45; // 'E'

export interface AbsInfo {
  value: number;
  minimum: number;
  maximum: number;
  fuzz: number;
  flat: number;
  resolution: number;
}

const inputAbsinfo = declared((k) => k.struct('input_absinfo', { value: 'int32_t', minimum: 'int32_t', maximum: 'int32_t', fuzz: 'int32_t', flat: 'int32_t', resolution: 'int32_t' }));
/** The size of struct input_absinfo (a buffer for EVIOCGABS). */
export const absinfoSize = declared((k) => k.sizeof(inputAbsinfo()));
/** EVIOCSKEYCODE's argument: unsigned int[2] (scan code, key code). */
const keymap = declared((k) => k.array('uint32_t', 2));
const keymapSize = declared((k) => k.sizeof(keymap()));

/** EVIOCSKEYCODE: _IOW('E', 0x04, unsigned int[2]). */
export const EVIOCSKEYCODE = declared(() => ioc(IOC_WRITE, EVDEV, 0x04, keymapSize()));
/** EVIOCGBIT(0, sizeof(unsigned long)): the device's event types. */
export const EVIOCGBIT_EV = declared((k) => ioc(IOC_READ, EVDEV, 0x20, k.sizeof('unsigned long')));
/** EVIOCGABS(abs): _IOR('E', 0x40 + abs, struct input_absinfo). */
export const EVIOCGABS = (abs: number): number => ioc(IOC_READ, EVDEV, 0x40 + abs, absinfoSize());
/** EVIOCSABS(abs): _IOW('E', 0xc0 + abs, struct input_absinfo). */
export const EVIOCSABS = (abs: number): number => ioc(IOC_WRITE, EVDEV, 0xc0 + abs, absinfoSize());

/** struct input_absinfo in host byte order. */
export function encodeAbsInfo(a: AbsInfo): Buffer {
  const b = Buffer.alloc(absinfoSize());
  koffi().encode(b, inputAbsinfo(), a);
  return b;
}

export function decodeAbsInfo(b: Buffer): AbsInfo {
  return koffi().decode(b, inputAbsinfo()) as AbsInfo;
}

/** The EVIOCSKEYCODE argument: { unsigned scan; unsigned key; } in host byte order. */
export function encodeKeymap(scancode: number, keycode: number): Buffer {
  const b = Buffer.alloc(keymapSize());
  koffi().encode(b, keymap(), [scancode >>> 0, keycode >>> 0]);
  return b;
}

// ------------------------------------------------------------------ network interfaces (<linux/sockios.h>)

/** SIOCETHTOOL: an ethtool command, in the buffer ifr_data points to (its layouts: ethtool.ts). */
export const SIOCETHTOOL = 0x8946;
