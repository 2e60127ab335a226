// event_timeout with one timer for every running event (src/daemon/deadlines.ts): the warning at a third, the
// give-up at the timeout, nothing for events that ended, and the earliest deadline first when the timeout changes.
import { describe, expect, it } from 'vitest';
import { EventDeadlines } from '../../src/daemon/deadlines.js';
import { sleep } from './helpers.js';

describe('EventDeadlines', () => {
  it('warns at a third of the timeout and gives up at the timeout; an ended event gets neither', async () => {
    const d = new EventDeadlines();
    const seen: string[] = [];
    const t0 = Date.now();
    const at: Record<string, number> = {};
    const track = (name: string) => ({
      warn: () => {
        seen.push(`warn ${name}`);
        at[`warn ${name}`] = Date.now() - t0;
      },
      giveUp: () => {
        seen.push(`give up ${name}`);
        at[`give up ${name}`] = Date.now() - t0;
        return new Error(`${name} timed out`);
      },
    });
    const a = track('a');
    const slow = d.begin(600, a.warn, a.giveUp);
    const b = track('b');
    const quick = d.begin(600, b.warn, b.giveUp);
    d.end(quick);
    const rejected = slow.expired.catch((e: Error) => e.message);
    expect(await rejected).toBe('a timed out');
    expect(seen).toEqual(['warn a', 'give up a']);
    expect(at['warn a']).toBeGreaterThanOrEqual(190);
    expect(at['give up a']).toBeGreaterThanOrEqual(590);
    d.close();
  });

  it('a shorter timeout begun later fires first; closing stops the timer', async () => {
    const d = new EventDeadlines();
    const seen: string[] = [];
    const long = d.begin(30_000, () => seen.push('warn long'), () => new Error('long'));
    long.expired.catch(() => seen.push('long given up'));
    const short = d.begin(300, () => seen.push('warn short'), () => new Error('short'));
    expect(await short.expired.catch((e: Error) => e.message)).toBe('short');
    expect(seen).toEqual(['warn short']);
    d.end(long);
    d.close();
    await sleep(50);
    expect(seen).toEqual(['warn short']);
  });

  it('an event ending after its warning is not given up', async () => {
    const d = new EventDeadlines();
    const seen: string[] = [];
    const e = d.begin(300, () => seen.push('warn'), () => new Error('gone'));
    e.expired.catch(() => seen.push('given up'));
    await sleep(150);
    expect(seen).toEqual(['warn']);
    d.end(e);
    await sleep(300);
    expect(seen).toEqual(['warn']);
    d.close();
  });
});
