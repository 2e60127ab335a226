// Differential test of interface naming and configuration: Debian 13's udevd 257 and devMaster, one after the
// other, each in its own fresh network + mount namespace (test/net/netns.ts, test/helpers/udevd.ts), with the same
// rules (all of 257's, 80-net-setup-link.rules included, plus a test file that gives the test interfaces
// ID_NET_NAME_* names as net_id gives real NICs), the same .link files, the same hwdb.bin and helper programs.
// The same interfaces are made the same way in each namespace; afterwards the names, alternative names, MACs,
// MTUs, queue lengths, aliases and the udev databases must be identical.
// Nothing here touches this machine's interfaces: every interface lives and dies with its namespace.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev257 } from '../helpers/reference.js';
import { devtmpfsNodes, startUdevd, sleep, type NsProcess } from '../helpers/udevd.js';
import { updateHwdb } from '../../src/hwdb/index.js';
import { copyAllRules, nsExec, nsLinks, startDevmasterNetns, waitProcessed, received, type IpLink } from '../net/netns.js';
import { readDatabase, compareDb, type DbFile, type Difference } from './compare.js';

const root = process.getuid?.() === 0;

/** The interfaces of the scenario, made in this order in each namespace. */
const MAKE: string[][] = [
  ['ip', 'link', 'add', 'ta0', 'type', 'ifb'],
  ['ip', 'tuntap', 'add', 'mode', 'tap', 'name', 'tb0'],
  ['ip', 'link', 'add', 'tc0', 'type', 'veth', 'peer', 'name', 'tc1'],
  ['ip', 'link', 'add', 'td0', 'type', 'ifb'],
  ['ip', 'link', 'add', 'te0', 'type', 'ifb'],
  ['ip', 'tuntap', 'add', 'mode', 'tap', 'name', 'tf0'],
  ['ip', 'link', 'add', 'tg0', 'type', 'ifb'],
  ['ip', 'link', 'add', 'type', 'ifb'],
  ['ip', 'link', 'add', 'th0', 'type', 'ifb'],
];

/** Names as net_id would give NICs on a bus (virtual interfaces have none), so every NamePolicy has something to pick. */
const TEST_RULES = `# test: predictable-name properties for the test interfaces
SUBSYSTEM!="net", GOTO="test_end"
ACTION=="remove", GOTO="test_end"
KERNEL=="ta0", ENV{ID_NET_NAME_SLOT}="tslot0", ENV{ID_NET_NAME_PATH}="tpath0", ENV{ID_NET_NAME_MAC}="tmac0"
KERNEL=="tg0", ENV{ID_NET_NAME_ONBOARD}="tonboard0", ENV{ID_NET_NAME_PATH}="tpath-g"
KERNEL=="te0", NAME="tenamed0"
KERNEL=="th0", ENV{ID_NET_NAME_SLOT}="thslot0"
LABEL="test_end"
`;

const LINKS: Record<string, string> = {
  '10-ta.link': '[Match]\nOriginalName=ta0\n\n[Link]\nNamePolicy=onboard slot path\nAlternativeNamesPolicy=path mac\nMTUBytes=1400\nAlias=test alias a\nTransmitQueueLength=500\n',
  '10-tb.link': '[Match]\nOriginalName=tb0\n\n[Link]\nNamePolicy=keep kernel\nName=neverused\nMACAddressPolicy=none\nMACAddress=02:11:22:33:44:55\nProperty=TEST_PROP=b "TEST_Q=x y"\n',
  '10-tc.link': '[Match]\nOriginalName=tc0\n\n[Link]\nName=tcnew0\nAlternativeName=tc-alt-one tc-alt-two\nMACAddressPolicy=persistent\nMTUBytes=9000\n',
  '10-td.link': '[Match]\nOriginalName=td0\n\n[Link]\nName=lo\nAlternativeName=td-alt\n',
  '10-tg.link': '[Match]\nOriginalName=tg0\n\n[Link]\nNamePolicy=mac onboard\nAlternativeNamesPolicy=onboard path\nDescription=the g interface\n',
  '10-tg.link.d/50-extra.conf': '[Link]\nTransmitQueueLength=321\n',
  '10-th.link': '[Match]\nOriginalName=th0\n\n[Link]\nNamePolicy=keep slot\nAlternativeNamesPolicy=slot\n',
  '20-type.link': '[Match]\nType=ether\nKind=tun\n\n[Link]\nMTUBytes=1280\nMACAddressPolicy=persistent\n',
};

