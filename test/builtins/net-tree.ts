// Fake network interfaces on every bus net_id names, for comparison with udevadm test-builtin net_id.
import type { FakeDevice } from './tree.js';

let ifindex = 10;
/** A net device under `parent` with the usual attributes (a permanent MAC unless overridden; dev_port 0, as every kernel since 3.15 has it). */
function netdev(parent: string, name: string, attrs: Record<string, string> = {}, uevent: Record<string, string> = {}): FakeDevice {
  const i = ifindex++;
  return {
    devpath: `${parent}/net/${name}`,
    subsystem: 'net',
    uevent: { INTERFACE: name, IFINDEX: String(i), ...uevent },
    attrs: { ifindex: String(i), iflink: String(i), type: '1', address: `52:54:00:12:34:${i.toString(16).padStart(2, '0')}`, addr_assign_type: '0', dev_port: '0', ...attrs },
  };
}

/** PCI config space with the header type byte (0x0e) set: 0x80 = multi-function. */
const config = (multi: boolean) => Buffer.concat([Buffer.alloc(0x0e), Buffer.from([multi ? 0x80 : 0x00]), Buffer.alloc(0x31)]);

const P = '/devices/pci0000:00';
const pci = (path: string, attrs: Record<string, string | Buffer> = {}): FakeDevice => ({ devpath: path, subsystem: 'pci', attrs: { config: config(false), modalias: 'pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00', ...attrs } });

