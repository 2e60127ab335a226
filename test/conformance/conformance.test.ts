// systemd's udev-test conformance suite through devMaster's real loader, compiler, executor and apply code.
// Fails when fewer cases pass than the floor recorded in floor.json.
import { describe, expect, it } from 'vitest';
import { conformanceFloor, runSuite } from './runner.js';

describe('udev-test conformance', () => {
  it('passes at least the recorded floor of cases', async () => {
    const lines: string[] = [];
    const res = await runSuite({ log: (s) => lines.push(s) });
    const failing = lines.filter((l) => l.startsWith('FAIL'));
    console.log(`${res.passed} passed, ${res.failed} failed${failing.length ? '\n' + failing.join('\n') : ''}`);
    expect(res.passed + res.failed).toBe(164);
    expect(res.passed).toBeGreaterThanOrEqual(conformanceFloor());
  }, 300_000);
});
