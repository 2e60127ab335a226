// The udev-test conformance cases (../shared/conformance/udev-test/cases.json next to the repo).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/reference.js';

export interface ConformanceCase {
  index: number;
  desc: string;
  rules: string;
}

export const CONFORMANCE_FILE = join(REPO, '..', 'shared', 'conformance', 'udev-test', 'cases.json');

export const CONFORMANCE_CASES: ConformanceCase[] = (
  JSON.parse(readFileSync(CONFORMANCE_FILE, 'utf8')) as { cases: ConformanceCase[] }
).cases;
