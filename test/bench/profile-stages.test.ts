// bench/profile-stages.ts: a CPU profile's load, sample by sample, to the innermost stage on its stack.
import { describe, expect, it } from 'vitest';
import { stagesOf } from '../../bench/profile-stages.js';

/** A profile of the given stacks (outermost first), one sample each `stepUs` apart; null is an idle sample. */
function profile(samples: ({ stack: string[] } | null)[], stepUs = 1000, gaps: Record<number, number> = {}) {
  const nodes = [{ id: 1, callFrame: { functionName: '(root)', url: '' }, children: [] as number[] }];
  const idle = { id: 2, callFrame: { functionName: '(idle)', url: '' }, children: [] as number[] };
  nodes[0]!.children.push(2);
  nodes.push(idle);
  const ids: number[] = [];
  for (const s of samples) {
    if (!s) {
      ids.push(2);
      continue;
    }
    let parent = nodes[0]!;
    for (const fn of s.stack) {
      let child = parent.children.map((c) => nodes.find((n) => n.id === c)!).find((n) => n.callFrame.functionName === fn);
      if (!child) {
        child = { id: nodes.length + 1, callFrame: { functionName: fn, url: 'x.cjs' }, children: [] };
        nodes.push(child);
        parent.children.push(child.id);
      }
      parent = child;
    }
    ids.push(parent.id);
  }
  return { nodes, startTime: 0, samples: ids, timeDeltas: ids.map((_, i) => (i === 0 ? 0 : stepUs + (gaps[i] ?? 0))) };
}

describe('profile stages', () => {
  it('takes the longest busy stretch after the start, and gives each sample to its innermost stage', () => {
    const start = Array.from({ length: 5 }, () => ({ stack: ['main', 'load'] }));
    const load = [
      { stack: ['#dispatch', 'executeRules', 'runFrom'] },
      { stack: ['#dispatch', 'executeRules', 'runBuiltin', 'search'] },
      { stack: ['#dispatch', 'applyNode', 'symlinkSync'] },
      { stack: ['#dispatch', '#eventRan', '#broadcast', 'sendRaw'] },
      { stack: ['#dispatch', 'push'] },
      { stack: ['(garbage collector)'] },
      null,
      { stack: ['#dispatch', 'executeRules', 'runFrom'] },
      null,
    ];
    const later = [{ stack: ['idleWork'] }];
    // 100 ms between the start and the load, and between the load and a short stretch after it
    const p = profile([...start, ...load, ...later], 1000, { 5: 100_000, [5 + load.length]: 100_000 });
    const { busyMs, stages } = stagesOf(p);
    expect(busyMs).toBe(7);
    expect(Object.fromEntries(stages)).toEqual({
      rules: 2,
      'builtins, but for hwdb lookups (path_id, blkid, input_id, ...)': 1,
      'node, symlinks': 1,
      'broadcast (properties, encoding, sendto)': 1,
      'other (queue, event set-up, event loop)': 1,
      'garbage collection': 1,
    });
  });

  it('finds no load in a profile that is only a start', () => {
    expect(stagesOf(profile([{ stack: ['main'] }, { stack: ['main'] }])).busyMs).toBe(0);
  });
});
