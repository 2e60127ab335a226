// Where a daemon's load went, by stage, from V8 CPU profiles of devMaster runs (docs/PERFORMANCE.md, "Where a
// coldplug's CPU goes"). Make the profiles with the daemon bench, devMaster alone, its executable's V8 flags and
// Node's profiler:
//
//   DM_BENCH_ONLY=devmaster DM_BENCH_PHASES=coldplug \
//   DM_BENCH_NODE="--max-semi-space-size=1 --no-opt --no-expose-wasm --cpu-prof --cpu-prof-dir=DIR --cpu-prof-interval=200" \
//   npx tsx bench/index.ts daemon
//   npx tsx bench/profile-stages.ts DIR
//
// (--cpu-prof is one of Node's options, not V8's: the code caches, made under the shebang's flags, are still taken.)
// Each profile is one daemon's run: its start, then the phase's load after the bench's 1.5 s of settling. The load
// is the longest busy stretch after the start's (samples closer than 50 ms apart). Each sample of it goes to the
// innermost stage on its stack (a builtin run by a rule line counts as "builtins", not "rules"); what is under no
// stage is the queue, the event's own set-up and the event loop. Prints the median of each stage over the profiles.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Stages by the function names that begin them (the source's names survive the bundle), innermost first. */
export const STAGES: readonly [stage: string, functions: readonly string[]][] = [
  ['garbage collection', ['(garbage collector)']],
  ['hwdb lookups (in the hwdb builtin)', ['lookup']],
  ['builtins, but for hwdb lookups (path_id, blkid, input_id, ...)', ['runBuiltin']],
  ['rules', ['executeRules']],
  ['node, symlinks', ['applyNode']],
  ['database record', ['writeDb', 'deleteDb']],
  ['device model from the uevent', ['fromUevent']],
  ['broadcast (properties, encoding, sendto)', ['#broadcastProperties', '#broadcast', 'sendRaw']],
  ['receive (recvmsg, uevent parse)', ['_receive']],
];

const GAP_US = 50_000;

/** Milliseconds of the load's samples in each stage (and "other"), and the load's busy time. */
export function stagesOf(p: Profile): { busyMs: number; stages: Map<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  // busy stretches: [first sample index, last], by time
  const stretches: { first: number; last: number; samples: number }[] = [];
  let t = p.startTime;
  let lastBusy = -Infinity;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (idle.has(p.samples[i]!)) continue;
    const cur = stretches[stretches.length - 1];
    if (cur && t - lastBusy < GAP_US) {
      cur.last = i;
      cur.samples++;
    } else stretches.push({ first: i, last: i, samples: 1 });
    lastBusy = t;
  }
  const load = stretches.slice(1).reduce<(typeof stretches)[number] | undefined>((a, b) => (a && a.samples >= b.samples ? a : b), undefined);
  const stages = new Map<string, number>();
  if (!load) return { busyMs: 0, stages };
  const stageOfName = new Map<string, string>();
  for (const [stage, fns] of STAGES) for (const f of fns) stageOfName.set(f, stage);
  // a sample's time is the delta to the next sample, at most a few sampling intervals (the last sample of a
  // stretch may be followed by none for a while)
  const cap = (4 * median(p.timeDeltas.slice(1))) / 1000;
  let busyMs = 0;
  for (let i = load.first; i <= load.last; i++) {
    const id = p.samples[i]!;
    if (idle.has(id)) continue;
    const ms = Math.min((p.timeDeltas[i + 1] ?? 0) / 1000, cap);
    busyMs += ms;
    let stage = 'other (queue, event set-up, event loop)';
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const s = stageOfName.get(byId.get(x)!.callFrame.functionName);
      if (s) {
        stage = s;
        break;
      }
    }
    stages.set(stage, (stages.get(stage) ?? 0) + ms);
  }
  return { busyMs, stages };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
}

function main(dir: string): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (!files.length) throw new Error(`${dir}: no .cpuprofile files`);
  const runs = files.map((f) => stagesOf(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile));
  const names = [...STAGES.map(([s]) => s), 'other (queue, event set-up, event loop)'];
  const busy = median(runs.map((r) => r.busyMs));
  console.log(`${files.length} profiles; the load's busy time: median ${busy.toFixed(1)} ms (${runs.map((r) => r.busyMs.toFixed(0)).join(', ')})`);
  for (const n of names) {
    const ms = median(runs.map((r) => r.stages.get(n) ?? 0));
    console.log(`${ms.toFixed(1).padStart(7)} ms ${((100 * ms) / busy).toFixed(0).padStart(3)} %  ${n}`);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) main(process.argv[2] ?? '.');
