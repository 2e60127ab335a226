import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { applySeclabels, activeLsm } from '../../src/event/seclabel.js';

function xattr(path: string, name: string): string {
  return execFileSync('/usr/bin/python3', ['-c', `import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False))`, path, name], { encoding: 'utf8' }).trim();
}

describe('SECLABEL', () => {
  const log = pino({ level: 'silent' });
  it('writes SELinux and SMACK labels when the module is active, NUL-terminated for SELinux', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-seclabel-'));
    try {
      const node = join(dir, 'node');
      writeFileSync(node, '');
      const done = applySeclabels(node, new Map([['selinux', 'system_u:object_r:fixed_disk_device_t:s0'], ['smack', 'disk'], ['apparmor', 'x']]), log, () => true);
      expect(done).toEqual(['selinux', 'smack']);
      expect(xattr(node, 'security.selinux')).toBe("b'system_u:object_r:fixed_disk_device_t:s0\\x00'");
      expect(xattr(node, 'security.SMACK64')).toBe("b'disk'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('does nothing for a module that is not active, as udev', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-seclabel-'));
    try {
      const node = join(dir, 'node');
      writeFileSync(node, '');
      expect(applySeclabels(node, new Map([['selinux', 'x']]), log, () => false)).toEqual([]);
      // this machine: whatever the kernel says, the detector answers without throwing
      expect(typeof activeLsm('selinux')).toBe('boolean');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
