// path_id: the persistent "path" of a device, built by walking from the device up through its parents and
// prepending one element per bus (pci-0000:00:1f.2-ata-1.0, platform-..., usb-0:1:1.0, ...).
// Behaviour follows systemd-udevd's udev-builtin-path_id.c (version 252): ID_PATH, ID_PATH_TAG and, for ATA
// disks, ID_PATH_ATA_COMPAT.
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Device } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import type { Builtin, BuiltinContext } from './types.js';
import { deviceBySubsystemSysname, parseUnsigned, scanNumbers } from './util.js';
import { tryOr } from '../util/fs.js';

/** A path under construction: elements are prepended, joined with '-'. */
class PathBuilder {
  parts: string[] = [];
  get empty(): boolean {
    return this.parts.length === 0;
  }
  prepend(s: string): void {
    this.parts.unshift(s);
  }
  toString(): string {
    return this.parts.join('-');
  }
}

/** What one handler returns: the device the walk continues above, or null to stop the walk. */
type Next = Device | null;

interface Walk {
  roots: Roots;
  path: PathBuilder;
  /** The old "ata-N" style path, started by an ATA disk. */
  compat: PathBuilder | undefined;
  supportedParent: boolean;
  supportedTransport: boolean;
}

/** "lun-N" from the SCSI device's sysnum (Linux LUNs are 32 bit; see scsilun_to_int()); "(null)" when unknown, as the C code prints. */
function lunNumber(dev: Device): string {
  const sysnum = dev.sysnum;
  const lun = sysnum === undefined ? undefined : parseUnsigned(sysnum, Number.MAX_SAFE_INTEGER);
  if (lun === undefined) return '(null)';
  if (lun < 256) return `lun-${lun}`; // address method 0, peripheral device addressing with bus id 0
  const hex4 = (n: number) => n.toString(16).padStart(4, '0');
  return `lun-0x${hex4(lun & 0xffff)}${hex4(Math.floor(lun / 0x10000) & 0xffff)}00000000`;
}

/**
 * Walks up while the parent is still in `subsystem` and returns the topmost such device (the main loop then
 * steps to its parent).
 */
function skipSubsystem(dev: Device, subsystem: string): Device {
  let cur = dev;
  for (let p: Device | undefined = dev; p; p = p.parent()) {
    if (p.subsystem !== subsystem) break;
    cur = p;
  }
  return cur;
}

function sysnameOf(d: Device | undefined): string | undefined {
  return d?.sysname;
}

function handleScsiFibreChannel(w: Walk, dev: Device): Next {
  const target = dev.parentWithSubsystemDevtype('scsi', 'scsi_target');
  const name = sysnameOf(target);
  if (name === undefined) return null;
  const port = deviceBySubsystemSysname(w.roots, 'fc_transport', name)?.sysattr('port_name');
  if (port === undefined) return null;
  w.path.prepend(`fc-${port}-${lunNumber(dev)}`);
  return dev;
}

function handleScsiSasWidePort(w: Walk, dev: Device): Next {
  const name = sysnameOf(dev.parentWithSubsystemDevtype('scsi', 'scsi_target')?.parent());
  if (name === undefined) return null;
  const address = deviceBySubsystemSysname(w.roots, 'sas_device', name)?.sysattr('sas_address');
  if (address === undefined) return null;
  w.path.prepend(`sas-${address}-${lunNumber(dev)}`);
  return dev;
}

function handleScsiSas(w: Walk, dev: Device): Next {
  const targetParent = dev.parentWithSubsystemDevtype('scsi', 'scsi_target')?.parent();
  if (!targetParent) return null;
  const targetSas = deviceBySubsystemSysname(w.roots, 'sas_device', targetParent.sysname);
  if (!targetSas) return null;
  // the next parent is the SAS port
  const port = targetParent.parent();
  if (!port) return null;
  const phyCount = deviceBySubsystemSysname(w.roots, 'sas_port', port.sysname)?.sysattr('num_phys');
  if (phyCount === undefined) return null;
  // a port with more than one phy is a wide port
  if (phyCount !== '1') return handleScsiSasWidePort(w, dev);
  const phy = targetSas.sysattr('phy_identifier');
  if (phy === undefined) return null;
  // the port's parent is the HBA or an expander
  const expander = port.parent();
  if (!expander) return null;
  let expanderAddress: string | undefined;
  const expanderSas = deviceBySubsystemSysname(w.roots, 'sas_device', expander.sysname);
  if (expanderSas) {
    expanderAddress = expanderSas.sysattr('sas_address');
    if (expanderAddress === undefined) return null;
  }
  const lun = lunNumber(dev);
  w.path.prepend(expanderAddress !== undefined ? `sas-exp${expanderAddress}-phy${phy}-${lun}` : `sas-phy${phy}-${lun}`);
  return dev;
}

