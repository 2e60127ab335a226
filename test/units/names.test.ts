import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { escapePath, parseUnitList } from '../../src/units/names.js';

const SYS = '/sys/devices/virtual/block/zram1';

describe('unit names', () => {
  it('appends .service to names without a unit type and keeps the others', () => {
    expect(parseUnitList('foo bar.socket  baz.target dev-x.mount', SYS).units).toEqual([
      'foo.service', 'bar.socket', 'baz.target', 'dev-x.mount',
    ]);
    expect(parseUnitList('a.b', SYS).units).toEqual(['a.b.service']);
  });

  it('drops duplicates and empty words', () => {
    expect(parseUnitList('  a a.service   b ', SYS).units).toEqual(['a.service', 'b.service']);
    expect(parseUnitList('', SYS).units).toEqual([]);
    expect(parseUnitList(undefined, SYS).units).toEqual([]);
  });

  it('reports invalid names with a reason instead of passing them on', () => {
    const r = parseUnitList('good ba/d @.service x@y@z.service', SYS);
    expect(r.units).toEqual(['good.service']);
    expect(r.invalid.map((i) => i.word)).toEqual(['ba/d', '@.service', 'x@y@z.service']);
    expect(r.invalid[0]!.reason).toMatch(/invalid character/);
    expect(parseUnitList('x'.repeat(300), SYS).invalid[0]!.reason).toMatch(/longer than 255/);
  });

  it('escapes paths exactly like systemd-escape --path on this machine', () => {
    for (const p of ['/sys/devices/virtual/block/zram1', '/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0', '/a-b/c d/.e/', '/', '/x//y/./z', '/ü']) {
      const ref = execFileSync('systemd-escape', ['--path', p], { encoding: 'utf8' }).trim();
      expect(escapePath(p), p).toBe(ref);
    }
  });

  it('instantiates templates with the escaped sysfs path, like systemd-escape --template', () => {
    const ref = execFileSync('systemd-escape', ['--path', '--template=foo@.service', SYS], { encoding: 'utf8' }).trim();
    expect(parseUnitList('foo@.service', SYS).units).toEqual([ref]);
    expect(parseUnitList('foo@', SYS).invalid).toEqual([]);
    expect(parseUnitList('foo@bar.service foo@', SYS).units).toEqual(['foo@bar.service', ref]);
  });
});
