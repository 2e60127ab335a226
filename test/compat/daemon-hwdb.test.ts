// The daemon's hwdb builtin uses the configured hwdb.bin (config hwdb_bin / --hwdb-bin). Found by the udevd
// differential test: the daemon never handed the setting to the builtin, so every hwdb property was missing
// unless a hwdb.bin happened to sit in a system path.
import { describe, it, expect, afterEach } from 'vitest';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { updateHwdb } from '../../src/hwdb/index.js';
import { createLogger } from '../../src/log.js';
import { injectNullChange, tempRoots, testConfig, type TempRoots } from '../daemon/helpers.js';

describe('daemon hwdb_bin', () => {
  let roots: TempRoots | undefined;
  let daemon: Daemon | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    roots?.cleanup();
    roots = undefined;
  });

  async function run(useHwdbBin: boolean): Promise<string> {
    roots = tempRoots('dm-compat-hwdb-');
    const src = join(roots.base, 'hwdb.d');
    mkdirSync(src);
    writeFileSync(join(src, '10-test.hwdb'), 'dmcompat:probe*\n DM_COMPAT_FROM_HWDB=yes\n');
    // not next to the config file and not in a system path: only hwdb_bin can point at it
    const bin = join(roots.base, 'elsewhere', 'test-hwdb.bin');
    expect(updateHwdb({ dirs: [src], output: bin, sync: false }).written).toBe(true);
    writeFileSync(join(roots.rules, '10-hwdb.rules'), 'KERNEL=="null", IMPORT{builtin}="hwdb dmcompat:probe1"\n');
    const config = testConfig(roots, useHwdbBin ? { hwdbBin: bin } : {});
    daemon = await Daemon.start({ config, netlink: false, watch: false, logger: createLogger({ level: 'error', pretty: false }) });
    await injectNullChange(daemon);
    const db = join(roots.run, 'data', 'c1:3');
    return existsSync(db) ? readFileSync(db, 'utf8') : '';
  }

  it('imports properties from the hwdb.bin given by hwdb_bin', async () => {
    expect(await run(true)).toContain('E:DM_COMPAT_FROM_HWDB=yes\n');
  });

  it('without hwdb_bin that file is not used', async () => {
    expect(await run(false)).not.toContain('DM_COMPAT_FROM_HWDB');
  });
});
