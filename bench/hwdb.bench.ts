// hwdb benchmark: compiling Debian's hwdb.d with devMaster next to systemd-hwdb update (wall time, peak RSS),
// and lookups per second: devMaster (whole file in one Buffer, or pages read on demand) next to libsystemd's
// sd-hwdb (called through koffi) on the same hwdb.bin. Not a test: it prints numbers.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev, REPO } from '../test/helpers/reference.js';
import { generateModaliases, machineModaliases, matchLinesOf, openSdHwdb } from '../test/hwdb/helpers.js';
import { hwdbSourceDirs, hwdbSourceFiles, openHwdb, updateHwdb } from '../src/hwdb/index.js';

const ROUNDS = Number(process.env.HWDB_BENCH_ROUNDS ?? 7);

interface Run {
  wall: number;
  rssKb: number;
}

/** Runs a command under /usr/bin/time for wall time and peak RSS. */
function timed(cmd: string, args: string[]): Run {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8' });
  const wall = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const rss = Number(r.stderr.trim().split('\n').pop());
  return { wall, rssKb: rss };
}

const min = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number, d = 1) => n.toFixed(d);

function lookupsPerSecond(lookup: (m: string) => unknown, queries: string[], minMs = 1500): number {
  for (let i = 0; i < Math.min(queries.length, 2000); i++) lookup(queries[i]!); // warm up
  let n = 0;
  const t = performance.now();
  let el = 0;
  do {
    for (const q of queries) lookup(q);
    n += queries.length;
    el = performance.now() - t;
  } while (el < minMs);
  return (n / el) * 1000;
}

/**
 * Memory of a fresh node process that opens hwdb.bin with the given storage and runs the queries once:
 * peak RSS, and RSS/heap/external after a full GC (what stays while the daemon runs), in KiB.
 */
function lookupMemory(storage: 'buffer' | 'paged' | 'none', bin: string, queriesFile: string): { peak: number; rss: number; heap: number; external: number } {
  const code = `
    import { openHwdb } from ${JSON.stringify(join(REPO, 'dist', 'hwdb', 'index.js'))};
    import { readFileSync } from 'node:fs';
    const qs = readFileSync(${JSON.stringify(queriesFile)}, 'utf8').split('\\n');
    let db;
    if (${JSON.stringify(storage)} !== 'none') {
      db = openHwdb(${JSON.stringify(bin)}, { storage: ${JSON.stringify(storage)} });
      for (const q of qs) db.lookup(q);
    }
    globalThis.gc();
    const m = process.memoryUsage();
    console.log(JSON.stringify({ rss: m.rss >> 10, heap: m.heapUsed >> 10, external: m.external >> 10, keep: !!db }));
  `;
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, '--expose-gc', '--input-type=module', '-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const m = JSON.parse(r.stdout.trim()) as { rss: number; heap: number; external: number };
  return { peak: Number(r.stderr.trim().split('\n').pop()), rss: m.rss, heap: m.heap, external: m.external };
}

/** The node flags of `npm start` (package.json), which is how the daemon runs. */
function daemonNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/).filter((w) => w.startsWith('--'));
}

