// The shape of src/: every module imports only from its own layer or the layers below it, and no two modules
// import each other, directly or around a cycle. Imports are read with TypeScript's own scanner (static,
// type-only and dynamic imports alike).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { REPO } from '../helpers/reference.js';

const SRC = join(REPO, 'src');

/**
 * The layers, lowest first: a folder of src/ (or a file at its top). A module may import from its own layer and
 * from any layer below; never from one above.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['util', 'generated'], // pure helpers, and the code npm run build generates
  ['sys'], // the native layer: libc, libblkid, libkmod through koffi
  ['log.ts'],
  ['config', 'version.ts'],
  ['device'], // the device model over sysfs, the udev database
  ['hwdb'],
  ['netlink'],
  ['net'], // network interfaces: naming schemes, .link files, rtnetlink
  ['builtins'],
  ['rules'], // the pure core: parse, compile, execute
  ['event'], // one event: rules, then apply
  ['units'],
  ['stats', 'preview'], // cost accounting of rules and events; a rules set's impact in test mode
  ['export'], // metrics and node-feature-discovery files
  ['daemon'],
  ['devctl'],
  ['cli'],
];

/**
 * Import cycles that another branch removes, as [importer, imported] of one edge of the cycle. An entry that no
 * longer matches a cycle fails the test, so that it is removed with the cycle.
 */
const KNOWN_CYCLES: readonly (readonly [string, string])[] = [];

/** Every module of src/ (TypeScript and the generated JavaScript), relative to src/, without the AssemblyScript. */
function modules(dir = SRC): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (relative(SRC, p) !== join('hwdb', 'wasm')) out.push(...modules(p));
    } else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(relative(SRC, p));
  }
  return out.sort();
}

/** The module names `file` imports, as written. */
function specifiersOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** The modules of src/ that `file` imports. */
function importsOf(file: string, all: Set<string>): string[] {
  const out: string[] = [];
  for (const fileName of specifiersOf(file)) {
    if (!fileName.startsWith('.')) continue;
    const target = relative(SRC, resolve(SRC, dirname(file), fileName));
    const found = [target, target.replace(/\.js$/, '.ts')].find((t) => all.has(t));
    if (!found) throw new Error(`${file}: import '${fileName}' names no module of src/`);
    out.push(found);
  }
  return out;
}

function layerOf(file: string): number {
  const top = file.includes('/') ? file.slice(0, file.indexOf('/')) : file;
  const i = LAYERS.findIndex((l) => l.includes(top));
  if (i < 0) throw new Error(`src/${file} belongs to no layer: add '${top}' to LAYERS in test/structure/layers.test.ts`);
  return i;
}

/** Strongly connected components with more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('the layering of src/', () => {
  const files = modules();
  const all = new Set(files);
  const graph = new Map(files.map((f) => [f, importsOf(f, all)]));

  it('puts every module in a layer', () => {
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) layerOf(f);
  });

  it('has no import from a layer above', () => {
    const upward: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) if (layerOf(to) > layerOf(from)) upward.push(`${from} → ${to}`);
    }
    expect(upward).toEqual([]);
  });

  it('has no import cycle', () => {
    const known = (scc: string[]) => KNOWN_CYCLES.some(([a, b]) => scc.includes(a) && scc.includes(b) && graph.get(a)!.includes(b));
    const found = cycles(graph);
    expect(found.filter((c) => !known(c))).toEqual([]);
    // a known cycle that is gone must leave the list
    for (const [a, b] of KNOWN_CYCLES) expect(found.some((c) => c.includes(a) && c.includes(b)), `${a} ↔ ${b} is no cycle any more: remove it from KNOWN_CYCLES`).toBe(true);
  });

  it('calls C only through the native layer: koffi is loaded by src/sys/libc.ts alone, the rest of src/sys/ names only its types', () => {
    const naming = files.filter((f) => specifiersOf(f).includes('koffi'));
    expect(naming.filter((f) => !f.startsWith('sys/'))).toEqual([]);
    const text = (f: string) => readFileSync(join(SRC, f), 'utf8');
    expect(naming.filter((f) => f !== 'sys/libc.ts' && /^import (?!type )[^;]*'koffi';$/m.test(text(f)))).toEqual([]);
    // loaded on first use (test/build/native.test.ts), not imported
    expect(text('sys/libc.ts')).toContain("require('koffi')");
    expect(text('sys/libc.ts')).not.toMatch(/^import [^;]*'koffi';$/m);
  });

  it('catches an upward import and a cycle (the checks themselves)', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', []],
    ]);
    expect(cycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(layerOf('util/fs.ts')).toBeLessThan(layerOf('device/device.ts'));
    expect(() => layerOf('nowhere/x.ts')).toThrow(/belongs to no layer/);
  });
});
