// The observability settings (config keys and flags, with file:line errors) and how `devctl reload --dry-run`
// builds its candidate from the search path and the files and directories given.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyConfigText, ConfigError, defaultConfig, resolveConfig } from '../../src/config/config.js';
import { candidateFiles } from '../../src/devctl/reload.js';

describe('observability settings', () => {
  it('are off by default', () => {
    const c = defaultConfig();
    expect(c).toMatchObject({ stats: false, statsSlowMs: 1000, statsSample: 10, metricsFile: undefined, metricsInterval: 15, nfdFeaturesDir: undefined, nfdProperties: [], nfdExpiry: 0, reloadMaxImpact: 0 });
  });

  it('are read from TOML, and a bad value names file:line', () => {
    const c = defaultConfig();
    const text = ['stats = true', 'stats_slow_ms = 250', 'stats_sample = 1', 'metrics_file = "/var/lib/prometheus/node-exporter/devmaster.prom"', 'metrics_interval = 30', 'nfd_features_d = "/etc/kubernetes/node-feature-discovery/features.d"', 'nfd_properties = ["ID_BUS", "ID_NET_DRIVER"]', 'nfd_expiry = 3600', 'reload_max_impact = 5', ''].join('\n');
    expect(applyConfigText(c, text, '/etc/devmaster/config.toml')).toEqual([]);
    expect(c).toMatchObject({
      stats: true,
      statsSlowMs: 250,
      statsSample: 1,
      metricsFile: '/var/lib/prometheus/node-exporter/devmaster.prom',
      metricsInterval: 30,
      nfdFeaturesDir: '/etc/kubernetes/node-feature-discovery/features.d',
      nfdProperties: ['ID_BUS', 'ID_NET_DRIVER'],
      nfdExpiry: 3600,
      reloadMaxImpact: 5,
    });
    expect(() => applyConfigText(defaultConfig(), 'stats = true\nnfd_properties = [1]\n', '/x.toml')).toThrow(new ConfigError("key 'nfd_properties': expected a string or a list of strings, got [1]", '/x.toml', 2));
    expect(() => applyConfigText(defaultConfig(), 'reload_max_impact = -1\n', '/x.toml')).toThrow(/^\/x\.toml:1: key 'reload_max_impact': expected a non-negative integer/);
  });

  it('have flags; --nfd-property repeats', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-obs-cfg-'));
    try {
      writeFileSync(join(dir, 'config.toml'), 'stats_sample = 5\n');
      const { config } = resolveConfig({ config: join(dir, 'config.toml'), stats: true, 'stats-slow-ms': '40', 'nfd-property': ['A', 'B'], 'reload-max-impact': '2' });
      expect(config).toMatchObject({ stats: true, statsSlowMs: 40, statsSample: 5, nfdProperties: ['A', 'B'], reloadMaxImpact: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the preview candidate', () => {
  it('puts the given files and the *.rules of given directories in place of the same names, in name order', () => {
    const base = mkdtempSync(join(tmpdir(), 'dm-obs-cand-'));
    try {
      const etc = join(base, 'etc');
      const lib = join(base, 'lib');
      const cand = join(base, 'cand');
      for (const d of [etc, lib, cand]) mkdirSync(d);
      writeFileSync(join(lib, '10-a.rules'), 'A\n');
      writeFileSync(join(lib, '50-b.rules'), 'B\n');
      writeFileSync(join(etc, '50-b.rules'), 'B2\n'); // masks lib's
      writeFileSync(join(cand, '50-b.rules'), 'B3\n');
      writeFileSync(join(cand, '70-new.rules'), 'N\n');
      writeFileSync(join(cand, 'notes.txt'), 'not rules\n');
      writeFileSync(join(base, '10-a.rules'), ''); // an empty file in its place masks 10-a: it compiles to nothing
      expect(candidateFiles([etc, lib], [])).toEqual([join(lib, '10-a.rules'), join(etc, '50-b.rules')]);
      expect(candidateFiles([etc, lib], [cand, join(base, '10-a.rules')])).toEqual([join(base, '10-a.rules'), join(cand, '50-b.rules'), join(cand, '70-new.rules')]);
      expect(() => candidateFiles([etc], [join(base, 'missing.rules')])).toThrow(/missing\.rules: no such file or directory/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
