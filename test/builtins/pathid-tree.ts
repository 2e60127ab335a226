// A fake sysfs covering every transport path_id knows (and a few it refuses), for comparison with udevadm.
import { disk, scsiChain, type FakeDevice } from './tree.js';

const PCI = '/devices/pci0000:00';
const pci = (name: string, parent = PCI): FakeDevice => ({ devpath: `${parent}/${name}`, subsystem: 'pci' });

// ATA: controller 0000:00:1f.2 with ports ata1 (a disk) and ata2 (port multiplier link 1, and target 1)
const ATA_C = `${PCI}/0000:00:1f.2`;
const ata: FakeDevice[] = [
  pci('0000:00:1f.2'),
  { devpath: `${ATA_C}/ata1` },
  { devpath: `${ATA_C}/ata1/ata_port/ata1`, subsystem: 'ata_port', attrs: { port_no: '1' } },
  ...scsiChain(`${ATA_C}/ata1/host0`, 0, 0, 0, 0),
  disk(`${ATA_C}/ata1/host0/target0:0:0/0:0:0:0`, 'sda'),
  { devpath: `${ATA_C}/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1`, subsystem: 'block', devtype: 'partition', uevent: { DEVNAME: 'sda1' } },
  { devpath: `${ATA_C}/ata2` },
  { devpath: `${ATA_C}/ata2/ata_port/ata2`, subsystem: 'ata_port', attrs: { port_no: '2' } },
  ...scsiChain(`${ATA_C}/ata2/host1`, 1, 1, 0, 0),
  disk(`${ATA_C}/ata2/host1/target1:1:0/1:1:0:0`, 'sdb'),
  ...scsiChain(`${ATA_C}/ata2/host1`, 1, 0, 1, 0).slice(1),
  disk(`${ATA_C}/ata2/host1/target1:0:1/1:0:1:0`, 'sdc'),
  // an ATA port without its ata_port class device: the walk stops
  { devpath: `${ATA_C}/ata3` },
  ...scsiChain(`${ATA_C}/ata3/host2`, 2, 0, 0, 0),
  disk(`${ATA_C}/ata3/host2/target2:0:0/2:0:0:0`, 'sdd'),
];

