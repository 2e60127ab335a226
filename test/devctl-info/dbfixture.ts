// A udev database for the fixture tree, written with devMaster's db.ts (writeDb + updateTagIndex).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDb, updateTagIndex } from '../../src/device/db.js';

export interface Entry {
  id: string;
  syspath: string;
  links: string[];
  properties: Array<[string, string]>;
  tags: string[];
  currentTags: string[];
  hasDevnode: boolean;
  linkPriority?: number;
}

const USB = '/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda';

export const ENTRIES: Entry[] = [
  {
    id: 'b8:0',
    syspath: USB,
    links: ['/dev/disk/by-id/usb-SanDisk_Ultra_4C530001230101117113-0:0', '/dev/disk/by-path/pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0'],
    properties: [
      ['ID_BUS', 'usb'],
      ['ID_MODEL', 'Ultra'],
      ['ID_SERIAL', 'SanDisk_Ultra_4C530001230101117113-0:0'],
      ['ID_PATH', 'pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0'],
      ['ID_PART_TABLE_TYPE', 'gpt'],
      ['DEVTYPE', 'disk'],
      ['.HIDDEN', 'never written'],
    ],
    tags: ['systemd'],
    currentTags: ['systemd'],
    hasDevnode: true,
    linkPriority: -100,
  },
  {
    id: 'b8:1',
    syspath: `${USB}/sda1`,
    links: ['/dev/disk/by-partuuid/0a1b2c3d-01'],
    properties: [['ID_FS_TYPE', 'vfat'], ['ID_FS_LABEL', 'STICK X'], ['ID_FS_UUID', '1234-ABCD']],
    tags: ['systemd'],
    currentTags: [],
    hasDevnode: true,
  },
  {
    id: 'n2',
    syspath: '/sys/devices/pci0000:00/0000:00:03.0/net/eth0',
    links: [],
    properties: [['ID_NET_NAME_PATH', 'enp0s3'], ['ID_NET_NAME_MAC', 'enx525400123456'], ['ID_NET_DRIVER', 'e1000']],
    tags: ['systemd'],
    currentTags: ['systemd'],
    hasDevnode: false,
  },
  {
    id: 'c13:64',
    syspath: '/sys/devices/platform/i8042/serio0/input/input0/event0',
    links: ['/dev/input/by-path/platform-i8042-serio-0-event-kbd'],
    properties: [['ID_INPUT', '1'], ['ID_INPUT_KEY', '1'], ['ID_INPUT_KEYBOARD', '1'], ['XKBLAYOUT', 'us']],
    tags: ['seat', 'uaccess', 'power-switch'],
    currentTags: ['seat', 'uaccess'],
    hasDevnode: true,
  },
  {
    id: '+pci:0000:00:14.0',
    syspath: '/sys/devices/pci0000:00/0000:00:14.0',
    links: [],
    properties: [['ID_VENDOR_FROM_DATABASE', 'Intel Corporation'], ['ID_PCI_CLASS_FROM_DATABASE', 'Serial bus controller']],
    tags: [],
    currentTags: [],
    hasDevnode: false,
  },
];

export const USEC = 5_123_456;

/** Writes the database into a fresh run root and returns it. */
export function writeFixtureDb(): string {
  const run = mkdtempSync(join(tmpdir(), 'devmaster-db-'));
  for (const e of ENTRIES) {
    writeDb(
      run,
      e.id,
      { hasDevnode: e.hasDevnode, links: e.links, linkPriority: e.linkPriority ?? 0, usecInitialized: USEC, properties: e.properties, tags: e.tags, currentTags: e.currentTags },
      { keepEmpty: true, previous: undefined },
    );
    updateTagIndex(run, e.id, [], e.tags);
  }
  return run;
}

/** udev prints links and tags from hash sets (random order per run): sort them before comparing. */
export function normalize(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let sBlock: string[] = [];
  const flush = () => {
    out.push(...sBlock.sort());
    sBlock = [];
  };
  for (const line of lines) {
    // `info --tree` puts the record lines after a drawing prefix ("│   ┆ "): normalize what follows it
    const tree = /^[│ ]*┆ /.exec(line)?.[0] ?? '';
    const l = line.slice(tree.length);
    if (l.startsWith('S: ')) {
      sBlock.push(line);
      continue;
    }
    flush();
    const m = /^(E: |[A-Za-z0-9_]*?)(DEVLINKS|CURRENT_TAGS|TAGS)=('?)(.*)$/.exec(l);
    if (m) {
      const [, pre, key, q, rest] = m;
      const val = q && rest!.endsWith("'") ? rest!.slice(0, -1) : rest!;
      const parts = val.split(key === 'DEVLINKS' ? ' ' : ':').filter((p) => p !== '').sort();
      const joined = key === 'DEVLINKS' ? parts.join(' ') : `:${parts.join(':')}:`;
      out.push(`${tree}${pre}${key}=${q}${joined}${q}`);
      continue;
    }
    out.push(line);
  }
  flush();
  return out.join('\n');
}
