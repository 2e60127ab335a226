// Runs once before the test files: unpacks Debian's udev packages (252 and 257, the references) so that test
// workers never race to fetch them. A failure is only reported here; the tests that need the reference then fail with the
// reason (test/helpers/reference.ts), the others run.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  try {
    execFileSync(join(import.meta.dirname, '..', '..', 'scripts', 'fetch-udev.sh'), { stdio: 'pipe' });
  } catch (e) {
    process.stderr.write(`warning: could not unpack Debian's udev package for the reference tests: ${(e as Error).message}\n`);
  }
  try {
    execFileSync(join(import.meta.dirname, '..', '..', 'scripts', 'fetch-udev257.sh'), { stdio: 'pipe' });
  } catch (e) {
    process.stderr.write(`warning: could not unpack Debian 13's udev 257 for the reference tests: ${(e as Error).message}\n`);
  }
}