function handleScsiIscsi(w: Walk, dev: Device): Next {
  // the iSCSI session is the first ancestor named session*
  let transport: Device | undefined = dev;
  for (;;) {
    transport = transport.parent();
    if (!transport) return null;
    if (transport.sysname.startsWith('session')) break;
  }
  const target = deviceBySubsystemSysname(w.roots, 'iscsi_session', transport.sysname)?.sysattr('targetname');
  if (target === undefined) return null;
  const sysnum = transport.sysnum;
  if (sysnum === undefined) return null;
  const conn = deviceBySubsystemSysname(w.roots, 'iscsi_connection', `connection${sysnum}:0`);
  if (!conn) return null;
  const addr = conn.sysattr('persistent_address');
  if (addr === undefined) return null;
  const port = conn.sysattr('persistent_port');
  if (port === undefined) return null;
  w.path.prepend(`ip-${addr}:${port}-iscsi-${target}-${lunNumber(dev)}`);
  return dev;
}

function handleScsiAta(w: Walk, dev: Device): Next {
  const hctl = scanNumbers(dev.sysname, '%u:%u:%u:%u');
  if (hctl.length !== 4) return null;
  const [, bus, target] = hctl as [number, number, number, number];
  const name = sysnameOf(dev.parentWithSubsystemDevtype('scsi', 'scsi_host')?.parent());
  if (name === undefined) return null;
  const portNo = deviceBySubsystemSysname(w.roots, 'ata_port', name)?.sysattr('port_no');
  if (portNo === undefined) return null;
  // devices behind a port multiplier have bus != 0; otherwise master/slave differ by target id
  w.path.prepend(bus !== 0 ? `ata-${portNo}.${bus}.0` : `ata-${portNo}.${target}`);
  // the old persistent link name for ATA devices
  w.compat ??= new PathBuilder();
  w.compat.prepend(`ata-${portNo}`);
  return dev;
}

function handleScsiDefault(w: Walk, dev: Device): Next {
  const host = dev.parentWithSubsystemDevtype('scsi', 'scsi_host');
  if (!host) return null;
  const hctl = scanNumbers(dev.sysname, '%d:%d:%d:%d');
  if (hctl.length !== 4) return null;
  const [hostNo, bus, target, lun] = hctl as [number, number, number, number];
  // Rebase the global host number to the smallest host number under the same parent (udev itself calls
  // this racy and unreliable; kept for compatible names).
  let base = -1;
  const entries = tryOr(() => readdirSync(dirname(host.syspath), { withFileTypes: true }), undefined);
  if (!entries) return null;
  for (const e of entries) {
    if (e.name.startsWith('.') || !(e.isDirectory() || e.isSymbolicLink()) || !e.name.startsWith('host')) continue;
    const n = parseUnsigned(e.name.slice(4));
    if (n === undefined) continue;
    const i = n | 0;
    if (base === -1 || i < base) base = i;
  }
  if (base === -1) return host;
  const u = (n: number) => n >>> 0;
  w.path.prepend(`scsi-${u(hostNo - base)}:${u(bus)}:${u(target)}:${u(lun)}`);
  return host;
}

function handleScsiHyperv(w: Walk, dev: Device, guidLength: number): Next {
  const vmbus = dev.parentWithSubsystemDevtype('scsi', 'scsi_host')?.parent();
  if (!vmbus) return null;
  const guid = vmbus.sysattr('device_id');
  if (guid === undefined || guid.length < guidLength || guid[0] !== '{' || guid[guidLength - 1] !== '}') return null;
  const compact = guid.slice(1, guidLength - 1).replace(/-/g, '');
  w.path.prepend(`vmbus-${compact}-${lunNumber(dev)}`);
  return dev;
}

