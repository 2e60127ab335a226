// blkid: file system, RAID member and partition table probing through libblkid (src/sys/libblkid.ts),
// as systemd-udevd's udev-builtin-blkid.c (version 252) does it: ID_FS_TYPE, ID_FS_USAGE, ID_FS_VERSION,
// ID_FS_UUID(_ENC), ID_FS_UUID_SUB(_ENC), ID_FS_LABEL(_ENC), the ISO 9660 ids, ID_PART_TABLE_TYPE/UUID,
// ID_PART_ENTRY_*, and the GPT auto-root properties (ID_PART_GPT_AUTO_ROOT_UUID on the disk we booted from,
// ID_PART_GPT_AUTO_ROOT on that partition).
//
// Options (getopt_long like udev): -o/--offset=BYTES probes at an offset, -H/--hint=NAME=VALUE passes a
// probing hint to libblkid (e.g. session_offset=…), -R/--noraid skips RAID signatures.
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { devPath } from '../device/roots.js';
import type { Roots } from '../device/roots.js';
import type { Builtin, BuiltinContext } from './types.js';
import { splitDevT } from '../sys/devnum.js';
import { BLKGETDISKSEQ, ioctl } from '../sys/ioctl.js';
import { blkid, cBytes, encoded, FLTR_NOTIN, PARTS_ENTRY_DETAILS, SUBLKS_LABEL, SUBLKS_SECTYPE, SUBLKS_TYPE, SUBLKS_USAGE, SUBLKS_UUID, SUBLKS_VERSION, USAGE_RAID, type Ptr } from '../sys/libblkid.js';
import { errnoCode, tryOr } from '../util/fs.js';
import { getopt, getoptSpec, type OptionSpec } from '../util/getopt.js';

// ------------------------------------------------------------------ what udev makes of blkid's values

/** Values whose property is blkid_encode_string()'d, by blkid name (print_property). */
const ENCODED: Record<string, string> = {
  PART_ENTRY_NAME: 'ID_PART_ENTRY_NAME',
  PART_ENTRY_TYPE: 'ID_PART_ENTRY_TYPE',
  SYSTEM_ID: 'ID_FS_SYSTEM_ID',
  PUBLISHER_ID: 'ID_FS_PUBLISHER_ID',
  APPLICATION_ID: 'ID_FS_APPLICATION_ID',
  BOOT_SYSTEM_ID: 'ID_FS_BOOT_SYSTEM_ID',
  VOLUME_ID: 'ID_FS_VOLUME_ID',
  LOGICAL_VOLUME_ID: 'ID_FS_LOGICAL_VOLUME_ID',
  VOLUME_SET_ID: 'ID_FS_VOLUME_SET_ID',
  DATA_PREPARER_ID: 'ID_FS_DATA_PREPARER_ID',
};
/** Values copied as they are. */
const PLAIN: Record<string, string> = {
  TYPE: 'ID_FS_TYPE',
  USAGE: 'ID_FS_USAGE',
  VERSION: 'ID_FS_VERSION',
  PTTYPE: 'ID_PART_TABLE_TYPE',
  PTUUID: 'ID_PART_TABLE_UUID',
  FSSIZE: 'ID_FS_SIZE',
  FSLASTBLOCK: 'ID_FS_LASTBLOCK',
  FSBLOCKSIZE: 'ID_FS_BLOCKSIZE',
};
/** Values that give a "safe" property and an _ENC one. */
const SAFE_AND_ENC: Record<string, string> = { UUID: 'ID_FS_UUID', UUID_SUB: 'ID_FS_UUID_SUB', LABEL: 'ID_FS_LABEL' };

/**
 * The properties udev sets for one blkid value (name, and the value as a C string pointer or bytes).
 * Unknown names give nothing.
 */
function printProperty(name: string, value: Ptr, set: (k: string, v: string) => void, raw: () => Buffer): void {
  const safe = SAFE_AND_ENC[name];
  if (safe) {
    set(safe, encoded('safeString', value));
    set(`${safe}_ENC`, encoded('encodeString', value));
    return;
  }
  const plain = PLAIN[name];
  if (plain) return set(plain, raw().toString('utf8'));
  const enc = ENCODED[name];
  if (enc) return set(enc, encoded('encodeString', value));
  if (name.startsWith('PART_ENTRY_')) set(`ID_${name}`.slice(0, 255), raw().toString('utf8'));
}

