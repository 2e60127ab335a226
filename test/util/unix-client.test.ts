// src/util/unix-client.ts: one line to a Unix stream socket, one line back, by Node's pipe handle ('pipe') or by
// node:net ('net'), against a real server in this process: the same answers and the same errors both ways; 'auto'
// loads no node:net where Node gives the pipe binding, and takes node:net without a warning where it does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exchangeLine, ExchangeError, type Transport } from '../../src/util/unix-client.js';
import { DIST } from '../helpers/bundle.js';

const dir = mkdtempSync(join(tmpdir(), 'dm-unix-client-'));
/** What each server got last, by path: the bytes up to the first newline. */
const received = new Map<string, string>();
const servers: Server[] = [];

/** A server at `name` that answers each connection's first line with `answer(line, socket)`. */
async function serve(name: string, answer: (line: string, sock: Socket) => void): Promise<string> {
  const path = join(dir, name);
  const server = createServer((sock) => {
    let buf = '';
    let answered = false;
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0 && !answered) {
        answered = true;
        received.set(path, buf.slice(0, nl));
        answer(buf.slice(0, nl), sock);
      }
    });
    sock.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return path;
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => (e instanceof ExchangeError ? e.code : e),
  );

let echo: string, pieces: string, large: string, silent: string, closes: string, refused: string;
/** 2 MB that no two reads would leave the same if a read's buffer were overwritten by the next. */
const LARGE = Array.from({ length: 450_000 }, (_, i) => `${i % 9973}|`).join('').slice(0, 2 * 1024 * 1024);

beforeAll(async () => {
  echo = await serve('echo', (line, s) => s.write(`got ${line}\nnot this\n`));
  // the answer in three writes, a two-byte character split between the second and the third
  pieces = await serve('pieces', (_line, s) => {
    const bytes = Buffer.from('answer in pieces: é\n');
    const cut = bytes.indexOf(0xc3) + 1;
    s.write(bytes.subarray(0, 5));
    setTimeout(() => s.write(bytes.subarray(5, cut)), 30);
    setTimeout(() => s.write(bytes.subarray(cut)), 60);
  });
  large = await serve('large', (_line, s) => s.end(LARGE + '\n'));
  silent = await serve('silent', () => {});
  closes = await serve('closes', (_line, s) => s.end('no newline'));
  // a socket file nobody listens on: bound, then the binder gone
  refused = join(dir, 'refused');
  execFileSync('/usr/bin/python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(refused)})`]);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

describe.each<Transport>(['pipe', 'net'])('exchangeLine, transport %s', (transport) => {
  it('sends the line and returns the answer up to its newline', async () => {
    expect(await exchangeLine(echo, 'hello ü\n', { transport })).toBe('got hello ü');
    expect(received.get(echo)).toBe('hello ü');
  });

  it('joins an answer that comes in pieces, a character split between them', async () => {
    expect(await exchangeLine(pieces, 'q\n', { transport })).toBe('answer in pieces: é');
  });

  it('takes a large answer whole', async () => {
    expect(await exchangeLine(large, 'q\n', { transport })).toBe(LARGE);
  });

  it('names what went wrong: no socket, nobody listening, closed early, no answer in time', async () => {
    expect(await failure(exchangeLine(join(dir, 'none'), 'q\n', { transport }))).toBe('ENOENT');
    expect(await failure(exchangeLine(refused, 'q\n', { transport }))).toBe('ECONNREFUSED');
    expect(await failure(exchangeLine(closes, 'q\n', { transport }))).toBe('EOF');
    const t0 = Date.now();
    expect(await failure(exchangeLine(silent, 'q\n', { transport, timeoutMs: 200 }))).toBe('ETIMEDOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });
});

/** The built module run in a Node of its own: its answer, whether node:net was loaded, and its stderr. */
function inChild(nodeArgs: string[], prelude = '', env: NodeJS.ProcessEnv = {}): Promise<{ out: { line: string; net: boolean }; stderr: string }> {
  const script = `${prelude}
const { exchangeLine } = await import(${JSON.stringify(join(DIST, 'util', 'unix-client.js'))});
const line = await exchangeLine(${JSON.stringify(echo)}, 'child\\n');
console.log(JSON.stringify({ line, net: process.moduleLoadList.includes('NativeModule net') }));`;
  const child = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (status) => {
      if (status !== 0) reject(new Error(`child exited ${status}: ${stderr}`));
      else resolve({ out: JSON.parse(stdout) as { line: string; net: boolean }, stderr });
    }),
  );
}

describe("exchangeLine's choice of transport ('auto')", () => {
  it('loads no node:net in this Node', async () => {
    expect(await inChild([])).toEqual({ out: { line: 'got child', net: false }, stderr: '' });
  });

  it('takes node:net, and prints no warning, under --pending-deprecation (command line or NODE_OPTIONS)', async () => {
    expect(await inChild(['--pending-deprecation'])).toEqual({ out: { line: 'got child', net: true }, stderr: '' });
    expect(await inChild([], '', { NODE_OPTIONS: '--pending-deprecation' })).toEqual({ out: { line: 'got child', net: true }, stderr: '' });
  });

  it('takes node:net where process.binding is refused or the binding has another shape', async () => {
    const refusing = "process.binding = () => { throw new Error('ERR_ACCESS_DENIED'); };";
    expect(await inChild([], refusing)).toEqual({ out: { line: 'got child', net: true }, stderr: '' });
    const reshaped = "const b = process.binding.bind(process); process.binding = (n) => n === 'pipe_wrap' ? { constants: {} } : b(n);";
    expect(await inChild([], reshaped)).toEqual({ out: { line: 'got child', net: true }, stderr: '' });
  });
});
