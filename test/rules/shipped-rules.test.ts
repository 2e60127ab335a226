// The rules devMaster ships in rules.d/: they verify cleanly and tag what sysMaster tracks, on devices this test
// makes: a zram disk, and interfaces in a private network namespace (where /sys/class/net has only them and lo).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devctl, DEVCTL_COMMAND } from '../helpers/cli.js';
import { inPrivateNetns } from '../helpers/netns.js';
import { zramAdd, zramRemove } from '../daemon/helpers.js';
import { PACKAGE_RULES_DIR } from '../../src/config/rules-path.js';

interface TestJson {
  tags: string[];
  properties: Record<string, string>;
}

const testArgs = ['test', '--json', '--rules-dir', PACKAGE_RULES_DIR, '--run', '/nonexistent-run'];
const test = (dev: string) => JSON.parse(devctl([...testArgs, dev]).stdout) as TestJson;

describe("devMaster's shipped rules", () => {
  let zram: number | undefined;
  beforeAll(() => {
    zram = zramAdd();
  });
  afterAll(() => {
    if (zram !== undefined) zramRemove(zram);
  });

  it('verify with no errors', () => {
    const r = devctl(['verify', PACKAGE_RULES_DIR]);
    expect(r.stderr).not.toMatch(/: error: /);
    expect(r.status).toBe(0);
  });

  it('tag block devices for sysMaster, not /dev/null', () => {
    expect(test(`/sys/class/block/zram${zram}`).tags).toContain('sysmaster');
    expect(test('/sys/class/mem/null').tags).toEqual([]);
  });

  it('tag network interfaces for sysMaster, not lo', () => {
    const run = (dev: string) => `"$TSX" "$DEVCTL" ${testArgs.join(' ')} ${dev}`;
    const out = inPrivateNetns(['ip link add dmship0 type veth peer name dmship1', `${run('/sys/class/net/dmship0')}`, 'echo', `${run('/sys/class/net/lo')}`].join('\n'), {
      env: { ...process.env, TSX: DEVCTL_COMMAND[0], DEVCTL: DEVCTL_COMMAND[1] },
    });
    const [veth, lo] = out.trim().split('\n\n').map((j) => JSON.parse(j) as TestJson);
    expect(veth!.tags).toContain('sysmaster');
    expect(lo!.tags).not.toContain('sysmaster');
  });
});
