// devctl test-builtin prints what Debian's udevadm test-builtin prints, on devices this test makes so that
// every machine has them: a zram disk with an ext4 file system (blkid, path_id) and an ifb interface in a private
// network namespace (net_id). Each comparison needs udevadm to print something, so that it cannot pass empty.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { devctl, DEVCTL_COMMAND } from '../helpers/cli.js';
import { inPrivateNetns } from '../helpers/netns.js';
import { referenceUdev } from '../helpers/reference.js';
import { zramAdd, zramRemove } from '../daemon/helpers.js';

const properties = (out: string) => out.split('\n').filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l)).sort();

function udevadmProps(builtin: string, dev: string): string[] {
  let out = '';
  try {
    out = execFileSync(referenceUdev().udevadm, ['test-builtin', builtin, dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
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
    const want = udevadmProps('blkid', dev);
    expect(want).toContain('ID_FS_TYPE=ext4');
    expect(want).toContain('ID_FS_LABEL=dm_test-builtin');
    expect(properties(devctl(['test-builtin', 'blkid', dev]).stdout)).toEqual(want);
    // a virtual disk has no path: both print nothing, and both fail alike
    const ours = devctl(['test-builtin', 'path_id', dev]);
    expect(properties(ours.stdout)).toEqual(udevadmProps('path_id', dev));
  });

  it('net_id on an interface in a private network namespace prints what udevadm test-builtin prints', () => {
    const out = inPrivateNetns(
      [
        'ip link add dmtb0 type ifb',
        'echo "== udevadm"; "$UDEVADM" test-builtin net_id /sys/class/net/dmtb0 2>/dev/null || true',
        'echo "== devctl"; "$TSX" "$DEVCTL" test-builtin net_id /sys/class/net/dmtb0',
      ].join('\n'),
      { env: { ...process.env, UDEVADM: referenceUdev().udevadm, TSX: DEVCTL_COMMAND[0], DEVCTL: DEVCTL_COMMAND[1] } },
    );
    const [, udevadm = '', ours = ''] = out.split(/^== (?:udevadm|devctl)$/m);
    const want = properties(udevadm);
    expect(want.some((l) => l.startsWith('ID_NET_NAMING_SCHEME='))).toBe(true);
    expect(properties(ours)).toEqual(want);
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
