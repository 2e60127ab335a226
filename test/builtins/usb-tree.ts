// Fake USB devices (this VM has none) for usb_id against udevadm: storage with SCSI inquiry data, HID, odd
// strings and serial numbers, binary descriptors (good, duplicated, corrupt, short).
import { disk, scsiChain, type FakeDevice } from './tree.js';

/** A descriptors file: device descriptor, configuration, then interfaces (each with one endpoint unless noted). */
export function descriptors(ifaces: Array<[number, number, number]>, opts: { lastWithoutEndpoint?: boolean; corruptAt?: number; tinyAt?: number } = {}): Buffer {
  const parts: number[][] = [];
  parts.push([18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x81, 0x07, 0x81, 0x55, 0x00, 0x01, 1, 2, 3, 1]);
  parts.push([9, 2, 32, 0, ifaces.length, 1, 0, 0x80, 50]);
  ifaces.forEach(([c, s, p], i) => {
    const len = opts.corruptAt === i ? 250 : opts.tinyAt === i ? 2 : 9;
    parts.push([len, 4, i, 0, 1, c, s, p, 0]);
    if (!(opts.lastWithoutEndpoint && i === ifaces.length - 1)) parts.push([7, 5, 0x81 + i, 2, 0, 2, 0]);
  });
  return Buffer.from(parts.flat());
}

const HC = '/devices/pci0000:00/0000:00:14.0';
const ROOT = `${HC}/usb1`;

function usbDevice(name: string, attrs: Record<string, string | Buffer>): FakeDevice {
  return { devpath: `${ROOT}/${name}`, subsystem: 'usb', devtype: 'usb_device', attrs: { idVendor: '0781', idProduct: '5581', bcdDevice: '0100', ...attrs } };
}

function iface(dev: string, n: number, cls: string, sub: string, proto: string, driver?: string): FakeDevice {
  return {
    devpath: `${ROOT}/${dev}/${dev}:1.${n}`,
    subsystem: 'usb',
    devtype: 'usb_interface',
    driver,
    attrs: { bInterfaceNumber: n.toString(16).padStart(2, '0'), bInterfaceClass: cls, bInterfaceSubClass: sub, bInterfaceProtocol: proto },
  };
}

/** A USB storage device with a SCSI disk below its interface. */
function storage(dev: string, host: number, lun: number, sub: string, scsi: Record<string, string | Buffer>, devAttrs: Record<string, string | Buffer> = {}, diskExtra: Partial<FakeDevice> = {}): FakeDevice[] {
  const ifpath = `${ROOT}/${dev}/${dev}:1.0`;
  const chain = scsiChain(`${ifpath}/host${host}`, host, 0, 0, lun);
  chain[2]!.attrs = scsi;
  return [
    usbDevice(dev, devAttrs),
    iface(dev, 0, '08', sub, '50', 'usb-storage'),
    ...chain,
    disk(`${ifpath}/host${host}/target${host}:0:0/${host}:0:0:${lun}`, `sd${String.fromCharCode(97 + host)}`, diskExtra),
  ];
}

const inquiry = (vendor: string, model: string, type = '0', rev = '1.00') => ({ vendor, model, type, rev });

