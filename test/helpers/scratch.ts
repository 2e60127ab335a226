// Temporary directories for tests, removed when the test that made one ends, or, when one is made outside a test
// (at a file's top, in a describe or a beforeAll), once the tests around it end: tests leave nothing in /tmp.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

/** mkdtemp under the system's temporary directory, with its removal registered. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    onTestFinished(remove);
  } catch {
    afterAll(remove); // not inside a test: vitest refuses onTestFinished there
  }
  return dir;
}
