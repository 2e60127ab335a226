import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { devctl } from '../helpers/cli.js';
import { referenceUdev, REPO } from '../helpers/reference.js';

describe('devctl verify', () => {
  it("accepts Debian's 32 rules files and this machine's with 0 errors", () => {
    const ref = referenceUdev();
    const debian = readdirSync(ref.rulesDir).filter((f) => f.endsWith('.rules'));
    expect(debian.length).toBe(32);
    // 9 files on a fresh machine; packages the tests install (btrfs-progs) add their own
    const machine = readdirSync('/usr/lib/udev/rules.d').filter((f) => f.endsWith('.rules'));
    expect(machine.length).toBeGreaterThanOrEqual(9);
    const r = devctl(['verify', '--no-style', ref.rulesDir, '/usr/lib/udev/rules.d']);
    expect(r.stderr).not.toMatch(/: error: /);
    expect(r.stdout).toContain(`${debian.length + machine.length} rules files have been checked`);
    expect(r.stdout).toMatch(/Fail:\s+0/);
    expect(r.status).toBe(0);
  });

  it('reports each broken fixture with file:line:col and exits 1', () => {
    const dir = join(REPO, 'fixtures', 'rules-invalid');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.rules'))) {
      const want = /^# expect: (.*)$/m.exec(readFileSync(join(dir, f), 'utf8'))![1]!;
      const r = devctl(['verify', join(dir, f)]);
      expect(r.status, f).toBe(1);
      expect(r.stderr, f).toContain(`${join(dir, f)}:${want}`);
    }
  });

  it('names a missing file', () => {
    const r = devctl(['verify', '/nonexistent/x.rules']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\/nonexistent\/x\.rules: no such file or directory/);
  });
});
