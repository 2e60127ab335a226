// Fuzz test: 60,000 random and mutated rules texts from a fixed seed (fuzz-gen.ts), run in a
// worker (fuzz-worker.ts) under a watchdog. For every input the parser must return, never throw,
// stay under a time bound, and agree line by line with the udev oracle (udev-oracle.ts); the
// hand-written physical line split must equal the grammar's.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import type { FuzzSummary } from './fuzz-worker.js';
import { fuzzInputs } from './fuzz-gen.js';

const SEED = 0x5eed2026;
const INPUTS = 60_000;
/** measured bound per input; inputs are at most a few KB and typically take well under 1 ms */
const PER_INPUT_MS = 1000;
/** the watchdog stops the worker when one input runs this long: a hang */
const HANG_MS = 5000;

function runFuzz(): Promise<FuzzSummary> {
  const heartbeat = new SharedArrayBuffer(16);
  const beat = new Float64Array(heartbeat);
  beat[0] = -2;
  const worker = new Worker(new URL('./fuzz-worker-boot.mjs', import.meta.url), {
    workerData: { seed: SEED, count: INPUTS, perInputMs: PER_INPUT_MS, heartbeat },
  });
  return new Promise((resolve, reject) => {
    const watchdog = setInterval(() => {
      if (beat[0] >= 0 && Date.now() - beat[1] > HANG_MS) {
        const index = beat[0];
        clearInterval(watchdog);
        void worker.terminate();
        let text = '';
        for (const input of fuzzInputs(SEED, index + 1)) text = input.text;
        reject(new Error(`input ${index} did not finish in ${HANG_MS} ms: ${JSON.stringify(text)}`));
      }
    }, 100);
    worker.once('message', (summary: FuzzSummary) => {
      clearInterval(watchdog);
      void worker.terminate();
      resolve(summary);
    });
    worker.once('error', (e) => {
      clearInterval(watchdog);
      reject(e);
    });
  });
}

describe('rules parser fuzz', () => {
  it(`returns results or errors for ${INPUTS} random and mutated inputs, agreeing with udev`, async () => {
    const s = await runFuzz();
    expect(s.failures).toEqual([]);
    expect(s.inputs).toBe(INPUTS);
    // the inputs must exercise both outcomes a lot, or the agreement means little
    expect(s.compared).toBeGreaterThan(INPUTS * 0.95);
    expect(s.accepted).toBeGreaterThan(20_000);
    expect(s.rejected).toBeGreaterThan(20_000);
    console.log(`fuzz: ${s.inputs} inputs, ${s.accepted} lines accepted, ${s.rejected} rejected, slowest ${s.slowestMs.toFixed(2)} ms`);
  }, 600_000);
});
