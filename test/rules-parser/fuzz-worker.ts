// Runs the fuzz inputs (see fuzz.test.ts) in a worker thread, so that the test can stop it if an
// input ever hangs. Before each input it writes the input's index and start time into the shared
// heartbeat buffer; at the end it posts a summary.
import { parentPort, workerData } from 'node:worker_threads';
import { grammarPhysicalLines, parseRules, splitPhysicalLines } from '../../src/rules/parser.js';
import { compareWithUdev } from './compare.js';
import { fuzzInputs } from './fuzz-gen.js';

export interface FuzzSummary {
  failures: string[];
  inputs: number;
  compared: number;
  accepted: number;
  rejected: number;
  slowestMs: number;
}

const { seed, count, perInputMs, heartbeat } = workerData as { seed: number; count: number; perInputMs: number; heartbeat: SharedArrayBuffer };
const beat = new Float64Array(heartbeat); // [index, start time (Date.now())]
const summary: FuzzSummary = { failures: [], inputs: 0, compared: 0, accepted: 0, rejected: 0, slowestMs: 0 };

// warm the JIT up, so that compile time does not count against the first inputs
for (let i = 0; i < 200; i++) parseRules(`KERNEL=="sda${i}", ATTR{x}=e"\\x41", SYMLINK+="a" \\\n TAG+="b"\nX`, 'warmup.rules');

for (const { index, text, options } of fuzzInputs(seed, count)) {
  if (summary.failures.length >= 5) break;
  summary.inputs++;
  beat[1] = Date.now();
  beat[0] = index;
  const t0 = performance.now();
  let result;
  try {
    result = parseRules(text, 'fuzz.rules', options);
  } catch (e) {
    summary.failures.push(`input ${index} ${JSON.stringify(text)}: threw ${(e as Error).stack}`);
    continue;
  }
  const ms = performance.now() - t0;
  summary.slowestMs = Math.max(summary.slowestMs, ms);
  if (ms > perInputMs) summary.failures.push(`input ${index} took ${ms.toFixed(1)} ms: ${JSON.stringify(text)}`);
  for (const e of result.errors) {
    if (!(e.line >= 1 && e.column >= 1 && e.message.length > 0)) summary.failures.push(`input ${index}: bad error ${e}`);
  }
  const cmp = compareWithUdev(text, options);
  if (cmp.mismatches.length) summary.failures.push(`input ${index} ${JSON.stringify(text)} ${JSON.stringify(options)}:\n  ${cmp.mismatches.join('\n  ')}`);
  if (!cmp.aborted) summary.compared++;
  summary.accepted += cmp.acceptedLines;
  summary.rejected += cmp.rejectedLines;
  if (JSON.stringify(splitPhysicalLines(text)) !== JSON.stringify(grammarPhysicalLines(text))) {
    summary.failures.push(`input ${index} ${JSON.stringify(text)}: physical lines differ from the grammar's`);
  }
}
beat[0] = -1;
parentPort!.postMessage(summary);
