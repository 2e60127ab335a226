// devctl test-builtin prints what Debian's udevadm test-builtin prints (13's 257, and 12's 252), on devices this
// test makes so that every machine has them: a zram disk with an ext4 file system (blkid, path_id) and an ifb
// interface in a private network namespace (net_id: devMaster's default naming scheme is 257's, v257; under
// NET_NAMING_SCHEME=v252 it names as 252 does). Each comparison needs udevadm to print something, so that it
// cannot pass empty.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { devctl, DEVCTL_COMMAND } from '../helpers/cli.js';
import { inPrivateNetns } from '../helpers/netns.js';
import { referenceUdev, referenceUdev257 } from '../helpers/reference.js';
import { zramAdd, zramRemove } from '../daemon/helpers.js';

const properties = (out: string) => out.split('\n').filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l)).sort();

/** Is this machine's libblkid older than util-linux 2.39 (no FSSIZE, FSLASTBLOCK, FSBLOCKSIZE)? */
function libblkidBefore239(): boolean {
  const m = /libblkid ([0-9]+)\.([0-9]+)/.exec(execFileSync('blkid', ['-V'], { encoding: 'utf8' }));
  if (!m) throw new Error('blkid -V names no libblkid version');
  return Number(m[1]) === 2 && Number(m[2]) < 39;
}

const UDEVADMS = () => [referenceUdev257().udevadm, referenceUdev().udevadm];

function udevadmProps(udevadm: string, builtin: string, dev: string): string[] {
  let out = '';
  try {
    out = execFileSync(udevadm, ['test-builtin', builtin, dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  return properties(out);
}

describe('devctl test-builtin', () => {
  let zram: number | undefined;

  beforeAll(() => {
    zram = zramAdd();
    writeFileSync(`/sys/block/zram${zram}/disksize`, String(16 << 20));
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'dm test-builtin', `/dev/zram${zram}`]);
  });
  afterAll(() => {
    if (zram !== undefined) zramRemove(zram);
  });

  it('blkid and path_id on a zram disk print what udevadm test-builtin prints', () => {
    const dev = `/sys/class/block/zram${zram}`;
    // udevadm 257 runs with Debian 13's libblkid (2.40), which also reports a file system's size (FSSIZE,
    // FSLASTBLOCK, FSBLOCKSIZE: util-linux 2.39 and later); devMaster's blkid asks this machine's libblkid, and
    // maps those values the same way when the library has them
    const oldLibblkid = libblkidBefore239();
    for (const udevadm of UDEVADMS()) {
      let want = udevadmProps(udevadm, 'blkid', dev);
      expect(want).toContain('ID_FS_TYPE=ext4');
      expect(want).toContain('ID_FS_LABEL=dm_test-builtin');
      if (oldLibblkid) want = want.filter((l) => !/^ID_FS_(SIZE|LASTBLOCK|BLOCKSIZE)=/.test(l));
      expect(properties(devctl(['test-builtin', 'blkid', dev]).stdout)).toEqual(want);
      // a virtual disk has no path: both print nothing, and both fail alike
      const ours = devctl(['test-builtin', 'path_id', dev]);
      expect(properties(ours.stdout)).toEqual(udevadmProps(udevadm, 'path_id', dev));
    }
  });

  it('net_id on an interface in a private network namespace prints what udevadm test-builtin prints', () => {
    const out = inPrivateNetns(
      [
        'ip link add dmtb0 type ifb',
        'echo "== udevadm 257"; "$UDEVADM257" test-builtin net_id /sys/class/net/dmtb0 2>/dev/null || true',
        'echo "== devctl"; "$TSX" "$DEVCTL" test-builtin net_id /sys/class/net/dmtb0',
        'echo "== udevadm 252"; "$UDEVADM252" test-builtin net_id /sys/class/net/dmtb0 2>/dev/null || true',
        'echo "== devctl v252"; NET_NAMING_SCHEME=v252 "$TSX" "$DEVCTL" test-builtin net_id /sys/class/net/dmtb0',
      ].join('\n'),
      { env: { ...process.env, UDEVADM257: referenceUdev257().udevadm, UDEVADM252: referenceUdev().udevadm, TSX: DEVCTL_COMMAND[0], DEVCTL: DEVCTL_COMMAND[1] } },
    );
    const [, u257 = '', ours = '', u252 = '', ours252 = ''] = out.split(/^== (?:udevadm 25[27]|devctl|devctl v252)$/m);
    const want = properties(u257);
    expect(want).toContain('ID_NET_NAMING_SCHEME=v257');
    expect(properties(ours)).toEqual(want);
    const want252 = properties(u252);
    expect(want252).toContain('ID_NET_NAMING_SCHEME=v252');
    expect(properties(ours252)).toEqual(want252);
  });

  it('names an unknown builtin and a missing device', () => {
    const a = devctl(['test-builtin', 'nosuch', '/sys/class/mem/null']);
    expect(a.status).toBe(1);
    expect(a.stderr).toMatch(/unknown builtin 'nosuch'/);
    const b = devctl(['test-builtin', 'path_id', '/sys/devices/nope']);
    expect(b.status).toBe(1);
    expect(b.stderr).toMatch(/\/sys\/devices\/nope: no such device/);
  });
});
