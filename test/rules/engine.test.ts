import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { compilePattern } from '../../src/rules/pattern.js';
import { fnmatch } from '../../src/util/fnmatch.js';
import { compileFormat, replaceChars, replaceWhitespaceRuns } from '../../src/rules/format.js';
import { RuleSet } from '../../src/rules/load.js';
import { compileRulesText } from '../../src/rules/compile-text.js';
import { formatDiagnostic, LINE_HAS_DEVLINK, LINE_HAS_GOTO, LINE_UPDATE_SOMETHING } from '../../src/rules/compile.js';
import { linePlan } from '../../src/rules/plan.js';
import { EventState, executeRules, mangleDevlink, type ExecEnv } from '../../src/rules/exec.js';
import { splitCommand } from '../../src/util/cmdline.js';
import { Device } from '../../src/device/device.js';
import { SUITE_DIR } from '../conformance/runner.js';
import { REPO } from '../helpers/reference.js';

const quiet = pino({ level: 'silent' });

describe('patterns (fnmatch and udev alternatives)', () => {
  it('matches globs, classes and escapes like fnmatch(3)', () => {
    expect(fnmatch('sd[a-c]*', 'sdb12')).toBe(true);
    expect(fnmatch('sd[!a-c]', 'sdd')).toBe(true);
    expect(fnmatch('sd[!a-c]', 'sda')).toBe(false);
    expect(fnmatch('tty[[:digit:]]', 'tty5')).toBe(true);
    expect(fnmatch('a\\*b', 'a*b')).toBe(true);
    expect(fnmatch('a\\*b', 'axb')).toBe(false);
    expect(fnmatch('*', 'with/slash')).toBe(true);
    expect(fnmatch('[', '[')).toBe(true);
    expect(fnmatch('?', '')).toBe(false);
  });
  it('splits alternatives and honours empty ones', () => {
    const p = compilePattern('sda|sdb', { alternatives: true });
    expect([p.test('sda'), p.test('sdb'), p.test('sdc'), p.test('')]).toEqual([true, true, false, false]);
    const e = compilePattern('|foo*', { alternatives: true });
    expect([e.test(''), e.test('foobar'), e.test('bar')]).toEqual([true, true, false]);
    const q = compilePattern('?*', { alternatives: true });
    expect(q.negates).toBe(true);
    expect(compilePattern('bus', { alternatives: true, subsystemKey: true }).test('subsystem')).toBe(true);
    expect(compilePattern('SDA', { alternatives: true, caseInsensitive: true }).test('sda')).toBe(true);
  });
});

describe('substitution formats', () => {
  it('parses long and short forms, escapes and arguments', () => {
    const f = compileFormat('%k-$kernel-%%-$$-%c{2+}-$attr{size}');
    const kinds = f.parts.map((p) => (typeof p === 'string' ? p : `${p.kind}${p.arg ? `{${p.arg}}` : ''}`));
    expect(kinds).toEqual(['kernel', '-', 'kernel', '-%-$-', 'result{2+}', '-', 'attr{size}']);
  });
  it('reports unknown substitutions with their offset', () => {
    const issues: { offset: number; message: string }[] = [];
    compileFormat('ok-$nosuch', issues);
    expect(issues).toEqual([{ offset: 3, message: 'invalid substitution type' }]);
  });
  it('replaces characters and whitespace like udev', () => {
    expect(replaceChars('a b;c/ü', '/ ')).toBe('a b_c/ü');
    expect(replaceChars('a\tb', '/ ')).toBe('a b');
    expect(replaceWhitespaceRuns('  env    with    space ')).toBe('env_with_space');
  });
  it('normalizes symlink names', () => {
    expect(mangleDevlink('.///link2/././/foo//./')).toBe('/dev/link2/foo');
    expect(mangleDevlink('////dev/abs3/aaa/bbb')).toBe('/dev/abs3/aaa/bbb');
    expect(mangleDevlink('unsafe/../../path')).toBeUndefined();
    expect(mangleDevlink('/nondev/path')).toBeUndefined();
    expect(mangleDevlink('.')).toBeUndefined();
  });
  it('splits command lines with quotes', () => {
    expect(splitCommand(`/bin/sh -c 'echo "a b"; exit 0' x`)).toEqual(['/bin/sh', '-c', 'echo "a b"; exit 0', 'x']);
    expect(splitCommand('  a   b ')).toEqual(['a', 'b']);
  });
});

