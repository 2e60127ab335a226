// devctl against udevadm 257 for the network builtins: `test-builtin net_driver` on every interface of this
// machine, and `devctl test` of the NIC with Debian 13's 75-net-description.rules and 80-net-setup-link.rules and
// its .link files (test mode on both sides: nothing is renamed or configured; udevadm runs in a private mount
// namespace whose /usr/lib/udev and /usr/lib/systemd/network hold only those files).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev257, REPO } from '../helpers/reference.js';
import { compareBuiltin, listDevpaths } from '../builtins/compare.js';

const RULES = ['75-net-description.rules', '80-net-setup-link.rules'];

describe('devctl and udevadm 257 on the network builtins', () => {
  let base = '';
  beforeAll(() => {
    const ref = referenceUdev257();
    base = mkdtempSync(join(tmpdir(), 'dm-devctl-net-'));
    mkdirSync(join(base, 'rules.d'));
    mkdirSync(join(base, 'network'));
    for (const f of RULES) copyFileSync(join(ref.rulesDir, f), join(base, 'rules.d', f));
    for (const f of readdirSync(ref.networkDir)) copyFileSync(join(ref.networkDir, f), join(base, 'network', f));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('test-builtin net_driver: the same ID_NET_DRIVER on every interface', async () => {
    const devs = listDevpaths('/sys').filter((d) => /\/net\/[^/]+$/.test(d));
    const { ref, diffs } = await compareBuiltin({ sysfs: '/sys', dev: '/dev', run: base }, 'net_driver', devs, { udevadm: referenceUdev257().udevadm });
    expect(diffs).toEqual([]);
    const eth = realpathSync('/sys/class/net/eth0').slice(4);
    expect(ref.get(eth)?.get('ID_NET_DRIVER')).toBe('virtio_net');
  });

  it('test: the NIC gets the same properties, name and alternative names', () => {
    const ref = referenceUdev257();
    const script = [
      'set -e',
      'mount --make-rprivate /',
      'mount -t tmpfs tmpfs /usr/lib/udev',
      'mkdir -p /usr/lib/udev/rules.d',
      `cp "$0"/rules.d/*.rules /usr/lib/udev/rules.d/`,
      'for d in /etc/udev /etc/systemd/network /usr/local/lib/systemd/network; do if [ -d $d ]; then mount -t tmpfs tmpfs $d; fi; done',
      'mount -t tmpfs tmpfs /usr/lib/systemd/network',
      `cp "$0"/network/*.link /usr/lib/systemd/network/`,
      `SYSTEMD_LOG_LEVEL=debug "${ref.udevadm}" test /sys/class/net/eth0 2>"$0/.log"`,
    ].join('\n');
    const theirs = execFileSync('unshare', ['-m', 'sh', '-c', script, base], { encoding: 'utf8' });
    const theirLog = readFileSync(join(base, '.log'), 'utf8');
    const ours = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/devctl.ts'), 'test', '--json', '--rules-dir', join(base, 'rules.d'), '--network-dir', join(base, 'network'), '--hwdb-bin', '/nonexistent', '/sys/class/net/eth0'], { encoding: 'utf8', cwd: REPO }),
    ) as { properties: Record<string, string>; name?: string; altnames: string[]; trace: Array<{ where: string; what: string }> };
    const section = (title: string) => {
      const i = theirs.indexOf(`${title}:\n`);
      if (i < 0) return [];
      const lines: string[] = [];
      for (const l of theirs.slice(i + title.length + 2).split('\n')) {
        if (!l.startsWith('  ')) break;
        lines.push(l.slice(2));
      }
      return lines;
    };
    const props = Object.fromEntries(section('Properties').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const norm = (p: Record<string, string>) => {
      const o = { ...p };
      delete o.USEC_INITIALIZED;
      if (o.ID_NET_LINK_FILE) o.ID_NET_LINK_FILE = o.ID_NET_LINK_FILE.slice(o.ID_NET_LINK_FILE.lastIndexOf('/') + 1);
      return o;
    };
    expect(norm(ours.properties)).toEqual(norm(props));
    expect(ours.name).toBe(section('Network interface name')[0]);
    expect(ours.altnames).toEqual(section('Alternative interface names'));
    expect(ours.name).toMatch(/^ens\d+$/);
    // the net_setup_link line says what udevadm test logs for it: the file applied and the policy that named it
    const line = ours.trace.find((t) => t.where.endsWith('80-net-setup-link.rules:9'))!.what;
    const said = [.../eth0: (Config file \S+ is applied)/.exec(theirLog)!.slice(1), .../eth0: (Policy \*\w+\* yields "[^"]+")/.exec(theirLog)!.slice(1)];
    for (const s of said) expect(line.toLowerCase()).toContain(s.replace('/usr/lib/systemd/network/', `${join(base, 'network')}/`).toLowerCase());
  }, 60_000);
});
