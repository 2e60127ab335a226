import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, statSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { RuleSet } from '../../src/rules/load.js';
import { compileRulesText } from '../../src/rules/compile-text.js';
import { applyStaticNodes } from '../../src/event/static-nodes.js';
import { mknod } from '../../src/sys/file.js';
import { lookupGroup } from '../../src/sys/users.js';

describe('OPTIONS+="static_node=..."', () => {
  it('applies owner/group/mode and records tags for existing nodes only', () => {
    const base = mkdtempSync(join(tmpdir(), 'dm-static-'));
    try {
      const roots = { sysfs: '/sys', dev: join(base, 'dev'), run: join(base, 'run') };
      mkdirSync(join(roots.dev, 'net'), { recursive: true });
      mknod(join(roots.dev, 'net', 'tun'), 'c', 0o600, 10, 200);
      const rules = new RuleSet([
        compileRulesText('OPTIONS+="static_node=net/tun", GROUP="audio", TAG+="uaccess"\nOPTIONS+="static_node=absent", MODE="0666"\n', 's.rules'),
      ]);
      const res = applyStaticNodes(rules, roots, pino({ level: 'silent' }));
      expect(res.map((r) => [r.node, r.applied])).toEqual([['/dev/net/tun', true], ['/dev/absent', false]]);
      const st = statSync(join(roots.dev, 'net', 'tun'));
      expect(st.gid).toBe(lookupGroup('audio'));
      expect(st.mode & 0o7777).toBe(0o660);
      expect(readlinkSync(join(roots.run, 'static_node-tags', 'uaccess', 'net\\x2ftun'))).toBe(join(roots.dev, 'net', 'tun'));
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
