// The rules devMaster ships in rules.d/: they verify cleanly and tag what sysMaster tracks.
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { devctl } from '../helpers/cli.js';
import { PACKAGE_RULES_DIR } from '../../src/config/rules-path.js';

interface TestJson {
  tags: string[];
  properties: Record<string, string>;
}

const test = (dev: string) => JSON.parse(devctl(['test', '--json', '--rules-dir', PACKAGE_RULES_DIR, '--run', '/nonexistent-run', dev]).stdout) as TestJson;

describe("devMaster's shipped rules", () => {
  it('verify with no errors', () => {
    const r = devctl(['verify', PACKAGE_RULES_DIR]);
    expect(r.stderr).not.toMatch(/: error: /);
    expect(r.status).toBe(0);
  });
  it('tag block and network devices for sysMaster, not lo', () => {
    const block = readdirSync('/sys/class/block')[0];
    expect(block).toBeDefined();
    expect(test(`/sys/class/block/${block}`).tags).toContain('sysmaster');
    expect(test('/sys/class/net/eth0').tags).toContain('sysmaster');
    expect(test('/sys/class/net/lo').tags).not.toContain('sysmaster');
    expect(test('/sys/class/mem/null').tags).toEqual([]);
  });
});
