// event_timeout with one timer for every running event (src/daemon/deadlines.ts): the warning at a third, the
// give-up at the timeout, nothing for events that ended, the earliest deadline first when the timeout changes, and
// the work's own outcome passed through.
import { describe, expect, it } from 'vitest';
import { EventDeadlines } from '../../src/daemon/deadlines.js';
import { sleep } from './helpers.js';

/** Deadlines whose warnings and give-ups are noted in `seen` (with their time in `at`), by the event's name. */
function noted(): { d: EventDeadlines<string>; seen: string[]; at: Record<string, number> } {
  const seen: string[] = [];
  const at: Record<string, number> = {};
  const t0 = Date.now();
  const note = (what: string) => {
    seen.push(what);
    at[what] = Date.now() - t0;
  };
  const d = new EventDeadlines<string>(
    (name) => note(`warn ${name}`),
    (name, ms) => {
      note(`give up ${name}`);
      return new Error(`${name} timed out after ${ms} ms`);
    },
  );
  return { d, seen, at };
}

/** A promise that never settles: an event's work that hangs. */
const hanging = (): Promise<number> => new Promise<number>(() => {});

describe('EventDeadlines', () => {
  it('warns at a third of the timeout and gives up at the timeout; an ended event gets neither', async () => {
    const { d, seen, at } = noted();
    const slow = d.run(600, 'a', hanging()).catch((e: Error) => e.message);
    expect(await d.run(600, 'b', Promise.resolve(7))).toBe(7);
    expect(await slow).toBe('a timed out after 600 ms');
    expect(seen).toEqual(['warn a', 'give up a']);
    expect(at['warn a']).toBeGreaterThanOrEqual(190);
    expect(at['give up a']).toBeGreaterThanOrEqual(590);
    d.close();
  });

  it("passes the work's own failure through", async () => {
    const { d, seen } = noted();
    await expect(d.run(300, 'a', Promise.reject(new Error('broken')))).rejects.toThrow('broken');
    await sleep(400);
    expect(seen).toEqual([]);
    d.close();
  });

  it('a shorter timeout begun later fires first; closing stops the timer', async () => {
    const { d, seen } = noted();
    let endLong!: (n: number) => void;
    const long = d.run(30_000, 'long', new Promise<number>((r) => (endLong = r))).catch(() => seen.push('long given up'));
    expect(await d.run(300, 'short', hanging()).catch((e: Error) => e.message)).toBe('short timed out after 300 ms');
    expect(seen).toEqual(['warn short', 'give up short']);
    endLong(1);
    await long;
    d.close();
    await sleep(50);
    expect(seen).toEqual(['warn short', 'give up short']);
  });

  it('an event ending after its warning is not given up', async () => {
    const { d, seen } = noted();
    let end!: (n: number) => void;
    const e = d.run(300, 'a', new Promise<number>((r) => (end = r))).catch(() => seen.push('given up'));
    await sleep(150);
    expect(seen).toEqual(['warn a']);
    end(3);
    expect(await e).toBe(3);
    await sleep(300);
    expect(seen).toEqual(['warn a']);
    d.close();
  });
});