describe('compile diagnostics', () => {
  it('each invalid fixture gets its expected file:line:col message', () => {
    const dir = join(REPO, 'fixtures', 'rules-invalid');
    const files = readdirSync(dir).filter((f) => f.endsWith('.rules'));
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      const want = /^# expect: (.*)$/m.exec(text)![1]!;
      const compiled = compileRulesText(text, f);
      const msgs = compiled.diagnostics.map(formatDiagnostic);
      expect(msgs, f).toContain(`${f}:${want}`);
      expect(compiled.errors, f).toBeGreaterThan(0);
    }
  });
  it('keeps the rest of a file when one line is bad', () => {
    const c = compileRulesText('KERNEL=="a", BOGUS="1"\nKERNEL=="b", SYMLINK+="ok"\n', 'x.rules');
    expect(c.lines.length).toBe(1);
    expect(c.lines[0]!.line).toBe(2);
  });
});

describe('executor', () => {
  let base: string;
  let roots: { sysfs: string; dev: string; run: string };
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'dm-exec-'));
    execFileSync('tar', ['-xJf', join(SUITE_DIR, 'sys.tar.xz'), '-C', base]);
    mkdirSync(join(base, 'dev'));
    mkdirSync(join(base, 'run'));
    roots = { sysfs: join(base, 'sys'), dev: join(base, 'dev'), run: join(base, 'run') };
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const env = (over: Partial<ExecEnv> = {}): ExecEnv => ({ roots, log: quiet, test: true, execTimeoutMs: 2000, builtins: new Map(), ...over });
  const sda = '/devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda';

  async function run(rules: string, devpath = sda, over: Partial<ExecEnv> = {}) {
    const dev = Device.fromDevpath(roots, devpath);
    dev.action = 'add';
    const ev = new EventState(dev, undefined);
    await executeRules(new RuleSet([compileRulesText(rules, 't.rules')]), ev, env(over));
    return ev;
  }

  it('matches parent keys on one ancestor and substitutes $id, $driver, %s{}', async () => {
    const ev = await run('SUBSYSTEMS=="scsi", KERNELS=="0:0:0:0", ATTRS{vendor}=="ATA", ENV{ID}="%b-$driver-%s{model}"\n');
    expect(ev.device.property('ID')).toBe('0:0:0:0-sd-ST910021AS');
  });
  it('does not mix parent keys across ancestors', async () => {
    const ev = await run('SUBSYSTEMS=="pci", ATTRS{vendor}=="ATA", ENV{X}="bad"\n');
    expect(ev.device.property('X')).toBeUndefined();
  });
  it('follows GOTO to LABEL and honours := finality', async () => {
    const ev = await run('KERNEL=="sda", GOTO="skip"\nKERNEL=="sda", ENV{SKIPPED}="1"\nLABEL="skip"\nKERNEL=="sda", MODE:="0600"\nKERNEL=="sda", MODE="0666"\n');
    expect(ev.device.property('SKIPPED')).toBeUndefined();
    expect(ev.mode).toBe(0o600);
  });
  it('steps over the lines an ACTION or SUBSYSTEM key rules out, wherever the key stands, and GOTO still lands', async () => {
    const rules = [
      'ENV{A}="1", SUBSYSTEM=="block", GOTO="blk"', // 1: the key is not the first token
      'ENV{NOTBLOCK}="1"',
      'LABEL="blk"',
      'KERNEL=="sda", SUBSYSTEM=="mem", ENV{MEM}="1"', // 4: ruled out for block, after a KERNEL that matches
      'ACTION=="add", KERNEL=="sd*", SUBSYSTEM!="mem", ENV{ADD}="1"', // 5
      'ACTION=="remove|change", ENV{RC}="1"', // 6: ruled out for add
      'SUBSYSTEM=="block", ACTION=="add", ENV{LAST}="1"', // 7
    ].join('\n');
    const set = new RuleSet([compileRulesText(rules, 't.rules')]);
    const ev = await run(rules);
    expect(['A', 'NOTBLOCK', 'MEM', 'ADD', 'RC', 'LAST'].map((k) => ev.device.property(k))).toEqual(['1', undefined, undefined, '1', undefined, '1']);
    // by rules-file line: for block/add, 4 (MEM) and 6 (RC) are ruled out; for mem/change, 1, 5 and 7
    const mask = LINE_HAS_GOTO | LINE_UPDATE_SOMETHING | LINE_HAS_DEVLINK;
    const lines = set.files[0]!.lines.map((l) => l.line);
    const reach = (action: string, subsystem: string) => {
      const next = linePlan(set, mask, action, subsystem)[0]!;
      const out: number[] = [];
      for (let i = next[0]!; i < lines.length; i = next[i + 1]!) out.push(lines[i]!);
      return out;
    };
    expect(reach('add', 'block')).toEqual([1, 2, 5, 7]);
    expect(reach('change', 'mem')).toEqual([2, 4, 6]);
    expect(linePlan(set, mask, 'add', 'block')).toBe(linePlan(set, mask, 'add', 'block')); // worked out once
  });
  it('steps straight to the LABEL of a GOTO line that is only ACTION and SUBSYSTEM keys, unless GOTOs are traced', async () => {
    const rules = 'SUBSYSTEM!="block", GOTO="end"\nENV{X}="1"\nLABEL="end"\nENV{Y}="1"\n';
    const set = new RuleSet([compileRulesText(rules, 't.rules')]);
    const mask = LINE_HAS_GOTO | LINE_UPDATE_SOMETHING | LINE_HAS_DEVLINK;
    const lines = set.files[0]!.lines.map((l) => l.line);
    const reach = (subsystem: string, jumps: boolean) => {
      const next = linePlan(set, mask, 'change', subsystem, jumps ? 'jumps' : 'steps')[0]!;
      const out: number[] = [];
      for (let i = next[0]!; i < lines.length; i = next[i + 1]!) out.push(lines[i]!);
      return out;
    };
    expect(reach('mem', true)).toEqual([4]);
    expect(reach('mem', false)).toEqual([1, 2, 4]);
    expect(reach('block', true)).toEqual([2, 4]);
    // the executor takes the same path either way; with a trace, the GOTO is in it
    const trace: { file: string; line: number; what: string }[] = [];
    const ev = await run(rules, sda, { trace });
    expect([ev.device.property('X'), ev.device.property('Y')]).toEqual(['1', '1']);
    const mem = await run(rules.replace('block', 'mem'), sda, { trace });
    expect([mem.device.property('X'), mem.device.property('Y')]).toEqual([undefined, '1']);
    expect(trace.some((t) => t.what === 'GOTO="end"')).toBe(true);
    const quiet = await run(rules.replace('block', 'mem'));
    expect([quiet.device.property('X'), quiet.device.property('Y')]).toEqual([undefined, '1']);
  });
  it('runs PROGRAM without blocking the event loop and uses $result parts', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const ev = await run('KERNEL=="sda", PROGRAM=="/bin/sh -c \'sleep 0.2; echo one two three\'", ENV{A}="%c{2}", ENV{B}="%c{2+}"\n');
    clearInterval(timer);
    expect(ev.device.property('A')).toBe('two');
    expect(ev.device.property('B')).toBe('two three');
    expect(ticks).toBeGreaterThan(5);
  });
  it('kills a program group on timeout and marks the event failed', async () => {
    const start = Date.now();
    const ev = await run('KERNEL=="sda", PROGRAM=="/bin/sh -c \'sleep 30 & sleep 30\'", ENV{NEVER}="1"\n', sda, { execTimeoutMs: 300 });
    expect(Date.now() - start).toBeLessThan(5000);
    expect(ev.failed).toBe(true);
    expect(ev.errors[0]).toMatch(/t\.rules:1 command .* timed out/);
    expect(ev.device.property('NEVER')).toBeUndefined();
    // the background sleep of the group is gone too
    const ps = execFileSync('ps', ['-eo', 'args']).toString();
    expect(ps).not.toMatch(/^sleep 30$/m);
  });
  it('imports from a program, a file, the parent and the kernel command line', async () => {
    const file = join(base, 'props');
    writeFileSync(file, '# c\nFROM_FILE="yes"\n');
    const ev = await run(`KERNEL=="sda", IMPORT{program}="/bin/echo P1=a P2='b'", IMPORT{file}="${file}", IMPORT{cmdline}="quiet_flag"\n`, sda, { cmdline: 'root=/dev/x quiet_flag' });
    expect(ev.device.property('P1')).toBe('a P2=b');
    expect(ev.device.property('FROM_FILE')).toBe('yes');
    expect(ev.device.property('quiet_flag')).toBe('1');
  });
  it('collects RUN in order without duplicates, and RUN= resets it', async () => {
    const ev = await run('KERNEL=="sda", RUN+="/bin/a %k", RUN+="/bin/a %k", RUN+="/bin/b"\nKERNEL=="sda", RUN="/bin/c"\nKERNEL=="sda", RUN+="/bin/d"\n');
    expect(ev.runList.map((r) => r.command)).toEqual(['/bin/c', '/bin/d']);
  });
  it('refuses invalid tags and symlinks that escape /dev', async () => {
    const ev = await run('KERNEL=="sda", TAG+="ok", TAG+="bad.tag", SYMLINK+="../escape disk/fine"\n');
    expect([...ev.device.tags]).toEqual(['ok']);
    expect([...ev.device.devlinks]).toEqual(['/dev/disk/fine']);
  });
});
