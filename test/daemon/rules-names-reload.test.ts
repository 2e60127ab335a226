// A rules reload looks OWNER and GROUP names up again, as udevd resolves them at each load: a group added after the
// daemon started is found by the next reload. In a private mount namespace a copy of /etc/group is bound over the
// machine's (glibc's NSS reads it at each look-up); the test adds the group to the copy between two loads of the
// rules manager with the real engine (the build in dist/).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/reference.js';

const GROUP = 'dm-reload-grp';
const GID = 48213;

describe('rules reload and the user database', () => {
  it('finds a group added after the first load', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'dm-names-reload-'));
    try {
      const rules = join(tmp, 'rules.d');
      mkdirSync(rules);
      writeFileSync(join(rules, '50-group.rules'), `KERNEL=="null", GROUP="${GROUP}"\n`);
      const group = join(tmp, 'group');
      copyFileSync('/etc/group', group);
      const script = join(tmp, 'load.mjs');
      writeFileSync(
        script,
        `import { appendFileSync } from 'node:fs';
const { RulesManager } = await import(${JSON.stringify(join(REPO, 'dist', 'daemon', 'reload.js'))});
const { loadEngine } = await import(${JSON.stringify(join(REPO, 'dist', 'daemon', 'engine.js'))});
const silent = { error() {}, warn() {}, info() {}, debug() {}, trace() {}, fatal() {}, child() { return silent; } };
const m = new RulesManager([${JSON.stringify(rules)}], await loadEngine({ resolveNames: 'early' }), silent);
const gids = () => m.ruleSet.files.flatMap((f) => f.lines.flatMap((l) => l.tokens.filter((t) => t.key === 'GROUP').map((t) => t.num ?? null)));
await m.load(true);
const before = gids();
appendFileSync(${JSON.stringify(group)}, '${GROUP}:x:${GID}:\\n');
await m.load(true);
console.log(JSON.stringify({ before, after: gids() }));
`,
      );
      const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount --bind ${group} /etc/group && exec ${process.execPath} ${script}`], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout) as { before: (number | null)[]; after: (number | null)[] };
      // unknown at the first load (-1: the group stays unset, as udev leaves it); the reload resolves it
      expect(out.before).toEqual([-1]);
      expect(out.after).toEqual([GID]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