// ------------------------------------------------------------------ GPT auto-root (find_gpt_root)

const GPT_ESP = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const GPT_XBOOTLDR = 'bc13c2ff-59e6-4262-a352-b275fd6f7172';
/** SD_GPT_ROOT_NATIVE for the architectures Node runs on. */
export const GPT_ROOT_NATIVE: Readonly<Record<string, string>> = {
  x64: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
  arm64: 'b921b045-1df0-41c3-af44-4c6f280d3fae',
  ia32: '44479540-f297-41b2-9af7-d131d5f0458a',
  arm: '69dad710-2ce4-4e3c-b16c-21a1d49abed3',
  riscv64: '72ec70a6-cf74-40e6-bd49-4bda08e8f224',
  loong64: '77055800-792c-4f94-b39a-98c91b762bb6',
  ppc64: '912ade1d-a839-4913-8964-a10eee08fbd2',
  s390x: '5eead9a9-fe09-4a1e-a1d7-520d00531306',
};
const GPT_FLAG_NO_AUTO = 1n << 63n;
const LOADER_DEVICE_PART_UUID = 'LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** sd_id128_from_string for the UUID form (case-insensitive), normalised to lower case, or undefined. */
function id128(s: string | null | undefined): string | undefined {
  if (!s) return undefined;
  const l = s.toLowerCase();
  if (UUID_RE.test(l)) return l;
  if (/^[0-9a-f]{32}$/.test(l)) return `${l.slice(0, 8)}-${l.slice(8, 12)}-${l.slice(12, 16)}-${l.slice(16, 20)}-${l.slice(20)}`;
  return undefined;
}

/**
 * The partition UUID of the ESP/XBOOTLDR the boot loader says we booted from (EFI variable
 * LoaderDevicePartUUID under <sysfs>/firmware/efi/efivars: 4 attribute bytes, then UTF-16LE text).
 */