export const NET_TREE: FakeDevice[] = [
  // onboard NIC with ACPI index and label; a second port with dev_port
  pci(`${P}/0000:00:19.0`, { acpi_index: '1', label: 'Onboard LAN' }),
  netdev(`${P}/0000:00:19.0`, 'eth0'),
  netdev(`${P}/0000:00:19.0`, 'eth1', { dev_port: '1' }),
  // SMBIOS index 0, and a rubbish index
  pci(`${P}/0000:00:1a.0`, { index: '0' }),
  netdev(`${P}/0000:00:1a.0`, 'eth2'),
  pci(`${P}/0000:00:1b.0`, { acpi_index: '16777215' }),
  netdev(`${P}/0000:00:1b.0`, 'eth3'),
  // multi-function card behind a bridge in a hotplug slot, function 1; phys_port_name; domain 1
  pci(`${P}/0000:00:1c.0`, { modalias: 'pci:v00008086d00001C10sv00000000sd00000000bc06sc04i00' }),
  pci(`${P}/0000:00:1c.0/0000:02:00.1`, { config: config(true) }),
  netdev(`${P}/0000:00:1c.0/0000:02:00.1`, 'eth4'),
  netdev(`${P}/0000:00:1c.0/0000:02:00.1`, 'eth5', { phys_port_name: 'p1' }),
  netdev(`${P}/0000:00:1c.0/0000:02:00.1`, 'eth6', { phys_port_name: 'pf0vf3' }),
  pci(`${P}/0000:00:1c.1`, { modalias: 'pci:v00008086d00001C12sv00000000sd00000000bc06sc04i00' }),
  pci(`${P}/0000:00:1c.1/0000:03:00.0`),
  netdev(`${P}/0000:00:1c.1/0000:03:00.0`, 'eth7'),
  { devpath: '/devices/pci0001:00' },
  pci('/devices/pci0001:00/0001:05:00.0', { ari_enabled: '1' }),
  netdev('/devices/pci0001:00/0001:05:00.0', 'eth8'),
  // SR-IOV: physical function 0000:06:00.0 with virtfn0 = 0000:06:10.0
  pci(`${P}/0000:06:00.0`, { acpi_index: '3' }),
  pci(`${P}/0000:06:10.0`),
  netdev(`${P}/0000:06:10.0`, 'eth9'),
  // virtio NIC (the virtio device is skipped), random MAC, a VLAN on top, a wlan and a wwan device
  pci(`${P}/0000:00:03.0`),
  { devpath: `${P}/0000:00:03.0/virtio0`, subsystem: 'virtio' },
  netdev(`${P}/0000:00:03.0/virtio0`, 'eth10'),
  netdev(`${P}/0000:00:03.0/virtio0`, 'eth11', { addr_assign_type: '1' }),
  netdev(`${P}/0000:00:03.0/virtio0`, 'vlan5', { iflink: '10' }),
  pci(`${P}/0000:00:14.3`),
  netdev(`${P}/0000:00:14.3`, 'wlan0', {}, { DEVTYPE: 'wlan' }),
  netdev(`${P}/0000:00:14.3`, 'wwan0', { address: '00:00:00:aa:bb:cc' }, { DEVTYPE: 'wwan' }),
  // InfiniBand (dev_id instead of dev_port, no MAC name) and a loopback-type device
  pci(`${P}/0000:00:1d.0`),
  netdev(`${P}/0000:00:1d.0`, 'ib0', { type: '32', dev_port: '0', dev_id: '0x1', address: '80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0b:d8:91' }),
  netdev(`${P}/0000:00:1d.0`, 'ib1', { type: '32', dev_port: '0', dev_id: '2', address: '80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0b:d8:92' }),
  netdev(`${P}/0000:00:1d.0`, 'lo2', { type: '772' }),
  // USB Ethernet adapter behind a hub (config 2, interface 1) and a BCMA core
  pci(`${P}/0000:00:14.0`),
  { devpath: `${P}/0000:00:14.0/usb1`, subsystem: 'usb', devtype: 'usb_device' },
  { devpath: `${P}/0000:00:14.0/usb1/1-3`, subsystem: 'usb', devtype: 'usb_device' },
  { devpath: `${P}/0000:00:14.0/usb1/1-3/1-3.2`, subsystem: 'usb', devtype: 'usb_device' },
  { devpath: `${P}/0000:00:14.0/usb1/1-3/1-3.2/1-3.2:2.1`, subsystem: 'usb', devtype: 'usb_interface' },
  netdev(`${P}/0000:00:14.0/usb1/1-3/1-3.2/1-3.2:2.1`, 'usb0'),
  pci(`${P}/0000:00:06.0`),
  { devpath: `${P}/0000:00:06.0/bcma0:0`, subsystem: 'bcma' },
  { devpath: `${P}/0000:00:06.0/bcma0:2`, subsystem: 'bcma' },
  netdev(`${P}/0000:00:06.0/bcma0:0`, 'eth12'),
  netdev(`${P}/0000:00:06.0/bcma0:2`, 'eth13'),
  // s390 CCW group, POWER vio, ACPI platform, Xen, netdevsim
  { devpath: '/devices/qeth' },
  { devpath: '/devices/qeth/0.0.0600', subsystem: 'ccwgroup' },
  netdev('/devices/qeth/0.0.0600', 'eth14'),
  { devpath: '/devices/qeth/0.0.0000', subsystem: 'ccwgroup' },
  netdev('/devices/qeth/0.0.0000', 'eth15'),
  { devpath: '/devices/vio' },
  { devpath: '/devices/vio/30000002', subsystem: 'vio' },
  netdev('/devices/vio/30000002', 'eth16'),
  { devpath: '/devices/platform' },
  { devpath: '/devices/platform/HISI00C2:03', subsystem: 'platform' },
  netdev('/devices/platform/HISI00C2:03', 'eth17'),
  { devpath: '/devices/platform/PNP0C0A:01', subsystem: 'platform' },
  netdev('/devices/platform/PNP0C0A:01', 'eth18'),
  { devpath: '/devices/platform/BRCM:01', subsystem: 'platform' },
  netdev('/devices/platform/BRCM:01', 'eth19'),
  { devpath: '/devices/vif-2', subsystem: 'xen' },
  netdev('/devices/vif-2', 'eth20'),
  { devpath: '/devices/netdevsim3', subsystem: 'netdevsim' },
  netdev('/devices/netdevsim3', 'eth21', { phys_port_name: 'p0' }),
  // virtual devices: no path names
  netdev('/devices/virtual', 'ifb7', { addr_assign_type: '1' }),
  netdev('/devices/virtual', 'dummy0', { addr_assign_type: '3' }),
];

/** The SR-IOV and hotplug-slot links the devices above need (path in the tree → target). */
export const NET_TREE_LINKS: Array<[string, string]> = [
  [`${P}/0000:06:10.0/physfn`, `${P}/0000:06:00.0`],
  [`${P}/0000:06:00.0/virtfn0`, `${P}/0000:06:10.0`],
];

/** Hotplug slots: /sys/bus/pci/slots/<n>/address. */
export const NET_TREE_SLOTS: Record<string, string> = { '4': '0000:00:1c', '5': '0000:02:00', '9': '0001:05:00', '11': '0000:06:00' };
