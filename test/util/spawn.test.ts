// The one runCommand: output, limits, timeouts and aborts, with and without a process group of its own.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { runCommand } from '../../src/util/spawn.js';

const alive = (marker: string) => spawnSync('pgrep', ['-f', marker]).stdout.toString().trim() !== '';

describe('runCommand', () => {
  it('collects stdout (cut at maxStdout) and stderr, with the exit code and argv0', async () => {
    const r = await runCommand('/bin/sh', ['-c', 'echo "$0"; printf 0123456789; echo oops >&2; exit 3'], { timeoutMs: 5000, argv0: 'dm-argv0', maxStdout: 12 });
    expect(r).toMatchObject({ code: 3, stdout: 'dm-argv0\n012', stderr: 'oops\n', truncated: true, timedOut: false, aborted: false, error: undefined });
    const none = await runCommand('/bin/sh', ['-c', 'echo x'], { timeoutMs: 5000, captureStdout: false, env: { A: '1' } });
    expect(none).toMatchObject({ code: 0, stdout: '' });
  });

  it('reports a program that cannot start', async () => {
    const r = await runCommand('/nonexistent/dm-prog', [], { timeoutMs: 5000 });
    expect((r.error as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('a timeout kills the whole process group when asked, the child alone otherwise, and returns at once', async () => {
    // sleep durations no other process uses: what pgrep looks for
    const a = `sleep 300.${process.pid}1`;
    const b = `sleep 300.${process.pid}2`;
    const t0 = performance.now();
    const grouped = await runCommand('/bin/sh', ['-c', `${a}; true`], { timeoutMs: 200, processGroup: true });
    expect(grouped).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(alive(a)).toBe(false);
    // only the shell is killed: its sleep lives on and holds the pipes, which does not hold the result back
    const single = await runCommand('/bin/sh', ['-c', `${b}; true`], { timeoutMs: 200 });
    expect(single).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(alive(b)).toBe(true);
    for (const pid of spawnSync('pgrep', ['-xf', b]).stdout.toString().split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
  });

  it('an abort kills the program; an aborted signal starts nothing', async () => {
    const ac = new AbortController();
    const p = runCommand('/bin/sleep', ['30'], { timeoutMs: 10_000, signal: ac.signal, processGroup: true });
    setTimeout(() => ac.abort(), 100);
    expect(await p).toMatchObject({ aborted: true, timedOut: false, signal: 'SIGKILL' });
    const r = await runCommand('/bin/true', [], { timeoutMs: 1000, signal: ac.signal });
    expect(r.aborted).toBe(true);
    expect(r.error?.message).toMatch(/aborted before it started/);
  });
});