function handleScsi(w: Walk, dev: Device): Next {
  if (dev.devtype !== 'scsi_device') return dev;
  // firewire
  const ieee1394 = dev.sysattr('ieee1394_id');
  if (ieee1394 !== undefined) {
    w.path.prepend(`ieee1394-0x${ieee1394}`);
    w.supportedParent = true;
    return skipSubsystem(dev, 'scsi');
  }
  // SCSI transports have no subsystem of their own in sysfs: recognize them by the device path
  const p = dev.syspath;
  if (p.includes('/rport-')) {
    w.supportedParent = true;
    return handleScsiFibreChannel(w, dev);
  }
  if (p.includes('/end_device-')) {
    w.supportedParent = true;
    return handleScsiSas(w, dev);
  }
  if (p.includes('/session')) {
    w.supportedParent = true;
    return handleScsiIscsi(w, dev);
  }
  if (p.includes('/ata')) return handleScsiAta(w, dev);
  if (p.includes('/vmbus_')) return handleScsiHyperv(w, dev, 37);
  if (p.includes('/VMBUS')) return handleScsiHyperv(w, dev, 38);
  return handleScsiDefault(w, dev);
}

function handleCciss(w: Walk, dev: Device): Next {
  const nums = scanNumbers(dev.sysname, 'c%ud%u');
  if (nums.length !== 2) return null;
  w.path.prepend(`cciss-disk${nums[1]}`);
  return skipSubsystem(dev, 'cciss');
}

function handleScsiTape(w: Walk, dev: Device): void {
  // only when the tape is the device itself (nothing prepended yet)
  if (!w.path.empty) return;
  const name = dev.sysname;
  // (the C code's strchr("lma", c) also matches the string's terminating NUL: "nst" and "st" alone count)
  const mode = (c: string | undefined) => c === undefined || 'lma'.includes(c);
  if (name.startsWith('nst') && mode(name[3])) w.path.prepend(`nst${name[3] ?? ''}`);
  else if (name.startsWith('st') && mode(name[2])) w.path.prepend(`st${name[2] ?? ''}`);
}

function handleUsb(w: Walk, dev: Device): Next {
  const t = dev.devtype;
  if (t !== 'usb_interface' && t !== 'usb_device') return dev;
  const name = dev.sysname;
  const dash = name.indexOf('-');
  if (dash < 0) return dev;
  // the host number can change across reboots; the rest is topology: use "0" for the host
  w.path.prepend(`usb-0:${name.slice(dash + 1)}`);
  return skipSubsystem(dev, 'usb');
}

function handleBcma(w: Walk, dev: Device): Next {
  const nums = scanNumbers(dev.sysname, 'bcma%*u:%u');
  if (nums.length !== 1) return null;
  w.path.prepend(`bcma-${nums[0]}`);
  return dev;
}

/** AP bus devices on System z. */
function handleAp(w: Walk, dev: Device): Next {
  const type = dev.sysattr('type');
  const func = type === undefined ? undefined : dev.sysattr('ap_functions');
  if (type !== undefined && func !== undefined) w.path.prepend(`ap-${type}-${func}`);
  else w.path.prepend(`ap-${dev.sysname}`);
  return skipSubsystem(dev, 'ap');
}

/**
 * With NVMe multipathing a namespace lives under /devices/virtual/nvme-subsystem/nvme-subsysN/nvmeXnY; the
 * controller "nvmeX" in the "nvme" subsystem is the real parent to continue from.
 */
function realNvmeParent(w: Walk, dev: Device): Device | undefined {
  const m = /^nvme\d*/.exec(dev.sysname);
  if (!m) return undefined;
  return deviceBySubsystemSysname(w.roots, 'nvme', m[0]);
}

/** Subsystems whose element is just "<subsystem>-<sysname>". */
const SIMPLE: Record<string, { transport: boolean }> = {
  pci: { transport: false },
  platform: { transport: true },
  acpi: { transport: false },
  xen: { transport: false },
  scm: { transport: true },
  ccw: { transport: true },
  ccwgroup: { transport: true },
  iucv: { transport: true },
};

