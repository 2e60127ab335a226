// .link files with bad input: devMaster warns at the same file:line as udevadm 257 does, keeps the rest of each
// file, picks the same file for an interface and sets the same properties (udevadm test-builtin net_setup_link,
// in a private mount namespace where /etc/systemd/network is the test's directory; test mode changes nothing).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev257 } from '../helpers/reference.js';
import { loadLinkConfigs } from '../../src/net/link-config.js';
import { parseIni } from '../../src/net/ini.js';
import { getBuiltin } from '../../src/builtins/registry.js';
import { ourBuiltin } from '../builtins/compare.js';

const FILES: Record<string, string> = {
  // unknown section and key, a bad MTU, a bad Name=, a bad MAC; the rest applies
  '10-bad.link': [
    '[Match]',
    'OriginalName=eth0 bad/name',
    'Frobnicate=yes',
    '',
    '[Link]',
    'MTUBytes=12',
    'Name=eth0:1',
    'Name=a-name-far-too-long-for-linux',
    'MACAddress=zz:11:22:33:44:55',
    'NamePolicy=slot bogus path slot',
    'AlternativeName=ok-alt all 1234',
    'Property=DEVPATH=/x GOOD=1',
    'Alias=\\',
    '  continued',
    'TransmitQueueLength=4294967295',
    'WakeOnLan=magic bananas',
    'Description=still applies',
    '[Wat]',
    'x=1',
  ].join('\n'),
  '10-bad.link.d/20-more.conf': '[Link]\nTransmitQueueLength=100\nNoSuchKey=1\n',
  // a malformed section header: the whole file is dropped
  '05-broken.link': '[Match\nOriginalName=*\n',
  // nothing in [Match]: ignored with a warning
  '06-empty-match.link': '[Match]\n[Link]\nName=x\n',
  // empty: skipped
  '07-empty.link': '',
  '99-last.link': '[Match]\nOriginalName=*\n[Link]\nNamePolicy=kernel\n',
};

describe('.link files: diagnostics and the rest of the file, against udevadm 257', () => {
  let dir = '';
  let udevadmErr = '';
  let udevadmOut = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dm-linkcfg-'));
    for (const [n, t] of Object.entries(FILES)) {
      mkdirSync(join(dir, n, '..'), { recursive: true });
      writeFileSync(join(dir, n), t);
    }
    const ref = referenceUdev257();
    const script = `mount --make-rprivate / && mount --bind "$0" /etc/systemd/network && mount -t tmpfs tmpfs /usr/lib/systemd/network && (for d in /run/systemd/network /usr/local/lib/systemd/network; do [ -d $d ] && mount -t tmpfs tmpfs $d; done; true) && SYSTEMD_LOG_LEVEL=warning "${ref.udevadm}" test-builtin net_setup_link /sys/class/net/eth0 2>"$0/.err"; cat "$0/.err" >&2`;
    try {
      udevadmOut = execFileSync('unshare', ['-m', 'sh', '-c', script, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`udevadm failed: ${(e as { stderr?: string }).stderr}`);
    }
    udevadmErr = execFileSync('cat', [join(dir, '.err')], { encoding: 'utf8' });
    rmSync(join(dir, '.err'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('warns at the same file:line as udevadm', () => {
    const loaded = loadLinkConfigs([dir]);
    const at = (s: string) => [...s.matchAll(/([^\s:]+\.(?:link|conf)):(\d+)/g)].map((m) => `${m[1]!.replace('/etc/systemd/network', dir)}:${m[2]}`);
    const theirs = [...new Set(at(udevadmErr))].sort();
    const ours = [...new Set(loaded.diagnostics.filter((d) => d.line > 0).map((d) => `${d.file}:${d.line}`))].sort();
    expect(ours, `udevadm said:\n${udevadmErr}\ndevMaster said:\n${loaded.diagnostics.map((d) => `${d.file}:${d.line}: ${d.message}`).join('\n')}`).toEqual(theirs);
    // files without a line: the empty [Match] one, named by udevadm too
    expect(loaded.diagnostics.some((d) => d.file.endsWith('06-empty-match.link') && /no valid settings/.test(d.message))).toBe(true);
    expect(udevadmErr).toMatch(/06-empty-match\.link: No valid settings found/);
  });

  it('keeps what is valid: the same file, drop-ins and properties as udevadm', async () => {
    const b = (await getBuiltin('net_setup_link'))!;
    await b.init!({ sysfs: '/sys', dev: '/dev', run: dir }, { networkDirs: [dir] });
    const eth = execFileSync('readlink', ['-f', '/sys/class/net/eth0'], { encoding: 'utf8' }).trim().slice(4);
    const ours = await ourBuiltin({ sysfs: '/sys', dev: '/dev', run: dir }, 'net_setup_link', eth);
    b.exit!();
    const theirs = new Map(udevadmOut.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace('/etc/systemd/network', dir)] as [string, string]));
    expect(ours).toEqual(theirs);
    expect(ours?.get('ID_NET_LINK_FILE')).toBe(join(dir, '10-bad.link'));
    expect(ours?.get('GOOD')).toBe('1');
    const c = loadLinkConfigs([dir]).configs.find((x) => x.filename.endsWith('10-bad.link'))!;
    expect(c).toMatchObject({ description: 'still applies', txQueueLength: 100, namePolicy: ['slot', 'path'], alternativeNames: ['ok-alt'], alias: 'continued', wol: 32, mtu: 12 });
    expect(c.name).toBeUndefined();
    expect(c.dropins).toEqual([join(dir, '10-bad.link.d/20-more.conf')]);
  });

  it('continues lines, skips comments and X- sections quietly', () => {
    const r = parseIni('# c\n; c\n[X-Mine]\nA=1\n[Link]\nName=a\\\nb\n', 'f', ['Link']);
    expect(r.diagnostics).toEqual([]);
    expect(r.assignments).toEqual([{ file: 'f', line: 7, section: 'Link', key: 'Name', value: 'a b' }]);
  });
});