// SAS behind a PCI bridge: a direct disk (one phy, HBA port), one behind an expander, a wide port with big LUNs
const HBA = `${PCI}/0000:00:01.0/0000:01:00.0/host3`;
const sas: FakeDevice[] = [
  pci('0000:00:01.0'),
  pci('0000:01:00.0', `${PCI}/0000:00:01.0`),
  { devpath: HBA, subsystem: 'scsi', devtype: 'scsi_host' },
  { devpath: `${HBA}/port-3:0` },
  { devpath: `${HBA}/port-3:0/sas_port/port-3:0`, subsystem: 'sas_port', attrs: { num_phys: '1' } },
  { devpath: `${HBA}/port-3:0/end_device-3:0` },
  { devpath: `${HBA}/port-3:0/end_device-3:0/sas_device/end_device-3:0`, subsystem: 'sas_device', attrs: { phy_identifier: '3', sas_address: '0x5000c50012345671' } },
  ...scsiChain(`${HBA}/port-3:0/end_device-3:0`, 3, 0, 0, 0).slice(1),
  disk(`${HBA}/port-3:0/end_device-3:0/target3:0:0/3:0:0:0`, 'sde'),
  // expander
  { devpath: `${HBA}/port-3:1` },
  { devpath: `${HBA}/port-3:1/sas_port/port-3:1`, subsystem: 'sas_port', attrs: { num_phys: '4' } },
  { devpath: `${HBA}/port-3:1/expander-3:0` },
  { devpath: `${HBA}/port-3:1/expander-3:0/sas_device/expander-3:0`, subsystem: 'sas_device', attrs: { sas_address: '0x500605b0000272bf', phy_identifier: '0' } },
  { devpath: `${HBA}/port-3:1/expander-3:0/port-3:0:5` },
  { devpath: `${HBA}/port-3:1/expander-3:0/port-3:0:5/sas_port/port-3:0:5`, subsystem: 'sas_port', attrs: { num_phys: '1' } },
  { devpath: `${HBA}/port-3:1/expander-3:0/port-3:0:5/end_device-3:0:5` },
  { devpath: `${HBA}/port-3:1/expander-3:0/port-3:0:5/end_device-3:0:5/sas_device/end_device-3:0:5`, subsystem: 'sas_device', attrs: { phy_identifier: '5', sas_address: '0x5000c500abcdef01' } },
  ...scsiChain(`${HBA}/port-3:1/expander-3:0/port-3:0:5/end_device-3:0:5`, 3, 0, 1, 0).slice(1),
  disk(`${HBA}/port-3:1/expander-3:0/port-3:0:5/end_device-3:0:5/target3:0:1/3:0:1:0`, 'sdf'),
  // wide port (4 phys): address form, with LUNs 16384 and 65537
  { devpath: `${HBA}/port-3:2` },
  { devpath: `${HBA}/port-3:2/sas_port/port-3:2`, subsystem: 'sas_port', attrs: { num_phys: '4' } },
  { devpath: `${HBA}/port-3:2/end_device-3:2` },
  { devpath: `${HBA}/port-3:2/end_device-3:2/sas_device/end_device-3:2`, subsystem: 'sas_device', attrs: { phy_identifier: '0', sas_address: '0x5000c5009999aaaa' } },
  ...scsiChain(`${HBA}/port-3:2/end_device-3:2`, 3, 0, 2, 16384).slice(1),
  disk(`${HBA}/port-3:2/end_device-3:2/target3:0:2/3:0:2:16384`, 'sdg'),
  { devpath: `${HBA}/port-3:2/end_device-3:2/target3:0:2/3:0:2:65537`, subsystem: 'scsi', devtype: 'scsi_device' },
  disk(`${HBA}/port-3:2/end_device-3:2/target3:0:2/3:0:2:65537`, 'sdh'),
];

// Fibre Channel
const FC = `${PCI}/0000:00:02.0/host4/rport-4:0-0`;
const fc: FakeDevice[] = [
  pci('0000:00:02.0'),
  { devpath: `${PCI}/0000:00:02.0/host4`, subsystem: 'scsi', devtype: 'scsi_host' },
  { devpath: FC },
  ...scsiChain(FC, 4, 0, 0, 7).slice(1),
  { devpath: `${FC}/target4:0:0/fc_transport/target4:0:0`, subsystem: 'fc_transport', attrs: { port_name: '0x500507680b215660' } },
  disk(`${FC}/target4:0:0/4:0:0:7`, 'sdi'),
];

// iSCSI
const IS = '/devices/platform/host5/session1';
const iscsi: FakeDevice[] = [
  { devpath: '/devices/platform/host5', subsystem: 'scsi', devtype: 'scsi_host' },
  { devpath: IS },
  { devpath: `${IS}/iscsi_session/session1`, subsystem: 'iscsi_session', attrs: { targetname: 'iqn.2001-04.com.example:storage.disk1' } },
  { devpath: `${IS}/connection1:0` },
  { devpath: `${IS}/connection1:0/iscsi_connection/connection1:0`, subsystem: 'iscsi_connection', attrs: { persistent_address: '192.168.122.1', persistent_port: '3260' } },
  ...scsiChain(IS, 5, 0, 0, 1).slice(1),
  disk(`${IS}/target5:0:0/5:0:0:1`, 'sdj'),
];

