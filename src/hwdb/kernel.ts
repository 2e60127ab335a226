// Loads the hwdb kernel: wasm/kernel.ts (AssemblyScript), compiled to WebAssembly by scripts/build-kernel.mjs
// and embedded in src/generated/hwdb-kernel.js. Each HwdbSources gets its own instance (its own memory).
import { wasm } from '../generated/hwdb-kernel.js';

// The few WebAssembly JS API types used here (TypeScript's ES libraries leave them to the DOM library).
declare namespace WebAssembly {
  interface Memory {
    readonly buffer: ArrayBuffer;
  }
  interface Global {
    value: number;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: object);
    readonly exports: Record<string, unknown>;
  }
}

type Fn0 = () => number;
type Fn1 = (i: number) => number;

/** The kernel's exports (see wasm/kernel.ts). Addresses are byte offsets into memory. */
export interface Kernel {
  memory: WebAssembly.Memory;
  alloc(n: number): number;
  parse(file: number, ptr: number, len: number): void;
  compile(v2: number, fileNames: number, nfiles: number): number;
  matchLines: WebAssembly.Global;
  propertyLines: WebAssembly.Global;
  records: WebAssembly.Global;
  nodes: WebAssembly.Global;
  children: WebAssembly.Global;
  values: WebAssembly.Global;
  matchCount: Fn0;
  matchStart: Fn1;
  matchLen: Fn1;
  slotCount: Fn0;
  slotMatch: Fn1;
  slotKey: Fn1;
  slotValueStart: Fn1;
  slotValueEnd: Fn1;
  slotFile: Fn1;
  slotLine: Fn1;
  keyStart: Fn1;
  keyLen: Fn1;
  diagCount: Fn0;
  diagKind: Fn1;
  diagFile: Fn1;
  diagLine: Fn1;
  diagStart: Fn1;
  diagEnd: Fn1;
  outPtr: Fn0;
  outSize: Fn0;
  poolPtr: Fn0;
  poolSize: Fn0;
}

let module: WebAssembly.Module | undefined;

export function instantiateKernel(): Kernel {
  if (typeof WebAssembly === 'undefined') throw new Error('compiling the hwdb needs WebAssembly, which this node hides (--no-expose-wasm)');
  module ??= new WebAssembly.Module(Buffer.from(wasm, 'base64'));
  const imports = {
    env: {
      // Called by the kernel's runtime when memory cannot grow (the only way it stops).
      abort(_msg: number, _file: number, line: number, column: number): never {
        throw new Error(`hwdb kernel aborted (out of memory?) at kernel.ts:${line}:${column}`);
      },
    },
  };
  return new WebAssembly.Instance(module, imports).exports as unknown as Kernel;
}
