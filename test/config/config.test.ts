import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { applyConfigText, ConfigError, defaultConfig, resolveConfig, loadConfigFile, KEYS, configArgOptions } from '../../src/config/config.js';
import { mergeConfFiles, rulesDirs, DEFAULT_RULES_DIRS, PACKAGE_RULES_DIR } from '../../src/config/rules-path.js';
import { scratchDir } from '../helpers/scratch.js';

describe('config file (TOML)', () => {
  it("accepts sysMaster devmaster's keys and ours", () => {
    const c = defaultConfig();
    const warnings = applyConfigText(
      c,
      'rules_d = ["/a", "/b"]\nmax_workers = 3\nlog_level = "debug"\nnetwork_d = ["/n"]\nmknod = true\ncoldplug = true\nunit_backend = "exec"\nunit_exec = "/bin/echo {action}"\nchildren_max = 4\n',
      'c.toml',
    );
    expect(warnings).toEqual([]);
    expect(c.rulesDirs).toEqual(['/a', '/b']);
    expect(c.maxWorkers).toBe(4);
    expect(c.logLevel).toBe('debug');
    expect(c.networkDirs).toEqual(['/n']);
    expect(c.mknod).toBe(true);
    expect(c.unitBackend).toBe('exec');
  });
  it('warns about unknown keys with file:line', () => {
    const w = applyConfigText(defaultConfig(), '# comment\nlog_level = "info"\nfrobnicate = 1\n', 'c.toml');
    expect(w).toEqual(["c.toml:3: unknown key 'frobnicate' ignored"]);
  });
  it('rejects bad values and bad syntax with file:line', () => {
    expect(() => applyConfigText(defaultConfig(), 'log_level = "info"\nmax_workers = -2\n', 'c.toml')).toThrow(/^c\.toml:2: key 'max_workers': expected a non-negative integer/);
    expect(() => applyConfigText(defaultConfig(), 'unit_backend = "upstart"\n', 'c.toml')).toThrow(/c\.toml:1: .*one of sysmaster, systemd, exec, none/);
    expect(() => applyConfigText(defaultConfig(), 'log_level = "loud"\n', 'c.toml')).toThrow(ConfigError);
    expect(() => applyConfigText(defaultConfig(), 'max_workers = \n', 'c.toml')).toThrow(/^c\.toml:1: /);
  });
  it('a missing default file is fine, a missing explicit file is an error', () => {
    expect(loadConfigFile('/nonexistent/config.toml', false).config.run).toBe('/run/udev');
    expect(() => loadConfigFile('/nonexistent/config.toml', true)).toThrow(/\/nonexistent\/config\.toml: cannot read config/);
  });
  it('flags override the file, every key has a flag', () => {
    const dir = scratchDir('dm-cfg-');
    const file = join(dir, 'c.toml');
    writeFileSync(file, 'run = "/from/file"\nsysfs = "/sys2"\nmknod = true\n');
    const { config } = resolveConfig({ config: file, run: '/from/flag', 'rules-dir': ['/r1', '/r2'], 'no-mknod': true });
    expect(config.run).toBe('/from/flag');
    expect(config.sysfs).toBe('/sys2');
    expect(config.rulesDirs).toEqual(['/r1', '/r2']);
    expect(config.mknod).toBe(false);
    const opts = configArgOptions();
    for (const k of KEYS) expect(opts[k.flag], k.flag).toBeDefined();
    expect(() => resolveConfig({ config: file, 'max-workers': 'many' })).toThrow(/--max-workers: expected a non-negative integer/);
  });
});

describe('rules search path', () => {
  it('has udev\'s directories, then the package\'s own', () => {
    expect(DEFAULT_RULES_DIRS).toEqual(['/etc/devmaster/rules.d', '/etc/udev/rules.d', '/run/udev/rules.d', '/usr/local/lib/udev/rules.d', '/usr/lib/udev/rules.d', PACKAGE_RULES_DIR]);
    expect(rulesDirs([])).toEqual([...DEFAULT_RULES_DIRS]);
    expect(rulesDirs(['/x'])).toEqual(['/x']);
  });
  it('masks a name by an earlier directory, drops /dev/null links and hidden files, sorts the union by name', () => {
    const base = scratchDir('dm-rp-');
    const [a, b] = [join(base, 'etc'), join(base, 'lib')];
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(a, '50-x.rules'), 'etc');
    writeFileSync(join(b, '50-x.rules'), 'lib');
    writeFileSync(join(b, '10-first.rules'), '');
    writeFileSync(join(b, '99-last.rules'), '');
    writeFileSync(join(b, 'README'), '');
    symlinkSync('/dev/null', join(a, '99-last.rules'));
    writeFileSync(join(a, '.hidden.rules'), 'KERNEL=="x"');
    expect(mergeConfFiles([a, b], '.rules')).toEqual([join(b, '10-first.rules'), join(a, '50-x.rules')]);
    // udev's conf_files_list(), as udevadm verify lists: masks kept
    expect(mergeConfFiles([a, b], '.rules', { all: true })).toEqual([join(b, '10-first.rules'), join(a, '50-x.rules'), join(a, '99-last.rules')]);
  });
});