interface Snapshot {
  links: Map<string, IpLink>;
  db: Map<string, DbFile>;
}

type ShownLink = IpLink & { linkinfo?: { info_kind?: string } };

/** What is compared of an interface. An ifb's MAC is random and cannot be changed (EOPNOTSUPP): not compared. */
const show = (l: ShownLink | undefined) =>
  l ? { ifname: l.ifname, kind: l.linkinfo?.info_kind, address: l.linkinfo?.info_kind === 'ifb' ? '(random)' : l.address, mtu: l.mtu, txqlen: l.txqlen, ifalias: l.ifalias, altnames: l.altnames ?? [] } : undefined;

describe.runIf(root)('interface names and .link settings: udevd 257 and devMaster in network namespaces', () => {
  let base = '';
  let udevd: Snapshot;
  let dm: Snapshot;
  let udevdOut = '';
  let dmOut = '';

  beforeAll(async () => {
    const ref = referenceUdev257();
    base = mkdtempSync(join(tmpdir(), 'dm-netdiff-'));
    const rules = join(base, 'rules.d');
    copyAllRules(ref.rulesDir, rules);
    writeFileSync(join(rules, '70-test-names.rules'), TEST_RULES);
    const net = join(base, 'network');
    mkdirSync(net);
    for (const f of ['99-default.link', '73-usb-net-by-mac.link']) writeFileSync(join(net, f), readFileSync(join(ref.networkDir, f)));
    for (const [name, text] of Object.entries(LINKS)) {
      mkdirSync(join(net, name, '..'), { recursive: true });
      writeFileSync(join(net, name), text);
    }
    const hwdbBin = join(base, 'hwdb.bin');
    updateHwdb({ dirs: [ref.hwdbDir], output: hwdbBin, sync: false });

    // udevd 257
    const urun = join(base, 'udevd-run');
    const udev = join(base, 'udevd-dev');
    mkdirSync(urun);
    mkdirSync(udev);
    devtmpfsNodes(udev, ['null', 'zero', 'random', 'urandom', 'full', 'tty'].map((n) => `/sys/devices/virtual/mem/${n}`).concat('/sys/devices/virtual/tty/tty'));
    const u: NsProcess = await startUdevd({ rules, run: urun, dev: udev, copyNodes: false, programs: true, reference: 257, hwdbBin, net: true, networkDir: net }, base, { ...process.env, SYSTEMD_LOG_LEVEL: process.env.DM_NET_UDEVD_LOG ?? 'info' });
    try {
      const pid = u.proc.pid!;
      for (const c of MAKE) nsExec(pid, c, false);
      await sleep(300);
      nsExec(pid, [ref.udevadm, 'settle', '-t', '30']);
      await sleep(200);
      nsExec(pid, [ref.udevadm, 'settle', '-t', '30']);
      udevd = { links: nsLinks(pid), db: readDatabase(join(urun, 'udev', 'data')) };
    } finally {
      await u.stop();
      udevdOut = u.output();
    }

    // devMaster
    const d = await startDevmasterNetns({ rules, networkDir: net, args: ['--hwdb-bin', hwdbBin], ns: { programs: true, reference: 257 } });
    try {
      const r0 = await received(d.run);
      for (const c of MAKE) d.exec(c, false);
      // one add per interface (the veth makes two), one move per rename; uevents of other devices (other tests' zram
      // and loop disks) reach every namespace and count too, so wait for the names udevd ended with as well
      await waitProcessed(d.run, r0, MAKE.length + 1);
      const want = JSON.stringify([...udevd.links.keys()].sort());
      for (let i = 0; i < 100 && JSON.stringify([...d.links().keys()].sort()) !== want; i++) await sleep(100);
      await sleep(300);
      await waitProcessed(d.run, r0, 0);
      dm = { links: d.links(), db: readDatabase(join(d.run, 'data')) };
    } finally {
      dmOut = d.ns.output();
      await d.stop();
    }
  }, 180_000);

  afterAll(() => {
    if (process.env.DM_COMPAT_KEEP && base) {
      writeFileSync(join(base, 'udevd.log'), udevdOut);
      writeFileSync(join(base, 'devmaster.log'), dmOut);
      console.log(`kept ${base}`);
    } else if (base) rmSync(base, { recursive: true, force: true });
  });

  it('udevd 257 renamed and configured the interfaces as the .link files say', () => {
    const names = [...udevd.links.keys()].sort();
    expect(names, udevdOut).toEqual(['lo', 'ifb0', 'neverused', 'tc1', 'tcnew0', 'td0', 'tenamed0', 'tf0', 'th0', 'tonboard0', 'tslot0'].sort());
  });

  it('devMaster gives the same names, alternative names, MACs, MTUs, queue lengths and aliases', () => {
    const all = [...new Set([...udevd.links.keys(), ...dm.links.keys()])].sort();
    const diffs = all.filter((n) => JSON.stringify(show(udevd.links.get(n))) !== JSON.stringify(show(dm.links.get(n)))).map((n) => `${n}:\n  udevd:     ${JSON.stringify(show(udevd.links.get(n)))}\n  devMaster: ${JSON.stringify(show(dm.links.get(n)))}`);
    expect(diffs, dmOut).toEqual([]);
    // the scenario did what it is meant to: renamed by policy, by Name=, by NAME=; altnames; MAC; MTU
    expect(show(dm.links.get('tslot0'))).toMatchObject({ mtu: 1400, txqlen: 500, ifalias: 'test alias a', altnames: ['tmac0', 'tpath0'] });
    // a tap's kernel name is not one user space chose (name_assign_type): 'keep' does not hold it, Name= applies
    expect(show(dm.links.get('neverused'))?.address).toBe('02:11:22:33:44:55');
    expect(show(dm.links.get('tcnew0'))).toMatchObject({ mtu: 9000, altnames: ['tc-alt-one', 'tc-alt-two'] });
    expect(show(dm.links.get('td0'))?.altnames).toEqual([]);
    expect(show(dm.links.get('tf0'))?.mtu).toBe(1280);
    expect(show(dm.links.get('tonboard0'))).toMatchObject({ txqlen: 321, altnames: ['tpath-g'] });
    // 'keep': a name user space gave stays, the slot name becomes an alternative name
    expect(show(dm.links.get('th0'))?.altnames).toEqual(['thslot0']);
  });

  it('and the same udev databases (but for the interface whose rename failed)', () => {
    const diffs: Difference[] = [];
    const failed = `n${dm.links.get('td0')!.ifindex}`;
    // only the namespace's interfaces: other devices' uevents (zram, loop disks of other tests) reach every namespace
    const ours = (id: string) => id.startsWith('n') && id !== failed;
    for (const id of [...new Set([...udevd.db.keys(), ...dm.db.keys()])].sort()) if (ours(id)) diffs.push(...compareDb(id, udevd.db.get(id), dm.db.get(id)));
    const text = diffs.map((x) => `${x.where} ${x.what}: udevd ${x.udevd} | devMaster ${x.devmaster}`).join('\n');
    expect([...udevd.db.keys()].filter(ours).length).toBeGreaterThanOrEqual(8);
    expect(diffs, text).toEqual([]);
  });

  it('a taken name is a clear error; the interface keeps its name and its event completes', () => {
    expect(dmOut).toMatch(/cannot rename td0 to lo: the name is taken by another interface/);
    expect(udevd.links.has('td0') && dm.links.has('td0')).toBe(true);
    // udevd fails the whole event; devMaster completes it under the old name (docs/NETWORK.md)
    const id = `n${dm.links.get('td0')!.ifindex}`;
    // (udevd leaves the record as it was before the event: here empty)
    expect(udevd.db.get(id)?.properties.size ?? 0).toBe(0);
    expect(dm.db.get(id)?.properties.get('ID_NET_LINK_FILE')).toMatch(/10-td\.link$/);
  });
});

