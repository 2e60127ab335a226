// src/log.ts: the loggers write the records of plain values themselves until pino is loaded, in pino's own JSON
// line format. Each case runs in a fresh Node process (dist/log.js, built by `npm test`): the same records are
// written once by the lazy logger and once by pino (after preloadLogger()), and the two outputs must be the same
// line for line, but for the time. The process also reports whether pino was loaded.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/reference.js';

const LOG = join(REPO, 'dist', 'log.js');

/** Runs `body` (with createLogger, levelLogger, log, preloadLogger, pinoLoaded in scope) in a fresh Node process. */
function run(body: string, env: NodeJS.ProcessEnv = {}) {
  const script = `import { createRequire } from 'node:module';
import { createLogger, levelLogger, log, preloadLogger } from ${JSON.stringify(LOG)};
const pinoLoaded = () => Object.keys(createRequire(${JSON.stringify(LOG)}).cache).some((k) => k.includes('/node_modules/pino/'));
${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  expect(r.status, r.stderr).toBe(0);
  return { stdout: r.stdout, lines: r.stderr.split('\n').filter(Boolean) };
}

/** Writes RECORDS with the lazy logger, then the same with pino; returns both halves of stderr without the times. */
function both(make: string, records: string) {
  const { stdout, lines } = run(`const l = ${make};
const write = (l) => { ${records} };
write(l);
process.stderr.write('--\\n');
const before = pinoLoaded();
preloadLogger();
write(l);
process.stdout.write(JSON.stringify({ before, after: pinoLoaded() }));`);
  const cut = lines.indexOf('--');
  const untimed = (ls: string[]) => ls.map((s) => s.replace(/"time":\d+/, '"time":T'));
  return { lazy: untimed(lines.slice(0, cut)), pino: untimed(lines.slice(cut + 1)), loaded: JSON.parse(stdout) as { before: boolean; after: boolean } };
}

describe('the lazy logger', () => {
  it('writes plain records exactly as pino does, without loading pino', () => {
    const records = `
      l.info('plain message');
      l.warn({ a: 1, b: 'two', c: true, d: null, e: undefined, f: -0, g: 1e21, h: 0.5 }, 'with fields');
      l.error({ quote: 'say "hi" \\\\ back', ctl: 'tab\\there\\nnewline\\u0001', utf8: 'é ü ✓', long: 'x'.repeat(150) }, 'escapes: "q" \\\\ \\t');
      l.info({ 'odd key "q"': 1, 'k\\n': 2 }, 'odd keys');
      l.info({ msg: 'inner' }, 'outer');
      l.fatal({}, '');
      l.debug('below the level: nothing');
      l.child({ component: 'units', n: 3, skip: undefined }).info({ x: 'y' }, 'from a child');
      l.child({ component: 'c' }).child({ pid: 42 }).warn('grandchild');
      l.child({ component: 'quiet' }, { level: 'error' }).warn('below the child level');
      l.child({ component: 'loud' }, { level: 'debug' }).debug({ k: 1 }, 'child level');
    `;
    const named = both(`createLogger({ level: 'info', name: 'devmaster', pretty: false })`, records);
    expect(named.loaded).toEqual({ before: false, after: true });
    expect(named.lazy).toHaveLength(9);
    expect(named.lazy).toEqual(named.pino);
    expect(named.lazy[0]).toBe('{"level":30,"time":T,"name":"devmaster","msg":"plain message"}');
    expect(named.lazy[6]).toBe('{"level":30,"time":T,"name":"devmaster","component":"units","n":3,"x":"y","msg":"from a child"}');
    const unnamed = both(`levelLogger('warn')`, records);
    expect(unnamed.loaded).toEqual({ before: false, after: true });
    expect(unnamed.lazy).toEqual(unnamed.pino);
    expect(unnamed.lazy[0]).toBe('{"level":40,"time":T,"a":1,"b":"two","c":true,"d":null,"f":0,"g":1e+21,"h":0.5,"msg":"with fields"}');
  });

  it('hands pino every record it cannot write the same way, and pino writes it', () => {
    const records = `
      l.info('format %s and %d', 'args', 3);
      l.error(new Error('boom'), 'an error');
      l.error({ err: new Error('inner') }, 'an error field');
      l.warn({ nested: { a: [1, 2] } }, 'nested');
      l.info({ n: NaN, i: Infinity }, 'not finite');
      l.info({ lone: '\\ud800' }, 'lone surrogate');
      l.info({ a: 1 });
    `;
    const r = both(`createLogger({ level: 'info', name: 'devmaster', pretty: false })`, records);
    expect(r.loaded).toEqual({ before: true, after: true });
    const stackless = (ls: string[]) => ls.map((s) => s.replace(/"stack":"[^"]*"/g, '"stack":S'));
    expect(stackless(r.lazy)).toEqual(stackless(r.pino));
    expect(r.lazy).toHaveLength(7);
  });

  it('keeps its level and writes nothing, loading nothing, below it', () => {
    const { stdout, lines } = run(`const l = createLogger({ level: 'warn', pretty: false });
l.info('no'); l.debug({ a: 1 }, 'no'); l.trace('no');
const a = [l.level, l.isLevelEnabled('info'), l.isLevelEnabled('error'), l.isLevelEnabled('silent')];
l.level = 'debug';
l.debug('now yes');
log().level = 'silent';
l.fatal('silent: no');
process.stdout.write(JSON.stringify({ a, level: l.level, loaded: pinoLoaded() }));`);
    expect(JSON.parse(stdout)).toEqual({ a: ['warn', false, true, false], level: 'silent', loaded: false });
    expect(lines.map((s) => JSON.parse(s) as { level: number; msg: string })).toMatchObject([{ level: 20, msg: 'now yes' }]);
  });

  it('DEVMASTER_LOG_LEVEL sets the default logger, which writes as pino does', () => {
    const { stdout, lines } = run(`log().info({ a: 'b' }, 'env level'); process.stdout.write(String(pinoLoaded()));`, { DEVMASTER_LOG_LEVEL: 'info' });
    expect(stdout).toBe('false');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\{"level":30,"time":\d+,"a":"b","msg":"env level"\}$/);
  });

  it('writes JSON lines to a stderr on /dev/null without asking node:tty (which loads node:net and the streams)', () => {
    const script = `import { createLogger } from ${JSON.stringify(LOG)};
createLogger({ level: 'info' });
import { writeSync } from 'node:fs';
writeSync(1, JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (tty|net)$/.test(m))));`;
    const devNull = openSync('/dev/null', 'w');
    try {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', devNull] });
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual([]);
    } finally {
      closeSync(devNull);
    }
  });
});
