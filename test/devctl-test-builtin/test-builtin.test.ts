import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { devctl } from '../helpers/cli.js';
import { referenceUdev } from '../helpers/reference.js';

function udevadmProps(builtin: string, dev: string): string[] {
  let out = '';
  try {
    out = execFileSync(referenceUdev().udevadm, ['test-builtin', builtin, dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  return out.split('\n').filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l)).sort();
}

describe('devctl test-builtin', () => {
  const devices = ['/sys/class/net/eth0', '/sys/class/block/vda', '/sys/class/mem/null'].filter((d) => existsSync(d));

  it.each(devices)('path_id on %s prints what udevadm test-builtin prints', (dev) => {
    const ours = devctl(['test-builtin', 'path_id', dev]);
    expect(ours.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(udevadmProps('path_id', dev));
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
