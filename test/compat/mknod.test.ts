// Nodes devMaster makes itself (--mknod, the devtmpfs stand-in) must look like devtmpfs nodes after udevd:
// the kernel's DEVMODE exactly (no umask), and the static_node= settings udevd applies at start-up to nodes that
// already exist; and they exist before the rules run. Found by the udevd differential test
// (test/compat/udevd-diff.test.ts): /dev/null was 0644 instead of 0666, /dev/kvm, /dev/fuse, /dev/net/tun and
// /dev/loop-control lacked their static_node= modes, and blkid could not open a node on its first event.
import { describe, it, expect, afterEach } from 'vitest';
import { writeFileSync, statSync, readlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/log.js';
import { injectNullChange, tempRoots, testConfig, type TempRoots } from '../daemon/helpers.js';

describe('nodes made with --mknod', () => {
  let roots: TempRoots | undefined;
  let daemon: Daemon | undefined;
  const umask = process.umask();
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    roots?.cleanup();
    roots = undefined;
    process.umask(umask);
  });

  async function changeNull(rules: string | ((dev: string) => string)): Promise<{ mode: number; uid: number; gid: number }> {
    roots = tempRoots('dm-compat-mknod-');
    writeFileSync(join(roots.rules, '10-test.rules'), typeof rules === 'string' ? rules : rules(roots.dev));
    process.umask(0o022);
    daemon = await Daemon.start({ config: testConfig(roots), netlink: false, watch: false, logger: createLogger({ level: 'error', pretty: false }) });
    await injectNullChange(daemon);
    const st = statSync(join(roots.dev, 'null'));
    expect(st.isCharacterDevice()).toBe(true);
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  }

  it("take the kernel's DEVMODE exactly, whatever the umask", async () => {
    expect(await changeNull('')).toEqual({ mode: 0o666, uid: 0, gid: 0 });
  });

  it('get the static_node= settings (and tags) a devtmpfs node would have had since start-up', async () => {
    // the line only runs for "add"; on this change event only its static_node= part can apply
    const rules = 'ACTION!="add", GOTO="end"\nKERNEL=="null", GROUP="1", MODE="0640", TAG+="dmtest", OPTIONS+="static_node=null"\nLABEL="end"\n';
    expect(await changeNull(rules)).toEqual({ mode: 0o640, uid: 0, gid: 1 });
    expect(readlinkSync(join(roots!.run, 'static_node-tags', 'dmtest', 'null'))).toBe(join(roots!.dev, 'null'));
  });

  it('exist while the rules run, as on a devtmpfs (builtins and programs open them)', async () => {
    // TEST= with an absolute path checks the node under the dev root while the rules run
    expect(await changeNull((dev) => `KERNEL=="null", TEST=="${dev}/null", ENV{DM_NODE_SEEN}="1"\n`)).toEqual({ mode: 0o666, uid: 0, gid: 0 });
    expect(readFileSync(join(roots!.run, 'data', 'c1:3'), 'utf8')).toContain('E:DM_NODE_SEEN=1\n');
  });

  it('leave a node with its rules settings when the event sets some', async () => {
    const rules = 'KERNEL=="null", MODE="0600", OPTIONS+="static_node=null"\nKERNEL=="null", MODE="0604"\n';
    expect((await changeNull(rules)).mode).toBe(0o604);
  });
});
