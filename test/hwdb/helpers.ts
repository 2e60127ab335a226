// Helpers for the hwdb tests: modaliases of this machine, modaliases generated from source patterns, and
// batch queries through the reference systemd-hwdb binary.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

/** Every modalias of this machine: /sys/**\/modalias files and MODALIAS= lines of uevent files. */
export function machineModaliases(sysfs = '/sys'): string[] {
  const out = new Set<string>();
  const seen = new Set<string>();
  const walk = (dir: string, depth: number) => {
    if (depth > 12 || seen.has(dir)) return;
    seen.add(dir);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (n === 'modalias') {
        try {
          const v = readFileSync(p, 'utf8').trim();
          if (v) out.add(v);
        } catch {
          /* unreadable */
        }
        continue;
      }
      if (n === 'uevent') {
        try {
          for (const line of readFileSync(p, 'utf8').split('\n')) if (line.startsWith('MODALIAS=')) out.add(line.slice(9));
        } catch {
          /* unreadable */
        }
        continue;
      }
      try {
        const st = lstatSync(p);
        if (st.isDirectory() && !st.isSymbolicLink()) walk(p, depth + 1);
      } catch {
        /* vanished */
      }
    }
  };
  walk(join(sysfs, 'devices'), 0);
  return [...out].filter((m) => !m.includes('\n')).sort();
}

import { prng as rng } from '../helpers/prng.js';

export { rng };

const ALPHABET = '0123456789ABCDEFabcdefvpdcisn:*-_ ';

/**
 * Instantiates a hwdb match pattern into a concrete lookup string: '*' becomes 0-6 random characters, '?' one,
 * '[set]' a member of the set (or, sometimes, a non-member). Some results are mutated to make near misses.
 */
export function instantiate(pattern: string, rand: () => number): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      const n = Math.floor(rand() * 7);
      for (let k = 0; k < n; k++) out += ALPHABET[Math.floor(rand() * ALPHABET.length)];
    } else if (c === '?') {
      out += ALPHABET[Math.floor(rand() * ALPHABET.length)];
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) {
        out += c;
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const neg = body.startsWith('!') || body.startsWith('^');
      if (neg) body = body.slice(1);
      const members: string[] = [];
      for (let k = 0; k < body.length; k++) {
        if (body[k + 1] === '-' && k + 2 < body.length) {
          for (let x = body.charCodeAt(k); x <= body.charCodeAt(k + 2); x++) members.push(String.fromCharCode(x));
          k += 2;
        } else members.push(body[k]!);
      }
      if (neg || members.length === 0 || rand() < 0.1) out += ALPHABET[Math.floor(rand() * ALPHABET.length)];
      else out += members[Math.floor(rand() * members.length)];
      i = close;
    } else out += c;
  }
  const r = rand();
  if (r < 0.08 && out.length > 2) {
    const at = Math.floor(rand() * out.length);
    out = out.slice(0, at) + ALPHABET[Math.floor(rand() * ALPHABET.length)] + out.slice(at + 1);
  } else if (r < 0.12 && out.length > 2) out = out.slice(0, Math.floor(rand() * out.length));
  else if (r < 0.16) out += ALPHABET[Math.floor(rand() * ALPHABET.length)];
  return out;
}

/** Match lines of .hwdb files (not properties, comments or blank lines). */
export function matchLinesOf(files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    for (const line of readFileSync(f, 'latin1').split('\n')) {
      if (line === '' || line[0] === '#' || line[0] === ' ') continue;
      const t = line.replace(/#.*/, '').trimEnd();
      if (t) out.push(t);
    }
  }
  return out;
}

/** n lookup strings generated from a sample of the match patterns (deterministic for a seed). */
export function generateModaliases(patterns: string[], n: number, seed = 1): string[] {
  const rand = rng(seed);
  const out = new Set<string>();
  let guard = 0;
  while (out.size < n && guard++ < n * 20) {
    const p = patterns[Math.floor(rand() * patterns.length)]!;
    const m = instantiate(p, rand);
    if (m && !m.includes('\n') && !m.includes('\0')) out.add(Buffer.from(m, 'latin1').toString('utf8'));
  }
  return [...out];
}

/**
 * Runs `systemd-hwdb --root=ROOT query M` for every M (in one shell loop, not one spawn per query from node)
 * and returns each output.
 */
