// `npm run conformance [-- CASE...]`: runs systemd's udev-test cases and ends with "N passed, M failed".
import { runSuite } from '../test/conformance/runner.js';

const only = process.argv.slice(2).map(Number).filter((n) => n > 0);
const verbose = process.env.CONFORMANCE_VERBOSE === '1';
const res = await runSuite({ only: only.length ? only : undefined, log: (s) => (verbose || s.startsWith('FAIL') ? console.log(s) : undefined) });
console.log(`${res.passed} passed, ${res.failed} failed`);
process.exitCode = res.failed === 0 ? 0 : 1;
