// usb_id: identification of USB devices and of what sits on them (a disk's vendor, model, serial), as
// systemd-udevd's udev-builtin-usb_id.c (version 252) computes it: ID_VENDOR, ID_MODEL, ID_SERIAL, ID_TYPE,
// ID_INSTANCE, ... and the same values again as ID_USB_*, plus ID_USB_INTERFACES, ID_USB_INTERFACE_NUM and
// ID_USB_DRIVER.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Device } from '../device/device.js';
import type { Builtin, BuiltinContext } from './types.js';
import { cString, encodeDevnodeName, sanitizeId, scanNumbers, sysattrBytes } from './util.js';
import { tryOr } from '../util/fs.js';
import { numberOrUndefined, safeAtoi } from '../util/cnum.js';

/** ID_TYPE from the interface class (set_usb_iftype). */
const IFTYPES: Record<number, string> = { 1: 'audio', 3: 'hid', 6: 'media', 7: 'printer', 8: 'storage', 9: 'hub', 0x0e: 'video' };

/** ID_TYPE for mass storage from the interface subclass; returns the subclass number (the "protocol"). */
function massStorageType(subclass: string): { type: string; protocol: number } {
  const n = numberOrUndefined(safeAtoi(subclass));
  if (n === undefined) return { type: 'generic', protocol: 0 };
  const t: Record<number, string> = { 1: 'rbc', 2: 'atapi', 3: 'tape', 4: 'floppy', 6: 'scsi' };
  return { type: t[n] ?? 'generic', protocol: n };
}

/** ID_TYPE from the SCSI peripheral type. */
function scsiType(type: string): string {
  const n = numberOrUndefined(safeAtoi(type));
  if (n === undefined || n < 0) return 'generic';
  if (n === 0 || n === 0xe) return 'disk';
  if (n === 1) return 'tape';
  if (n === 4 || n === 7 || n === 0xf) return 'optical';
  if (n === 5) return 'cd';
  return 'generic';
}

const USB_DT_INTERFACE = 0x04;
const IFACE_DESC_SIZE = 9;
const PACKED_MAX = 512; // UDEV_NAME_SIZE

/**
 * ":ccsspp:ccsspp:" for every distinct (class, subclass, protocol) among the interface descriptors in the
 * device's binary "descriptors" attribute; "" when there are none or the file is unreadable.
 */
export function packedInterfaces(dev: Device): string {
  const buf = tryOr(() => readFileSync(join(dev.syspath, 'descriptors')).subarray(0, 18 + 65535), undefined); // unreadable: none
  if (!buf) return '';
  if (buf.length < 18) return '';
  let out = '';
  let pos = 0;
  while (pos + IFACE_DESC_SIZE < buf.length && out.length + 7 < PACKED_MAX - 2) {
    const bLength = buf[pos]!;
    if (bLength < 3) break;
    // corrupt data: the C code returns here, leaving what it collected without the closing ':'
    if (bLength > buf.length - IFACE_DESC_SIZE) return out;
    const type = buf[pos + 1]!;
    const [cls, sub, proto] = [buf[pos + 5]!, buf[pos + 6]!, buf[pos + 7]!];
    pos += bLength;
    if (type !== USB_DT_INTERFACE) continue;
    const entry = ':' + [cls, sub, proto].map((b) => b.toString(16).padStart(2, '0')).join('');
    if (out.includes(entry)) continue;
    out += entry;
  }
  return out ? out + ':' : '';
}

interface Ids {
  vendor: string;
  vendorEnc: string;
  model: string;
  modelEnc: string;
  revision: string;
  type: string;
  instance: string;
}

/**
 * Vendor, model, type, revision and instance from the SCSI device of a USB mass storage disk. Like the C code
 * it fills `ids` step by step and stops at the first missing piece, keeping what it already set.
 */
function scsiIds(dev: Device, ids: Ids): void {
  const scsi = dev.parentWithSubsystemDevtype('scsi', 'scsi_device');
  if (!scsi) return;
  const hctl = scanNumbers(scsi.sysname, '%d:%d:%d:%d');
  if (hctl.length !== 4) return;
  const vendor = sysattrBytes(scsi, 'vendor');
  if (!vendor) return;
  ids.vendorEnc = encodeDevnodeName(vendor);
  ids.vendor = sanitizeId(vendor, 63);
  const model = sysattrBytes(scsi, 'model');
  if (!model) return;
  ids.modelEnc = encodeDevnodeName(model);
  ids.model = sanitizeId(model, 63);
  const type = scsi.sysattr('type');
  if (type === undefined) return;
  ids.type = scsiType(type);
  const rev = sysattrBytes(scsi, 'rev');
  if (!rev) return;
  ids.revision = sanitizeId(rev, 63);
  // some broken devices have the same identifiers for all LUNs: export target:lun
  ids.instance = `${hctl[2]}:${hctl[3]}`;
}

/** A USB serial number is used only when every byte is printable ASCII other than ','. */
function usableSerial(b: Buffer): boolean {
  for (const c of cString(b)) if (c < 0x20 || c > 0x7f || c === 0x2c) return false;
  return true;
}