export function systemdQueryAll(systemdHwdb: string, root: string, modaliases: string[], tmp: string): string[] {
  const list = join(tmp, `queries-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(list, modaliases.join('\n') + '\n');
  const script = 'while IFS= read -r m; do printf "\\036\\n"; "$0" --root="$1" query -- "$m"; done < "$2"';
  const out = execFileSync('bash', ['-c', script, systemdHwdb, root, list], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const parts = out.split('\x1e\n');
  parts.shift();
  if (parts.length !== modaliases.length) throw new Error(`expected ${modaliases.length} answers, got ${parts.length}`);
  return parts;
}

/** Formats a lookup result the way `systemd-hwdb query` prints it. */
export function formatProps(props: Map<string, string>): string {
  let s = '';
  for (const [k, v] of props) s += `${k}=${v}\n`;
  return s;
}

/**
 * Every node of a hwdb.bin trie, depth first, as one line: its full path (the match text leading to it), its
 * number of children, and its values (key=value, and the source file:line:priority in v2 files). Two files
 * with the same lines hold the same trie, whatever the layout of their string sections.
 */
export function trieDump(buf: Buffer): string[] {
  const u64 = (at: number) => Number(buf.readBigUInt64LE(at));
  const str = (at: number) => buf.toString('latin1', at, buf.indexOf(0, at));
  const nodeSize = u64(32);
  const childSize = u64(40);
  const valueSize = u64(48);
  const out: string[] = [];
  const walk = (off: number, path: string) => {
    const full = path + str(u64(off));
    const nchild = buf[off + 8]!;
    let line = `${JSON.stringify(full)} children=${nchild}`;
    let v = off + nodeSize + nchild * childSize;
    for (let i = 0; i < u64(off + 16); i++, v += valueSize) {
      line += ` ${JSON.stringify(str(u64(v)))}=${JSON.stringify(str(u64(v + 8)))}`;
      if (valueSize >= 32) line += `@${str(u64(v + 16))}:${buf.readUInt32LE(v + 24)}:${buf.readUInt16LE(v + 28)}`;
    }
    out.push(line);
    for (let i = 0; i < nchild; i++) {
      const c = off + nodeSize + i * childSize;
      walk(u64(c + 8), full + String.fromCharCode(buf[c]!));
    }
  };
  walk(u64(56), '');
  return out;
}

/** libsystemd's sd-hwdb on one hwdb.bin, through koffi: lookups give the (key, value) pairs in sd-hwdb's order. */
export interface SdHwdb {
  lookup(modalias: string): [string, string][];
  /** Counts the properties without decoding them (for benchmarks). */
  count(modalias: string): number;
}

/**
 * Opens hwdb.bin with the machine's libsystemd (sd_hwdb_new_from_path, systemd >= 252). Throws with a clear
 * message when libsystemd.so.0 or the call is missing (Debian: apt-get install libsystemd0).
 */
export async function openSdHwdb(path: string): Promise<SdHwdb> {
  const koffi = (await import('koffi')).default;
  let lib;
  try {
    lib = koffi.load('libsystemd.so.0');
  } catch (e) {
    throw new Error(`libsystemd.so.0 is needed to compare with sd-hwdb (apt-get install libsystemd0): ${(e as Error).message}`);
  }
  const newFromPath = lib.func('int sd_hwdb_new_from_path(const char *path, _Out_ void **ret)');
  const seek = lib.func('int sd_hwdb_seek(void *hwdb, const char *modalias)');
  const enumerate = lib.func('int sd_hwdb_enumerate(void *hwdb, _Out_ const char **key, _Out_ const char **value)');
  const out: unknown[] = [null];
  const r = newFromPath(path, out) as number;
  if (r < 0) throw new Error(`sd_hwdb_new_from_path(${path}) failed: ${r}`);
  const h = out[0];
  const k: unknown[] = [null];
  const v: unknown[] = [null];
  return {
    lookup(m) {
      const res: [string, string][] = [];
      if ((seek(h, m) as number) < 0) return res;
      while ((enumerate(h, k, v) as number) > 0) res.push([k[0] as string, v[0] as string]);
      return res;
    },
    count(m) {
      seek(h, m);
      let n = 0;
      while ((enumerate(h, k, v) as number) > 0) n++;
      return n;
    },
  };
}