// Hyper-V: the VMBUS ACPI form (38-character GUID) and the old vmbus_ form (37)
const VM = '/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00/f8b3781a-1e82-4818-a1c3-63d806ec15bb';
const hyperv: FakeDevice[] = [
  { devpath: '/devices/LNXSYSTM:00', subsystem: 'acpi' },
  { devpath: '/devices/LNXSYSTM:00/LNXSYBUS:00', subsystem: 'acpi' },
  { devpath: '/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00', subsystem: 'acpi' },
  { devpath: '/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00', subsystem: 'acpi' },
  { devpath: VM, subsystem: 'vmbus', attrs: { device_id: '{f8b3781a-1e82-4818-a1c3-63d806ec15bb}' } },
  ...scsiChain(`${VM}/host6`, 6, 0, 0, 0),
  disk(`${VM}/host6/target6:0:0/6:0:0:0`, 'sdk'),
  { devpath: '/devices/vmbus_0' },
  { devpath: '/devices/vmbus_0/vmbus_1', subsystem: 'vmbus', attrs: { device_id: '{00000000-0001-8899-0000-00000000000}' } },
  ...scsiChain('/devices/vmbus_0/vmbus_1/host7', 7, 0, 0, 2),
  disk('/devices/vmbus_0/vmbus_1/host7/target7:0:0/7:0:0:2', 'sdl'),
  { devpath: '/devices/vmbus_0/vmbus_2', subsystem: 'vmbus', attrs: { device_id: 'not-a-guid' } },
  ...scsiChain('/devices/vmbus_0/vmbus_2/host8', 8, 0, 0, 0),
  disk('/devices/vmbus_0/vmbus_2/host8/target8:0:0/8:0:0:0', 'sdm'),
];

// plain SCSI under one controller with two hosts (host numbers rebased), a tape, firewire
const SC = `${PCI}/0000:00:1f.1`;
const FW = `${PCI}/0000:00:1e.0/0000:05:00.0/fw1/fw1.0`;
const scsi: FakeDevice[] = [
  pci('0000:00:1f.1'),
  ...scsiChain(`${SC}/host9`, 9, 0, 0, 0),
  disk(`${SC}/host9/target9:0:0/9:0:0:0`, 'sdn'),
  ...scsiChain(`${SC}/host10`, 10, 0, 3, 0),
  { devpath: `${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/nst0a`, subsystem: 'scsi_tape' },
  { devpath: `${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/st0l`, subsystem: 'scsi_tape' },
  { devpath: `${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/st0`, subsystem: 'scsi_tape' },
  { devpath: `${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/nst`, subsystem: 'scsi_tape' },
  { devpath: `${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/nsta`, subsystem: 'scsi_tape' },
  { devpath: `${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/stm`, subsystem: 'scsi_tape' },
  pci('0000:00:1e.0'),
  pci('0000:05:00.0', `${PCI}/0000:00:1e.0`),
  { devpath: `${PCI}/0000:00:1e.0/0000:05:00.0/fw1`, subsystem: 'firewire' },
  { devpath: FW, subsystem: 'firewire' },
  ...scsiChain(`${FW}/host11`, 11, 0, 0, 0).slice(0, 2),
  { devpath: `${FW}/host11/target11:0:0/11:0:0:0`, subsystem: 'scsi', devtype: 'scsi_device', attrs: { ieee1394_id: '0001d2000012abcd:0:0' } },
  disk(`${FW}/host11/target11:0:0/11:0:0:0`, 'sdo'),
];