export function loaderDevicePartUuid(sysfs: string): string | undefined {
  if (!existsSync(join(sysfs, 'firmware', 'efi'))) return undefined; // not booted through EFI
  const b = tryOr(() => readFileSync(join(sysfs, 'firmware', 'efi', 'efivars', LOADER_DEVICE_PART_UUID)), undefined); // no such variable (or efivarfs)
  if (!b) return undefined;
  if (b.length < 4) return undefined;
  const text = b.subarray(4, 4 + ((b.length - 4) & ~1)).toString('utf16le').replace(/\0.*$/s, '');
  return id128(text);
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isAlpha = (c: string | undefined) => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const cmp = (a: number, b: number) => (a < b ? -1 : a > b ? 1 : 0);

/** systemd's strverscmp_improved(): version comparison treating '.', '-', '~', '^' as in package versions. */
export function strverscmpImproved(a: string | null | undefined, b: string | null | undefined): number {
  if (!a || !b) {
    // strcmp_ptr(): NULL sorts first, two strings compare as strcmp()
    if (a != null && b != null) return a < b ? -1 : a > b ? 1 : 0;
    return cmp(a != null ? 1 : 0, b != null ? 1 : 0);
  }
  let i = 0;
  let j = 0;
  const valid = (c: string | undefined) => isDigit(c) || isAlpha(c) || c === '~' || c === '-' || c === '^' || c === '.';
  const sep = (ch: string): number | undefined => {
    if (a[i] === ch || b[j] === ch) {
      const r = cmp(a[i] !== ch ? 1 : 0, b[j] !== ch ? 1 : 0);
      if (r !== 0) return r;
      i++;
      j++;
    }
    return undefined;
  };
  for (;;) {
    while (i < a.length && !valid(a[i])) i++;
    while (j < b.length && !valid(b[j])) j++;
    let r = sep('~');
    if (r !== undefined) return r;
    if (i >= a.length || j >= b.length) {
      const x = a.slice(i);
      const y = b.slice(j);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    for (const ch of ['-', '^', '.']) {
      r = sep(ch);
      if (r !== undefined) return r;
    }
    let ii = i;
    let jj = j;
    if (isDigit(a[i]) || isDigit(b[j])) {
      while (isDigit(a[ii])) ii++;
      while (isDigit(b[jj])) jj++;
      r = cmp(ii !== i ? 1 : 0, jj !== j ? 1 : 0);
      if (r !== 0) return r;
      while (a[i] === '0') i++;
      while (b[j] === '0') j++;
      r = cmp(ii - i, jj - j);
      if (r !== 0) return r;
      const x = a.slice(i, ii);
      const y = b.slice(j, jj);
      if (x !== y) return x < y ? -1 : 1;
    } else {
      while (isAlpha(a[ii])) ii++;
      while (isAlpha(b[jj])) jj++;
      const n = Math.min(ii - i, jj - j);
      const x = a.slice(i, i + n);
      const y = b.slice(j, j + n);
      if (x !== y) return x < y ? -1 : 1;
      r = cmp(ii - i, jj - j);
      if (r !== 0) return r;
    }
    i = ii;
    j = jj;
  }
}

/** A partition as find_gpt_root sees it. */
export interface GptPartition {
  uuid: string | null;
  type: string | null;
  name: string | null;
  flags: bigint;
}

/**
 * The UUID to export as ID_PART_GPT_AUTO_ROOT_UUID: only when the disk holds the ESP/XBOOTLDR we booted
 * from, the first root partition of the native architecture without the no-auto flag, or the one whose label
 * is the newest version.
 */
export function gptAutoRoot(parts: GptPartition[], bootedFrom: string | undefined, arch = process.arch): string | undefined {
  const native = GPT_ROOT_NATIVE[arch];
  let foundEsp = false;
  let rootId: string | undefined;
  let rootLabel: string | null = null;
  for (const p of parts) {
    const type = id128(p.type);
    if (!type) continue;
    if (type === GPT_ESP || type === GPT_XBOOTLDR) {
      const id = id128(p.uuid);
      if (!id) continue;
      if (!bootedFrom) return undefined; // efi_loader_get_device_part_uuid failed: give up like udev
      if (id === bootedFrom) foundEsp = true;
    } else if (native && type === native) {
      if (p.flags & GPT_FLAG_NO_AUTO) continue;
      if (!rootId || strverscmpImproved(p.name, rootLabel) > 0) {
        rootId = p.uuid ?? undefined;
        rootLabel = p.name;
      }
    }
  }
  return foundEsp && rootId ? rootId : undefined;
}

function gptPartitions(pr: Ptr): GptPartition[] {
  const b = blkid();
  const pl = b.getPartitions(pr);
  if (!pl) return [];
  const out: GptPartition[] = [];
  const n = b.partlistNumof(pl);
  for (let i = 0; i < n; i++) {
    const pp = b.partlistGet(pl, i);
    if (!pp) continue;
    out.push({ uuid: b.partitionUuid(pp), type: b.partitionTypeString(pp), name: b.partitionName(pp), flags: BigInt(b.partitionFlags(pp)) });
  }
  return out;
}

// ------------------------------------------------------------------ options

/** The parsed options: offset in bytes, hints, noraid. */
export interface BlkidOptions {
  offset: bigint;
  hints: string[];
  noraid: boolean;
}

/** strtoll(s, &end, 0) over the whole string as safe_atoi64 wants it (leading white space allowed), or undefined. */
export function parseInt64(s: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = m[2]!;
  const v = body.length > 1 && body[0] === '0' && (body[1] === 'x' || body[1] === 'X') ? BigInt(body) : body[0] === '0' ? BigInt('0o' + (body.slice(1) || '0')) : BigInt(body);
  const signed = m[1] === '-' ? -v : v;
  if (signed > 0x7fffffffffffffffn || signed < -0x8000000000000000n) return undefined;
  return signed;
}

const BLKID_OPTIONS: OptionSpec = { offset: { type: 'string', short: 'o' }, hint: { type: 'string', short: 'H' }, noraid: { type: 'boolean', short: 'R' } };
/** getopt's tables for them, made once: udev's loop passes over what getopt does not know ('?'). */
const BLKID_GETOPT = { ...getoptSpec(BLKID_OPTIONS), keepGoing: true };

/**
 * Parses the builtin's arguments as its getopt_long("o:H:R") does. Like udev, which passes over getopt's '?', options
 * it does not know (or that lack their argument) are ignored; a bad offset is an error.
 */
export function parseBlkidArgs(argv: string[]): BlkidOptions {
  const { options } = getopt(argv.slice(1), BLKID_GETOPT, 'blkid');
  const opts: BlkidOptions = { offset: 0n, hints: [], noraid: false };
  for (const { key, value } of options) {
    if (key === 'noraid') opts.noraid = true;
    else if (key === 'hint') opts.hints.push(value!);
    else {
      const v = parseInt64(value!);
      if (v === undefined) throw new BlkidError(`blkid: failed to parse '${value}' as an integer`, 'error');
      if (v < 0n) throw new BlkidError(`blkid: invalid offset ${v}`, 'error');
      opts.offset = v;
    }
  }
  return opts;
}

// ------------------------------------------------------------------ the device

const O_CLOEXEC = 0o2000000;
const O_NOCTTY = constants.O_NOCTTY ?? 0o400;

/** A node that is absent or belongs to another device: udev ignores these (ERRNO_IS_DEVICE_ABSENT). */
class DeviceAbsent extends Error {}
/** A failure udev reports by failing the builtin (logged, the import fails). */
class BlkidError extends Error {
  constructor(
    message: string,
    readonly level: 'debug' | 'error' = 'debug',
  ) {
    super(message);
  }
}

/**
 * sd_device_open(): opens the device node under the dev root read-only and makes sure it is this device's
 * block node (and, when the kernel gave a DISKSEQ, the same disk sequence number).
 */
function openNode(ctx: BuiltinContext, roots: Roots, devname: string): number {
  const dev = ctx.device;
  const path = devPath(roots, devname);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | O_CLOEXEC | constants.O_NONBLOCK | O_NOCTTY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENXIO' || code === 'ENODEV') throw new DeviceAbsent(`${path}: ${code}`);
    throw new BlkidError(`blkid: failed to open block device ${path}: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    const num = dev.devnum;
    const { major, minor } = splitDevT(st.rdev);
    const rightType = dev.subsystem === 'block' ? st.isBlockDevice() : st.isCharacterDevice();
    if (!rightType || !num || num.major !== major || num.minor !== minor) throw new DeviceAbsent(`${path} is not the device node ${num?.major}:${num?.minor}`);
    const seq = dev.property('DISKSEQ');
    if (seq !== undefined && /^\d+$/.test(seq)) {
      const b = Buffer.alloc(8);
      if (ioctl(fd, BLKGETDISKSEQ, b) >= 0 && b.readBigUInt64LE() !== BigInt(seq)) throw new DeviceAbsent(`${path}: disk sequence number changed`);
    }
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** probe_superblocks(): partitions only for small partitioned whole disks, else everything. 0 = found, 1 = nothing, <0 = error. */
function probe(pr: Ptr, isChar: boolean): number {
  const b = blkid();
  b.enablePartitions(pr, 1);
  if (!isChar && BigInt(b.getSize(pr)) <= 1024n * 1440n && b.isWholedisk(pr)) {
    // a small disk that is partitioned: do not look for file systems
    b.enableSuperblocks(pr, 0);
    const rc = b.doFullprobe(pr);
    if (rc < 0) return rc;
    if (b.lookupValue(pr, 'PTTYPE', null, null) === 0) return 0;
  }
  b.setPartitionsFlags(pr, PARTS_ENTRY_DETAILS);
  b.enableSuperblocks(pr, 1);
  return b.doSafeprobe(pr);
}

function run(ctx: BuiltinContext, argv: string[]): boolean {
  try {
    return probeDevice(ctx, argv);
  } catch (e) {
    if (!(e instanceof BlkidError)) throw e;
    ctx.log[e.level](`${ctx.device.sysname}: ${e.message}`);
    return false;
  }
}

function probeDevice(ctx: BuiltinContext, argv: string[]): boolean {
  const b = blkid();
  const pr = b.newProbe();
  if (!pr) throw new BlkidError('blkid: failed to create blkid prober');
  let fd = -1;
  try {
    // in udev's order: options (hints go to the prober at once), flags, then the device
    const opts = parseBlkidArgs(argv);
    for (const h of opts.hints) {
      if (!b.setHint) {
        // libblkid without hints (before 2.37): udev uses the hint's value as the offset
        const eq = h.indexOf('=');
        if (eq < 0) continue;
        const v = parseInt64(h.slice(eq + 1));
        if (v === undefined) throw new BlkidError(`blkid: failed to parse '${h.slice(eq + 1)}' as an integer`, 'error');
        if (v < 0n) throw new BlkidError(`blkid: invalid offset ${v}`, 'error');
        opts.offset = v;
      } else if (b.setHint(pr, h, 0n) < 0) throw new BlkidError(`blkid: failed to use '${h}' probing hint`, 'error');
    }
    b.setSuperblocksFlags(pr, SUBLKS_LABEL | SUBLKS_UUID | SUBLKS_TYPE | SUBLKS_SECTYPE | SUBLKS_USAGE | SUBLKS_VERSION);
    if (opts.noraid) b.filterSuperblocksUsage(pr, FLTR_NOTIN, USAGE_RAID);

    const devname = ctx.device.devname;
    if (!devname) throw new BlkidError(`blkid: ${ctx.device.syspath} has no device node`);
    try {
      fd = openNode(ctx, ctx.roots, devname);
    } catch (e) {
      if (!(e instanceof DeviceAbsent)) throw e;
      ctx.log.debug(`blkid: failed to open block device ${devname}, ignoring: ${e.message}`);
      return true;
    }
    if (b.setDevice(pr, fd, opts.offset, 0n) < 0) throw new BlkidError(`blkid: failed to set ${devname} to the blkid prober`);
    ctx.log.debug(`blkid: probe ${devname} with ${opts.noraid ? 'no' : ''}raid and offset=${opts.offset}`);
    const rc = probe(pr, fstatSync(fd).isCharacterDevice());
    if (rc < 0) throw new BlkidError(`blkid: failed to probe superblocks of ${devname}`);

    // a partition: its disk passed down the root partition's UUID
    const rootPartition = ctx.device.property('ID_PART_GPT_AUTO_ROOT_UUID');
    const n = b.numofValues(pr);
    if (n < 0) throw new BlkidError('blkid: failed to get the number of probed values');
    let isGpt = false;
    for (let i = 0; i < n; i++) {
      const name: [Ptr | null] = [null];
      const data: [Ptr | null] = [null];
      const len: [number | bigint] = [0];
      if (b.getValue(pr, i, name, data, len) < 0 || !name[0] || !data[0]) continue;
      const key = cBytes(name[0]).toString('latin1');
      const value = data[0];
      let rawCache: Buffer | undefined;
      const raw = () => (rawCache ??= cBytes(value, Number(len[0])));
      printProperty(key, value, (k, v) => ctx.setProperty(k, v), raw);
      if (key === 'PTTYPE' && raw().toString('latin1') === 'gpt') isGpt = true;
      if (rootPartition !== undefined && key === 'PART_ENTRY_UUID' && raw().toString('utf8') === rootPartition) ctx.setProperty('ID_PART_GPT_AUTO_ROOT', '1');
    }
    if (isGpt) {
      const uuid = gptAutoRoot(gptPartitions(pr), loaderDevicePartUuid(ctx.roots.sysfs));
      if (uuid) ctx.setProperty('ID_PART_GPT_AUTO_ROOT_UUID', uuid);
    }
    return true;
  } finally {
    b.freeProbe(pr);
    if (fd >= 0) closeSync(fd);
  }
}

const builtin: Builtin = {
  name: 'blkid',
  help: 'Filesystem and partition probing',
  run,
};

export default builtin;
