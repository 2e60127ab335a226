// The build's rehearsal (src/daemon/rehearsal.ts, Daemon.rehearse()): the fixture's devices as the kernel would
// announce them, run through the real daemon and rules on temporary roots, with nothing received from the kernel
// and nothing broadcast to the machine's libudev listeners.
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { controlRequest } from '../../src/daemon/control.js';
import { checkRehearsalRoots, rehearsalEvents } from '../../src/daemon/rehearsal.js';
import { DEFAULT_ROOTS } from '../../src/device/roots.js';
import { parseUevent } from '../../src/netlink/uevent.js';
import { createLogger } from '../../src/log.js';
import { BroadcastListener, sleep, tempRoots, testConfig } from './helpers.js';

const REPO = join(import.meta.dirname, '..', '..');
const FIXTURE = join(REPO, 'fixtures', 'sysfs', 'basic', 'sys');
const SDA = '/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda';

describe('the rehearsal events', () => {
  it('are what the kernel sends: header, ACTION, DEVPATH, SUBSYSTEM, the uevent file, SEQNUM; parents first', () => {
    const evs = rehearsalEvents({ sysfs: FIXTURE, dev: '/nonexistent', run: '/nonexistent' });
    // every fixture device with a subsystem; /devices/platform, /devices/pnp0, /devices/pci0000:00 have none
    expect(evs.map((e) => e.devpath)).not.toContain('/devices/platform');
    expect(evs.length).toBe(20);
    expect(evs.map((e) => e.seqnum)).toEqual(evs.map((_, i) => i + 1));
    expect(evs.every((e) => e.action === 'change')).toBe(true);
    const i = evs.findIndex((e) => e.devpath === SDA);
    expect(evs.findIndex((e) => e.devpath === `${SDA}/sda1`)).toBeGreaterThan(i);
    expect(evs.findIndex((e) => SDA.startsWith(`${e.devpath}/`) && e.subsystem === 'usb')).toBeLessThan(i);
    const sda = evs[i]!;
    expect([...sda.properties]).toEqual([
      ['ACTION', 'change'],
      ['DEVPATH', SDA],
      ['SUBSYSTEM', 'block'],
      ...readFileSync(join(FIXTURE, SDA, 'uevent'), 'utf8').trim().split('\n').map((l) => l.split('=', 2)),
      ['SEQNUM', String(sda.seqnum)],
    ]);
    expect(sda.properties.get('DEVNAME')).toBe('sda'); // the kernel's form, not /dev/sda
  });

  it('are refused on the machine\'s own roots', () => {
    expect(() => checkRehearsalRoots(DEFAULT_ROOTS)).toThrow(/temporary roots only/);
    expect(() => checkRehearsalRoots({ ...DEFAULT_ROOTS, run: '/tmp/x', dev: '/tmp/y' })).toThrow(/not on \/sys/);
    expect(() => checkRehearsalRoots({ sysfs: FIXTURE, dev: '/tmp/y', run: '/tmp/x' })).not.toThrow();
  });
});

describe('Daemon.rehearse()', () => {
  it('processes every fixture device with the training rules, broadcasts none of it and stops taking kernel uevents', async () => {
    const r = tempRoots('dm-rehearsal-');
    const listener = await BroadcastListener.open();
    const rulesDirs = [join(REPO, 'scripts', 'training', 'rules.d'), join(REPO, 'rules.d')];
    const daemon = await Daemon.start({ config: testConfig(r, { sysfs: FIXTURE, rulesDirs, mknod: false }), logger: createLogger({ level: 'silent' }), watch: false });
    try {
      const port = daemon.broadcastPort!;
      // before the rehearsal the daemon broadcasts (so this listener would see the rehearsal's events)
      const tty = parseUevent(Buffer.from('change@/devices/pnp0/00:01/tty/ttyS0\0ACTION=change\0DEVPATH=/devices/pnp0/00:01/tty/ttyS0\0SUBSYSTEM=tty\0MAJOR=4\0MINOR=64\0DEVNAME=ttyS0\0SEQNUM=1\0'));
      if (tty instanceof Error) throw tty;
      daemon.inject(tty);
      await listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVNAME') === '/dev/ttyS0');
      const before = listener.events.filter((b) => b.senderPort === port).length;

      const n = await daemon.rehearse();
      expect(n).toBe(40); // each device twice: rule statistics off, then on (and off again after)
      expect(((await controlRequest(r.run, { command: 'stats' })) as { enabled: boolean }).enabled).toBe(false);
      // each device's record, with what the training rules set (sda: its by-path link, from path_id)
      const sda = readFileSync(join(r.run, 'data', 'b8:0'), 'utf8');
      expect(sda).toMatch(/^E:ID_PATH=pci-0000:00:14\.0-usb-0:1:1\.0-scsi-0:0:0:0$/m);
      expect(sda).toMatch(/^S:disk\/by-path\/pci-0000:00:14\.0-usb-0:1:1\.0-scsi-0:0:0:0$/m);
      expect(readlinkSync(join(r.dev, 'disk', 'by-path', 'pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0'))).toBe('../../sda');
      expect(existsSync(join(r.run, 'data', 'n2'))).toBe(true); // eth0, not renamed: NAME= is for "add"
      // net_id runs on it (the fixture's eth0 has what it reads first: iflink, type, address)
      expect(readFileSync(join(r.run, 'data', 'n2'), 'utf8')).toMatch(/^E:ID_NET_NAME_MAC=enx525400123456$/m);
      expect(daemon.counters.processed).toBe(41);
      // nothing reached the listener, and a real uevent of this machine is not taken any more
      const received = daemon.counters.received;
      writeFileSync('/sys/devices/virtual/mem/null/uevent', 'change');
      await sleep(300);
      expect(daemon.counters.received).toBe(received);
      expect(listener.events.filter((b) => b.senderPort === port).length).toBe(before);
    } finally {
      await daemon.stop();
      listener.close();
      r.cleanup();
    }
  });
});
