// The CPU time of a daemon's process tree, as the daemon and instructions benches read it from /proc.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { treeOf } from '../test/helpers/udevd.js';

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/**
 * CPU time (ms) of the living processes of a tree, and of their waited-for children: the living threads' run time
 * from schedstat (ns; utime and stime are 10 ms ticks, a tenth of a coldplug's), the children's cutime and cstime.
 */
export function treeCpuMs(pid: number): number {
  let ms = 0;
  for (const p of treeOf(pid)) {
    try {
      // fields after the command's closing parenthesis: cutime and cstime are the 16th and 17th of the line
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms += (Number(f[13]) + Number(f[14])) * TICK_MS;
      for (const t of readdirSync(`/proc/${p}/task`)) ms += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }
  return ms;
}