export const USB_TREE: FakeDevice[] = [
  { devpath: HC, subsystem: 'pci' },
  { devpath: ROOT, subsystem: 'usb', devtype: 'usb_device', attrs: { idVendor: '1d6b', idProduct: '0003', bcdDevice: '0606', manufacturer: 'Linux 6.6.0 xhci-hcd', product: 'xHCI Host Controller', serial: '0000:00:14.0', descriptors: descriptors([[9, 0, 0]], { lastWithoutEndpoint: false }) } },
  // a USB stick: SCSI inquiry data names it, LUN 0; descriptors with a duplicated interface triple
  ...storage('1-1', 0, 0, '06', inquiry('SanDisk ', 'Ultra           ', '0', '1.00'), { manufacturer: ' SanDisk ', product: 'Ultra', serial: '4C530001230101117113', descriptors: descriptors([[8, 6, 0x50], [8, 6, 0x50], [3, 1, 1]]) }),
  // a card reader LUN 1 that is a CD (type 5), revision with inner spaces
  ...storage('1-2', 1, 1, '06', inquiry('Generic-', 'SD/MMC CRW', '5', '1 .0  0'), { manufacturer: 'Generic', product: 'USB3.0 Card Reader', serial: '000000001536' }),
  // ATAPI (subclass 02): SCSI data too; SCSI model missing: vendor from SCSI, model from USB
  ...storage('1-3', 2, 0, '02', { vendor: 'HL-DT-ST', type: '5', rev: 'A100' }, { manufacturer: 'Hitachi', product: 'Portable DVD', serial: 'K1Z9' }),
  // floppy (subclass 04): USB strings, serial with a comma is dropped
  ...storage('1-4', 3, 0, '04', inquiry('TEAC', 'FD-05PUB'), { manufacturer: 'TEAC', product: 'USB Floppy', serial: 'AB,CD' }),
  // storage without SCSI type: stops after the model
  ...storage('1-5', 4, 0, '06', { vendor: 'Kingston', model: 'DataTraveler 3.0', rev: 'PMAP' }, { serial: '60A44C3FACC3' }),
  // ID_BUS already set by another tool: only the ID_USB_* copies
  ...storage('1-6', 5, 0, '06', inquiry('WD', 'My Passport 0820'), { serial: '575837324131' }, { uevent: { DEVNAME: 'sdf', ID_BUS: 'ata' } }),
  // HID keyboard: no manufacturer (the id is used), UTF-8 and a slash in the product, serial with spaces
  usbDevice('1-7', { idVendor: '046d', idProduct: 'c31c', product: 'Tastatur Müller/Ä \\ x', serial: 'AB 12  CD', descriptors: descriptors([[3, 1, 1], [3, 0, 0]], { lastWithoutEndpoint: true }) }),
  iface('1-7', 0, '03', '01', '01', 'usbhid'),
  iface('1-7', 1, '03', '00', '00', 'usbhid'),
  { devpath: `${ROOT}/1-7/1-7:1.0/0003:046D:C31C.0001/input/input9`, subsystem: 'input' },
  // bytes that are not UTF-8, control characters, a long manufacturer, a non-ASCII serial
  usbDevice('1-8', { manufacturer: Buffer.from([0x41, 0xff, 0x42, 0x20, 0xc3, 0x28, 0x09, 0x43, 0x0a]), product: 'x'.repeat(80) + ' y', serial: Buffer.from('séria\n'), descriptors: descriptors([[0xff, 0xff, 0xff], [0x0e, 1, 0]], { corruptAt: 1 }) }),
  iface('1-8', 0, 'ff', 'ff', 'ff'),
  iface('1-8', 1, '0e', '01', '00', 'uvcvideo'),
  { devpath: `${ROOT}/1-8/1-8:1.1/video4linux/video0`, subsystem: 'video4linux', uevent: { DEVNAME: 'video0' } },
  // tiny descriptor (bLength < 3) stops the scan; too-short descriptors file gives none
  usbDevice('1-9', { manufacturer: 'Tiny', product: 'Tiny', descriptors: descriptors([[1, 1, 0], [1, 2, 0]], { tinyAt: 1 }) }),
  iface('1-9', 0, '01', '01', '00', 'snd-usb-audio'),
  usbDevice('1-10', { manufacturer: 'Short', product: 'Short', descriptors: Buffer.from([18, 1, 0, 2]) }),
  iface('1-10', 0, '07', '01', '02', 'usblp'),
  // a hub, a printer-class interface with a bad class attribute, an interface without class attribute
  usbDevice('1-11', { idVendor: '05e3', idProduct: '0610', product: 'USB2.0 Hub' }),
  iface('1-11', 0, '09', '00', '00', 'hub'),
  iface('1-11', 1, 'zz', '00', '00'),
  { devpath: `${ROOT}/1-11/1-11:1.2`, subsystem: 'usb', devtype: 'usb_interface', attrs: { bInterfaceNumber: '02' } },
  // a usb_device without idProduct fails
  { devpath: `${ROOT}/1-12`, subsystem: 'usb', devtype: 'usb_device', attrs: { idVendor: '1234' } },
];
