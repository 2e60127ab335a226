// The daemon applies a .link file's ethtool settings for real, inside a private network namespace: offloads and
// channels on a veth, speed and duplex on a tap, checked with ethtool(8); what a driver refuses is a warning that
// names the file:line of the setting, and the rest still applies.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev257 } from '../helpers/reference.js';
import { copyAllRules, linkDir, startDevmasterNetns, waitProcessed, received, type NsDaemon } from './netns.js';
import { sleep } from '../helpers/udevd.js';

const root = process.getuid?.() === 0;

const VETH = [
  '[Match]',
  'OriginalName=tv0',
  '',
  '[Link]',
  'TCPSegmentationOffload=no',
  'GenericReceiveOffload=yes',
  'LargeReceiveOffload=yes',
  'RxChannels=2',
  'TxChannels=max',
  'RxBufferSize=100',
  'WakeOnLan=magic',
  'BitsPerSecond=100M',
  'MTUBytes=2000',
].join('\n');

const TAP = '[Match]\nOriginalName=tt0\n\n[Link]\nBitsPerSecond=100M\nDuplex=half\n';

describe.runIf(root)('ethtool settings of .link files, applied by the daemon in a network namespace', () => {
  let d: NsDaemon;
  let rules = '';
  let links: { dir: string; cleanup: () => void };
  let log = '';

  beforeAll(async () => {
    rules = mkdtempSync(join(tmpdir(), 'dm-netrules-'));
    copyAllRules(referenceUdev257().rulesDir, rules, (f) => f === '80-net-setup-link.rules');
    links = linkDir({ '10-veth.link': VETH, '10-tap.link': TAP });
    d = await startDevmasterNetns({ rules, networkDir: links.dir });
    const r0 = await received(d.run);
    d.exec(['ip', 'link', 'add', 'tv0', 'type', 'veth', 'peer', 'name', 'tv1'], false);
    d.exec(['ip', 'tuntap', 'add', 'mode', 'tap', 'name', 'tt0'], false);
    await waitProcessed(d.run, r0, 3);
    await sleep(200);
    log = d.ns.output();
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    links?.cleanup();
    if (rules) rmSync(rules, { recursive: true, force: true });
  });

  it('sets the offloads and channels a veth allows', () => {
    const k = d.exec(['ethtool', '-k', 'tv0'], false);
    // TCPSegmentationOffload= is the feature tx-tcp-segmentation (ethtool's group line also counts tcp6 and ecn)
    expect(k).toMatch(/^\s+tx-tcp-segmentation: off$/m);
    expect(k).toMatch(/^generic-receive-offload: on$/m);
    const l = d.exec(['ethtool', '-l', 'tv0'], false);
    const current = l.slice(l.indexOf('Current hardware settings'));
    expect(current).toMatch(/RX:\s+2/);
    expect(current).toMatch(/TX:\s+2/);
    // the rtnetlink part of the same file applies too
    expect(d.links().get('tv0')?.mtu).toBe(2000);
  });

  it('sets speed and duplex on a tap (autonegotiation off)', () => {
    const s = d.exec(['ethtool', 'tt0'], false);
    expect(s).toMatch(/Speed: 100Mb\/s/);
    expect(s).toMatch(/Duplex: Half/);
  });

  it('picks up a new .link file without a reload command (checked at most every 3 s, as udevd)', async () => {
    // the namespace's /usr/lib/systemd/network is a copy: write the new file there
    d.exec(['sh', '-c', "printf '[Match]\\nOriginalName=tw0\\n[Link]\\nName=twnew0\\n' > /usr/lib/systemd/network/05-new.link"]);
    await sleep(3200);
    const r0 = await received(d.run);
    d.exec(['ip', 'link', 'add', 'tw0', 'type', 'ifb'], false);
    await waitProcessed(d.run, r0, 2);
    for (let i = 0; i < 50 && !d.links().has('twnew0'); i++) await sleep(100);
    expect(d.links().has('twnew0')).toBe(true);
  }, 30_000);

  it('warns with file:line for each setting the veth driver refuses', () => {
    const f = join('/usr/lib/systemd/network', '10-veth.link');
    expect(log).toContain(`${f}:7: tv0: could not set LargeReceiveOffload=, ignoring: the driver does not allow changing it`);
    expect(log).toContain(`${f}:10: tv0: could not set ring buffer sizes, ignoring: ENOTSUP`);
    expect(log).toContain(`${f}:11: tv0: could not set WakeOnLan=, ignoring: ENOTSUP`);
    expect(log).toContain(`${f}:12: tv0: could not set link settings`);
  });
});