// NVMe: a controller's namespace and partition, and a multipath namespace under nvme-subsystem
const NV0 = `${PCI}/0000:00:1c.4/0000:3c:00.0/nvme/nvme0`;
const NV1 = `${PCI}/0000:00:1c.5/0000:3d:00.0/nvme/nvme1`;
const nvme: FakeDevice[] = [
  pci('0000:00:1c.4'),
  pci('0000:3c:00.0', `${PCI}/0000:00:1c.4`),
  { devpath: NV0, subsystem: 'nvme', uevent: { DEVNAME: 'nvme0' } },
  { devpath: `${NV0}/nvme0n1`, subsystem: 'block', devtype: 'disk', attrs: { nsid: '1' }, uevent: { DEVNAME: 'nvme0n1' } },
  { devpath: `${NV0}/nvme0n1/nvme0n1p1`, subsystem: 'block', devtype: 'partition', uevent: { DEVNAME: 'nvme0n1p1' } },
  pci('0000:00:1c.5'),
  pci('0000:3d:00.0', `${PCI}/0000:00:1c.5`),
  { devpath: NV1, subsystem: 'nvme', uevent: { DEVNAME: 'nvme1' } },
  { devpath: '/devices/virtual/nvme-subsystem/nvme-subsys1', subsystem: 'nvme-subsystem' },
  { devpath: '/devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n2', subsystem: 'block', devtype: 'disk', attrs: { nsid: '2' }, uevent: { DEVNAME: 'nvme1n2' } },
  // a multipath namespace whose controller does not exist: the builtin fails
  { devpath: '/devices/virtual/nvme-subsystem/nvme-subsys1/nvme7n1', subsystem: 'block', devtype: 'disk', attrs: { nsid: '1' }, uevent: { DEVNAME: 'nvme7n1' } },
];

// other buses
const other: FakeDevice[] = [
  // cciss
  pci('0000:00:1b.0'),
  { devpath: `${PCI}/0000:00:1b.0/cciss0`, subsystem: 'cciss' },
  { devpath: `${PCI}/0000:00:1b.0/cciss0/c0d3`, subsystem: 'cciss' },
  disk(`${PCI}/0000:00:1b.0/cciss0/c0d3`, 'cciss!c0d3'),
  // virtio disk (virtio is a transport) and a block device right under PCI (no transport: refused)
  pci('0000:00:04.0'),
  { devpath: `${PCI}/0000:00:04.0/virtio3`, subsystem: 'virtio' },
  disk(`${PCI}/0000:00:04.0/virtio3`, 'vdb'),
  pci('0000:00:05.0'),
  disk(`${PCI}/0000:00:05.0`, 'rsxx0'),
  // bcma core with a network interface
  pci('0000:00:06.0'),
  { devpath: `${PCI}/0000:00:06.0/bcma0:3`, subsystem: 'bcma' },
  { devpath: `${PCI}/0000:00:06.0/bcma0:3/net/wlan0`, subsystem: 'net', uevent: { INTERFACE: 'wlan0', IFINDEX: '5' } },
  { devpath: `${PCI}/0000:00:06.0/bcmaX`, subsystem: 'bcma' },
  // USB network adapter behind a hub, a USB device, a root hub interface
  pci('0000:00:14.0'),
  { devpath: `${PCI}/0000:00:14.0/usb2`, subsystem: 'usb', devtype: 'usb_device' },
  { devpath: `${PCI}/0000:00:14.0/usb2/2-0:1.0`, subsystem: 'usb', devtype: 'usb_interface' },
  { devpath: `${PCI}/0000:00:14.0/usb2/2-3`, subsystem: 'usb', devtype: 'usb_device' },
  { devpath: `${PCI}/0000:00:14.0/usb2/2-3/2-3.1`, subsystem: 'usb', devtype: 'usb_device' },
  { devpath: `${PCI}/0000:00:14.0/usb2/2-3/2-3.1/2-3.1:1.0`, subsystem: 'usb', devtype: 'usb_interface' },
  { devpath: `${PCI}/0000:00:14.0/usb2/2-3/2-3.1/2-3.1:1.0/net/usb0`, subsystem: 'net', uevent: { INTERFACE: 'usb0', IFINDEX: '6' } },
  // serio behind the i8042 platform device
  { devpath: '/devices/platform/i8042', subsystem: 'platform' },
  { devpath: '/devices/platform/i8042/serio1', subsystem: 'serio' },
  { devpath: '/devices/platform/i8042/serio1/input/input3', subsystem: 'input' },
  // SPI chip select under a platform controller (nested platform devices are skipped)
  { devpath: '/devices/platform/soc', subsystem: 'platform' },
  { devpath: '/devices/platform/soc/3f204000.spi', subsystem: 'platform' },
  { devpath: '/devices/platform/soc/3f204000.spi/spi_master/spi0', subsystem: 'spi_master' },
  { devpath: '/devices/platform/soc/3f204000.spi/spi_master/spi0/spi0.1', subsystem: 'spi' },
  // System z: ccw, ccwgroup, AP card and queue, iucv, scm
  { devpath: '/devices/css0', subsystem: 'css' },
  { devpath: '/devices/css0/0.0.0000', subsystem: 'css' },
  { devpath: '/devices/css0/0.0.0000/0.0.0100', subsystem: 'ccw' },
  disk('/devices/css0/0.0.0000/0.0.0100', 'dasda'),
  { devpath: '/devices/qeth' },
  { devpath: '/devices/qeth/0.0.f500', subsystem: 'ccwgroup' },
  { devpath: '/devices/qeth/0.0.f500/net/encf500', subsystem: 'net', uevent: { INTERFACE: 'encf500', IFINDEX: '7' } },
  { devpath: '/devices/ap' },
  { devpath: '/devices/ap/card01', subsystem: 'ap', attrs: { type: 'CEX7C', ap_functions: '0x92000000' } },
  { devpath: '/devices/ap/card01/01.0014', subsystem: 'ap' },
  { devpath: '/devices/iucv' },
  { devpath: '/devices/iucv/netiucv0', subsystem: 'iucv' },
  { devpath: '/devices/iucv/netiucv0/net/iucv0', subsystem: 'net', uevent: { INTERFACE: 'iucv0', IFINDEX: '8' } },
  { devpath: '/devices/scm' },
  { devpath: '/devices/scm/0000000000000000', subsystem: 'scm' },
  disk('/devices/scm/0000000000000000', 'scma'),
  // Xen block device: xen is a parent bus, not a transport, so the disk is refused; its vif is not a block device
  { devpath: '/devices/vbd-51712', subsystem: 'xen' },
  disk('/devices/vbd-51712', 'xvda'),
  { devpath: '/devices/vif-0', subsystem: 'xen' },
  { devpath: '/devices/vif-0/net/eth1', subsystem: 'net', uevent: { INTERFACE: 'eth1', IFINDEX: '9' } },
  // nothing known at all
  { devpath: '/devices/virtual/mem/null', subsystem: 'mem', uevent: { DEVNAME: 'null' } },
];