/** Lookups per second in a node process with the daemon's V8 flags (lite mode: no optimizing compiler). */
function liteLookupRate(bin: string, queriesFile: string): number {
  const code = `
    import { openHwdb } from ${JSON.stringify(join(REPO, 'dist', 'hwdb', 'index.js'))};
    import { readFileSync } from 'node:fs';
    const qs = readFileSync(${JSON.stringify(queriesFile)}, 'utf8').split('\\n');
    const db = openHwdb(${JSON.stringify(bin)});
    let n = 0;
    const t = performance.now();
    while (performance.now() - t < 1500) { for (const q of qs) db.lookup(q); n += qs.length; }
    console.log(n / (performance.now() - t) * 1000);
  `;
  const r = spawnSync(process.execPath, [...daemonNodeFlags(), '--input-type=module', '-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return Number(r.stdout.trim());
}

export async function main(): Promise<void> {
  const ref = referenceUdev();
  const tmp = mkdtempSync(join(tmpdir(), 'devmaster-hwdb-bench-'));
  try {
    const sdRoot = join(tmp, 'sd');
    const dmRoot = join(tmp, 'dm');
    for (const r of [sdRoot, dmRoot]) {
      mkdirSync(join(r, 'lib', 'udev'), { recursive: true });
      cpSync(ref.hwdbDir, join(r, 'lib', 'udev', 'hwdb.d'), { recursive: true });
    }
    const devctl = join(REPO, 'dist', 'cli', 'devctl.js');
    if (!existsSync(devctl)) throw new Error(`${devctl} missing: run npm run build (npm run bench does)`);
    const files = hwdbSourceFiles(hwdbSourceDirs(sdRoot));

    // Compile: whole processes, alternating, so both see the same machine load.
    const sd: Run[] = [];
    const dm: Run[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      sd.push(timed(ref.systemdHwdb, [`--root=${sdRoot}`, 'update']));
      dm.push(timed(process.execPath, [devctl, 'hwdb', '--update', '--root', dmRoot]));
    }
    // In-process compile without node's start-up: the first run (as in devctl) and the following ones.
    const inproc: number[] = [];
    let stats;
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      const r = updateHwdb({ dirs: hwdbSourceDirs(sdRoot), output: join(tmp, 'inproc.bin') });
      inproc.push(performance.now() - t);
      stats = r.stats;
    }
    const sdMin = min(sd.map((r) => r.wall));
    const dmMin = min(dm.map((r) => r.wall));
    console.log(`sources: ${files.length} files from Debian udev ${ref.version}; ${stats?.nodes} trie nodes, ${stats?.values} values, ${((stats?.size ?? 0) / 1048576).toFixed(1)} MiB`);
    console.log('compile (wall ms, min / median of ' + ROUNDS + ')        systemd-hwdb    devMaster   ratio');
    console.log(`  whole process                              ${fmt(sdMin).padStart(8)} / ${fmt(median(sd.map((r) => r.wall)))}  ${fmt(dmMin).padStart(8)} / ${fmt(median(dm.map((r) => r.wall)))}  ${fmt(dmMin / sdMin, 2)}x`);
    console.log(`  in-process, first run, devMaster                                     ${fmt(inproc[0]!).padStart(8)}          ${fmt(inproc[0]! / sdMin, 2)}x`);
    console.log(`  in-process, later runs, devMaster                                   ${fmt(min(inproc.slice(1))).padStart(8)} / ${fmt(median(inproc.slice(1)))}  ${fmt(min(inproc.slice(1)) / sdMin, 2)}x`);
    console.log(`  peak RSS (KiB)                             ${String(median(sd.map((r) => r.rssKb))).padStart(8)}         ${String(median(dm.map((r) => r.rssKb))).padStart(8)}         ${fmt(median(dm.map((r) => r.rssKb)) / median(sd.map((r) => r.rssKb)), 2)}x`);

    // Lookups on the same (systemd-compiled) file.
    const bin = join(sdRoot, 'etc', 'udev', 'hwdb.bin');
    const queries = [...machineModaliases(), ...generateModaliases(matchLinesOf(files), 5000, 99)];
    const qfile = join(tmp, 'queries.txt');
    writeFileSync(qfile, queries.join('\n'));
    const buf = openHwdb(bin);
    const paged = openHwdb(bin, { storage: 'paged' });
    const rateBuf = lookupsPerSecond((m) => buf.lookup(m), queries);
    const ratePaged = lookupsPerSecond((m) => paged.lookup(m), queries, 800);
    const one = (db: typeof buf) => {
      const t = performance.now();
      for (let i = 0; i < 200; i++) db.lookup(queries[i % queries.length]!);
      return ((performance.now() - t) / 200) * 1000;
    };
    const sdDb = await openSdHwdb(bin).catch((e: Error) => (console.log(`  (sd-hwdb not measured: ${e.message})`), undefined));
    const sdLookup = sdDb ? (m: string) => sdDb.count(m) : undefined;
    const rateSd = sdLookup ? lookupsPerSecond(sdLookup, queries) : NaN;
    console.log(`lookups per second (${queries.length} modaliases: this machine's + generated from the sources)`);
    console.log(`  libsystemd sd-hwdb (mmap, via koffi)       ${sdLookup ? fmt(rateSd, 0) : 'n/a'}`);
    console.log(`  devMaster, whole file in one Buffer         ${fmt(rateBuf, 0)}${sdLookup ? `   (${fmt(rateBuf / rateSd, 2)}x sd-hwdb)` : ''}`);
    console.log(`  devMaster, 4 KiB pages read on demand       ${fmt(ratePaged, 0)}   (pread calls: ${(paged.storage as unknown as { reads: number }).reads})`);
    console.log(`  devMaster, one Buffer, V8 lite mode (how the daemon runs)   ${fmt(liteLookupRate(bin, qfile), 0)}`);
    const cold = openHwdb(bin, { storage: 'paged' });
    console.log(`  first 200 lookups, µs each: Buffer ${fmt(one(buf), 0)}, paged with a cold page cache ${fmt(one(cold), 0)}`);
    cold.close();
    buf.close();
    paged.close();
    const mem = { none: lookupMemory('none', bin, qfile), buffer: lookupMemory('buffer', bin, qfile), paged: lookupMemory('paged', bin, qfile) };
    console.log('memory of a node process after those lookups (KiB)   peak RSS   RSS after GC   heap   external');
    for (const [k, m] of Object.entries(mem)) console.log(`  ${k.padEnd(8)}                                        ${String(m.peak).padStart(8)}   ${String(m.rss).padStart(12)}   ${String(m.heap).padStart(6)}   ${String(m.external).padStart(8)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
