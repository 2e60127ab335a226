// libblkid (util-linux's libblkid.so.1) through koffi, for the blkid builtin: the functions udev's
// udev-builtin-blkid.c calls, the flags of <blkid/blkid.h>, and reading the C strings it returns.
import { koffi, loadLibrary, optionalFunction, type Library } from './libc.js';

// flags from <blkid/blkid.h>
export const SUBLKS_LABEL = 1 << 1;
export const SUBLKS_UUID = 1 << 3;
export const SUBLKS_TYPE = 1 << 5;
export const SUBLKS_SECTYPE = 1 << 6;
export const SUBLKS_USAGE = 1 << 7;
export const SUBLKS_VERSION = 1 << 8;
// BLKID_SUBLKS_FSINFO (1 << 11, FSSIZE/FSLASTBLOCK/FSBLOCKSIZE) exists since util-linux 2.39; Debian's udev
// 252 is built against 2.38 headers and does not ask for it, so neither do we (the names are still mapped).
export const FLTR_NOTIN = 1;
export const USAGE_RAID = 1 << 2;
export const PARTS_ENTRY_DETAILS = 1 << 2;

/** An opaque libblkid pointer (probe, partition list, partition, C string). */
export type Ptr = unknown;

export interface Blkid {
  newProbe(): Ptr | null;
  freeProbe(pr: Ptr): void;
  setDevice(pr: Ptr, fd: number, offset: bigint, size: bigint): number;
  /** Missing in libblkid before 2.37. */
  setHint?: (pr: Ptr, hint: string, value: bigint) => number;
  setSuperblocksFlags(pr: Ptr, flags: number): number;
  filterSuperblocksUsage(pr: Ptr, flag: number, usage: number): number;
  enablePartitions(pr: Ptr, enable: number): number;
  enableSuperblocks(pr: Ptr, enable: number): number;
  setPartitionsFlags(pr: Ptr, flags: number): number;
  getSize(pr: Ptr): bigint | number;
  isWholedisk(pr: Ptr): number;
  doFullprobe(pr: Ptr): number;
  doSafeprobe(pr: Ptr): number;
  lookupValue(pr: Ptr, name: string, data: null, len: null): number;
  numofValues(pr: Ptr): number;
  getValue(pr: Ptr, num: number, name: [Ptr | null], data: [Ptr | null], len: [number | bigint]): number;
  encodeString(str: Ptr, res: Buffer, len: number): number;
  safeString(str: Ptr, res: Buffer, len: number): number;
  getPartitions(pr: Ptr): Ptr | null;
  partlistNumof(pl: Ptr): number;
  partlistGet(pl: Ptr, i: number): Ptr | null;
  partitionUuid(pp: Ptr): string | null;
  partitionTypeString(pp: Ptr): string | null;
  partitionName(pp: Ptr): string | null;
  partitionFlags(pp: Ptr): bigint | number;
}

let lib: Blkid | undefined;

/** libblkid, loaded once; throws a clear Error when it is not there. */
export function blkid(): Blkid {
  if (lib) return lib;
  const l: Library = loadLibrary('libblkid.so.1', 'libblkid1');
  const f = (decl: string) => l.func(decl) as unknown as (...a: unknown[]) => never;
  lib = {
    newProbe: f('void *blkid_new_probe(void)'),
    freeProbe: f('void blkid_free_probe(void *pr)'),
    setDevice: f('int blkid_probe_set_device(void *pr, int fd, int64_t off, int64_t size)'),
    setHint: optionalFunction(l, 'int blkid_probe_set_hint(void *pr, const char *name, uint64_t value)'),
    setSuperblocksFlags: f('int blkid_probe_set_superblocks_flags(void *pr, int flags)'),
    filterSuperblocksUsage: f('int blkid_probe_filter_superblocks_usage(void *pr, int flag, int usage)'),
    enablePartitions: f('int blkid_probe_enable_partitions(void *pr, int enable)'),
    enableSuperblocks: f('int blkid_probe_enable_superblocks(void *pr, int enable)'),
    setPartitionsFlags: f('int blkid_probe_set_partitions_flags(void *pr, int flags)'),
    getSize: f('int64_t blkid_probe_get_size(void *pr)'),
    isWholedisk: f('int blkid_probe_is_wholedisk(void *pr)'),
    doFullprobe: f('int blkid_do_fullprobe(void *pr)'),
    doSafeprobe: f('int blkid_do_safeprobe(void *pr)'),
    lookupValue: f('int blkid_probe_lookup_value(void *pr, const char *name, void *data, void *len)'),
    numofValues: f('int blkid_probe_numof_values(void *pr)'),
    getValue: f('int blkid_probe_get_value(void *pr, int num, _Out_ void **name, _Out_ void **data, _Out_ size_t *len)'),
    encodeString: f('int blkid_encode_string(void *str, void *res, size_t len)'),
    safeString: f('int blkid_safe_string(void *str, void *res, size_t len)'),
    getPartitions: f('void *blkid_probe_get_partitions(void *pr)'),
    partlistNumof: f('int blkid_partlist_numof_partitions(void *pl)'),
    partlistGet: f('void *blkid_partlist_get_partition(void *pl, int n)'),
    partitionUuid: f('const char *blkid_partition_get_uuid(void *pp)'),
    partitionTypeString: f('const char *blkid_partition_get_type_string(void *pp)'),
    partitionName: f('const char *blkid_partition_get_name(void *pp)'),
    partitionFlags: f('unsigned long long blkid_partition_get_flags(void *pp)'),
  };
  return lib;
}

/** The bytes of a C string libblkid returned: `len` bytes up to a NUL, or up to the NUL. */
export function cBytes(p: Ptr, len?: number): Buffer {
  if (len !== undefined && len > 0) {
    const b = Buffer.from(koffi().view(p, len));
    const z = b.indexOf(0);
    return Buffer.from(z < 0 ? b : b.subarray(0, z));
  }
  return Buffer.from(koffi().decode(p, 'char', -1) as string, 'latin1');
}

/** blkid_encode_string / blkid_safe_string of a C string, into udev's 256-byte buffer. */
export function encoded(fn: 'encodeString' | 'safeString', p: Ptr): string {
  const out = Buffer.alloc(256);
  blkid()[fn](p, out, out.length);
  const z = out.indexOf(0);
  return out.subarray(0, z < 0 ? out.length : z).toString('utf8');
}