/** Cuts a string to at most `max` UTF-8 bytes (C buffers), never inside a character. */
function cut(s: string, max: number): string {
  const b = Buffer.from(s);
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

/** The properties in udev's order, or an Error saying why the device has none. */
export function usbProperties(dev: Device): Array<[string, string]> | Error {
  const ids: Ids = { vendor: '', vendorEnc: '', model: '', modelEnc: '', revision: '', type: '', instance: '' };
  let usb: Device;
  let packed: string;
  let ifnum: string | undefined;
  let driver: string | undefined;

  if (dev.devtype === 'usb_device') {
    // called for the USB device itself
    usb = dev;
    packed = packedInterfaces(dev);
  } else {
    const iface = dev.parentWithSubsystemDevtype('usb', 'usb_interface');
    if (!iface) return new Error('no usb_interface parent');
    ifnum = iface.sysattr('bInterfaceNumber');
    driver = iface.sysattr('driver');
    const ifClass = iface.sysattr('bInterfaceClass');
    if (ifClass === undefined) return new Error('no bInterfaceClass attribute');
    if (!/^\s*\+?(?:0[xX])?[0-9a-fA-F]+$/.test(ifClass) || parseInt(ifClass.trim().replace(/^\+/, ''), 16) > 0xffffffff) return new Error(`bad bInterfaceClass "${ifClass}"`);
    const classNum = parseInt(ifClass.trim().replace(/^\+/, ''), 16);
    let protocol = 0;
    if (classNum === 8) {
      const sub = iface.sysattr('bInterfaceSubClass');
      if (sub !== undefined) {
        const m = massStorageType(sub);
        ids.type = m.type;
        protocol = m.protocol;
      }
    } else {
      ids.type = IFTYPES[classNum] ?? 'generic';
    }
    const parentUsb = iface.parentWithSubsystemDevtype('usb', 'usb_device');
    if (!parentUsb) return new Error('no usb_device parent');
    usb = parentUsb;
    packed = packedInterfaces(usb);
    // mass storage speaking SCSI or ATAPI: the SCSI inquiry data names the disk
    if (protocol === 6 || protocol === 2) scsiIds(dev, ids);
  }

  const vendorId = usb.sysattr('idVendor');
  if (vendorId === undefined) return new Error('no idVendor attribute');
  const productId = usb.sysattr('idProduct');
  if (productId === undefined) return new Error('no idProduct attribute');
  // fall back to the USB strings, then to the numeric ids
  if (ids.vendor === '') {
    const v = sysattrBytes(usb, 'manufacturer') ?? Buffer.from(vendorId);
    ids.vendorEnc = encodeDevnodeName(v);
    ids.vendor = sanitizeId(v, 63);
  }
  if (ids.model === '') {
    const m = sysattrBytes(usb, 'product') ?? Buffer.from(productId);
    ids.modelEnc = encodeDevnodeName(m);
    ids.model = sanitizeId(m, 63);
  }
  if (ids.revision === '') {
    const r = sysattrBytes(usb, 'bcdDevice');
    if (r) ids.revision = sanitizeId(r, 63);
  }
  let serialShort = '';
  const sb = sysattrBytes(usb, 'serial');
  if (sb && usableSerial(sb)) serialShort = sanitizeId(sb, 511);

  let serial = `${ids.vendor}_${ids.model}`;
  if (serialShort) serial += `_${serialShort}`;
  if (ids.instance) serial += `-${ids.instance}`;
  serial = cut(serial, 255);

  const out: Array<[string, string]> = [];
  const add = (k: string, v: string) => out.push([k, v]);
  const set = (prefix: 'ID_' | 'ID_USB_') => {
    add(`${prefix}MODEL`, ids.model);
    add(`${prefix}MODEL_ENC`, ids.modelEnc);
    add(`${prefix}MODEL_ID`, productId);
    add(`${prefix}SERIAL`, serial);
    if (serialShort) add(`${prefix}SERIAL_SHORT`, serialShort);
    add(`${prefix}VENDOR`, ids.vendor);
    add(`${prefix}VENDOR_ENC`, ids.vendorEnc);
    add(`${prefix}VENDOR_ID`, vendorId);
    add(`${prefix}REVISION`, ids.revision);
    if (ids.type) add(`${prefix}TYPE`, ids.type);
    if (ids.instance) add(`${prefix}INSTANCE`, ids.instance);
  };
  // another builtin (e.g. ata_id, scsi_id) already named the bus: leave the ID_* values alone
  if (dev.property('ID_BUS') === undefined) {
    add('ID_BUS', 'usb');
    set('ID_');
  }
  set('ID_USB_');
  if (packed) add('ID_USB_INTERFACES', packed);
  if (ifnum !== undefined) add('ID_USB_INTERFACE_NUM', ifnum);
  if (driver !== undefined) add('ID_USB_DRIVER', driver);
  return out;
}

const usbId: Builtin = {
  name: 'usb_id',
  help: 'USB device properties',
  run(ctx: BuiltinContext): boolean {
    const res = usbProperties(ctx.device);
    if (res instanceof Error) {
      ctx.log.debug(`usb_id: ${ctx.device.devpath}: ${res.message}`);
      return false;
    }
    for (const [k, v] of res) ctx.setProperty(k, v);
    return true;
  },
};

export default usbId;