/** Composes the path; undefined when the device has none (the builtin then fails, as udev's returns -ENOENT). */
export function composePath(roots: Roots, dev: Device): { path: string; compat?: string } | undefined {
  const w: Walk = { roots, path: new PathBuilder(), compat: undefined, supportedParent: false, supportedTransport: false };
  for (let parent: Device | null | undefined = dev; parent; ) {
    const subsystem = parent.subsystem;
    if (subsystem === undefined) {
      // not on a bus: nothing to add
    } else if (subsystem === 'scsi_tape') {
      handleScsiTape(w, parent);
    } else if (subsystem === 'scsi') {
      parent = handleScsi(w, parent);
      w.supportedTransport = true;
    } else if (subsystem === 'cciss') {
      parent = handleCciss(w, parent);
      w.supportedTransport = true;
    } else if (subsystem === 'usb') {
      parent = handleUsb(w, parent);
      w.supportedTransport = true;
    } else if (subsystem === 'bcma') {
      parent = handleBcma(w, parent);
      w.supportedTransport = true;
    } else if (subsystem === 'serio') {
      const n = parent.sysnum;
      if (n !== undefined) {
        w.path.prepend(`serio-${n}`);
        parent = skipSubsystem(parent, 'serio');
      }
    } else if (Object.hasOwn(SIMPLE, subsystem)) {
      const element = `${subsystem}-${parent.sysname}`;
      w.path.prepend(element);
      w.compat?.prepend(element);
      parent = skipSubsystem(parent, subsystem);
      w.supportedParent = true;
      if (SIMPLE[subsystem]!.transport) w.supportedTransport = true;
    } else if (subsystem === 'virtio') {
      parent = skipSubsystem(parent, 'virtio');
      w.supportedTransport = true;
    } else if (subsystem === 'ap') {
      parent = handleAp(w, parent);
      w.supportedTransport = true;
      w.supportedParent = true;
    } else if (subsystem === 'nvme' || subsystem === 'nvme-subsystem') {
      // the namespace id is the event device's own attribute
      const nsid = dev.sysattr('nsid');
      if (nsid !== undefined) {
        w.path.prepend(`nvme-${nsid}`);
        w.compat?.prepend(`nvme-${nsid}`);
        if (subsystem === 'nvme-subsystem') {
          const real = realNvmeParent(w, dev);
          if (!real) return undefined;
          parent = real;
        }
        parent = skipSubsystem(parent, 'nvme');
        w.supportedParent = true;
        w.supportedTransport = true;
      }
    } else if (subsystem === 'spi') {
      const n = parent.sysnum;
      if (n !== undefined) {
        w.path.prepend(`cs-${n}`);
        parent = skipSubsystem(parent, 'spi');
      }
    }
    if (!parent) break;
    parent = parent.parent();
  }

  if (w.path.empty) return undefined;
  // an unknown parent bus might not give unique, predictable names
  if (!w.supportedParent) return undefined;
  // block devices need a known transport: some do not expose their bus
  if (dev.subsystem === 'block' && !w.supportedTransport) return undefined;
  return { path: w.path.toString(), compat: w.compat?.toString() };
}

/** A valid udev tag from a path: [0-9A-Za-z-] kept, every other run of characters becomes one '_', none at the ends. */
export function pathTag(path: string): string {
  let tag = '';
  for (const c of path) {
    if (/^[0-9A-Za-z-]$/.test(c)) tag += c;
    else if (tag !== '' && !tag.endsWith('_')) tag += '_';
    if (tag.length >= 511) break; // UDEV_NAME_SIZE - 1
  }
  return tag.replace(/_+$/, '');
}

const pathId: Builtin = {
  name: 'path_id',
  help: 'Compose persistent device path',
  run(ctx: BuiltinContext, argv: string[]): boolean {
    if (argv.length > 1) ctx.log.debug(`path_id: ignoring arguments ${argv.slice(1).join(' ')}`);
    const res = composePath(ctx.roots, ctx.device);
    if (!res) return false;
    ctx.setProperty('ID_PATH', res.path);
    ctx.setProperty('ID_PATH_TAG', pathTag(res.path));
    if (res.compat !== undefined) ctx.setProperty('ID_PATH_ATA_COMPAT', res.compat);
    return true;
  },
};

export default pathId;