export const PATH_ID_TREE: FakeDevice[] = [...ata, ...sas, ...fc, ...iscsi, ...hyperv, ...scsi, ...nvme, ...other];

/** ID_PATH values derived by hand from udev-builtin-path_id.c's rules (undefined: the builtin fails). */
export const PATH_ID_EXPECTED: Record<string, string | undefined> = {
  [`${ATA_C}/ata1/host0/target0:0:0/0:0:0:0/block/sda`]: 'pci-0000:00:1f.2-ata-1.0',
  [`${ATA_C}/ata2/host1/target1:1:0/1:1:0:0/block/sdb`]: 'pci-0000:00:1f.2-ata-2.1.0',
  [`${ATA_C}/ata2/host1/target1:0:1/1:0:1:0/block/sdc`]: 'pci-0000:00:1f.2-ata-2.1',
  [`${ATA_C}/ata3/host2/target2:0:0/2:0:0:0/block/sdd`]: undefined,
  [`${HBA}/port-3:0/end_device-3:0/target3:0:0/3:0:0:0/block/sde`]: 'pci-0000:01:00.0-sas-phy3-lun-0',
  [`${HBA}/port-3:1/expander-3:0/port-3:0:5/end_device-3:0:5/target3:0:1/3:0:1:0/block/sdf`]: 'pci-0000:01:00.0-sas-exp0x500605b0000272bf-phy5-lun-0',
  [`${HBA}/port-3:2/end_device-3:2/target3:0:2/3:0:2:16384/block/sdg`]: 'pci-0000:01:00.0-sas-0x5000c5009999aaaa-lun-0x4000000000000000',
  [`${HBA}/port-3:2/end_device-3:2/target3:0:2/3:0:2:65537/block/sdh`]: 'pci-0000:01:00.0-sas-0x5000c5009999aaaa-lun-0x0001000100000000',
  [`${FC}/target4:0:0/4:0:0:7/block/sdi`]: 'pci-0000:00:02.0-fc-0x500507680b215660-lun-7',
  [`${IS}/target5:0:0/5:0:0:1/block/sdj`]: 'ip-192.168.122.1:3260-iscsi-iqn.2001-04.com.example:storage.disk1-lun-1',
  [`${VM}/host6/target6:0:0/6:0:0:0/block/sdk`]: 'acpi-VMBUS:00-vmbus-f8b3781a1e824818a1c363d806ec15bb-lun-0',
  [`${SC}/host9/target9:0:0/9:0:0:0/block/sdn`]: 'pci-0000:00:1f.1-scsi-0:0:0:0',
  // the C code looks for the mode letter right after "st"/"nst", so numbered tapes get no suffix
  [`${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/nst0a`]: 'pci-0000:00:1f.1-scsi-1:0:3:0',
  [`${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/nsta`]: 'pci-0000:00:1f.1-scsi-1:0:3:0-nsta',
  [`${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/stm`]: 'pci-0000:00:1f.1-scsi-1:0:3:0-stm',
  [`${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/nst`]: 'pci-0000:00:1f.1-scsi-1:0:3:0-nst',
  [`${SC}/host10/target10:0:3/10:0:3:0/scsi_tape/st0`]: 'pci-0000:00:1f.1-scsi-1:0:3:0',
  [`${FW}/host11/target11:0:0/11:0:0:0/block/sdo`]: 'pci-0000:05:00.0-ieee1394-0x0001d2000012abcd:0:0',
  [`${NV0}/nvme0n1`]: 'pci-0000:3c:00.0-nvme-1',
  [`${NV0}/nvme0n1/nvme0n1p1`]: undefined,
  ['/devices/virtual/nvme-subsystem/nvme-subsys1/nvme1n2']: 'pci-0000:3d:00.0-nvme-2',
  ['/devices/virtual/nvme-subsystem/nvme-subsys1/nvme7n1']: undefined,
  [`${PCI}/0000:00:1b.0/cciss0/c0d3/block/cciss!c0d3`]: 'pci-0000:00:1b.0-cciss-disk3',
  [`${PCI}/0000:00:04.0/virtio3/block/vdb`]: 'pci-0000:00:04.0',
  [`${PCI}/0000:00:05.0/block/rsxx0`]: undefined,
  [`${PCI}/0000:00:06.0/bcma0:3/net/wlan0`]: 'pci-0000:00:06.0-bcma-3',
  [`${PCI}/0000:00:14.0/usb2/2-3/2-3.1/2-3.1:1.0/net/usb0`]: 'pci-0000:00:14.0-usb-0:3.1:1.0',
  ['/devices/platform/i8042/serio1/input/input3']: 'platform-i8042-serio-1',
  ['/devices/platform/soc/3f204000.spi/spi_master/spi0/spi0.1']: 'platform-3f204000.spi-cs-1',
  ['/devices/css0/0.0.0000/0.0.0100/block/dasda']: 'ccw-0.0.0100',
  ['/devices/qeth/0.0.f500/net/encf500']: 'ccwgroup-0.0.f500',
  ['/devices/ap/card01']: 'ap-CEX7C-0x92000000',
  ['/devices/ap/card01/01.0014']: 'ap-01.0014',
  ['/devices/iucv/netiucv0/net/iucv0']: 'iucv-netiucv0',
  ['/devices/scm/0000000000000000/block/scma']: 'scm-0000000000000000',
  ['/devices/vbd-51712/block/xvda']: undefined,
  ['/devices/vif-0/net/eth1']: 'xen-vif-0',
  ['/devices/virtual/mem/null']: undefined,
};
