// The C library through koffi. koffi itself is loaded on the first C call (or the first struct a call needs), not
// when a module of src/sys/ is imported: a one-shot command that makes no C call does not pay for it. Each libc
// function is declared on its first call, each struct or type on its first use (declared()). errno is koffi's own
// (koffi.errno(): the value the last synchronous call left, saved by koffi before any JavaScript runs).
// Every libc call of devMaster goes through the modules of src/sys/; nothing else loads koffi or a C library.
import { createRequire } from 'node:module';

// A lazy require (bundled by scripts/bundle.mjs: koffi's own file, loaded when first called).
const require = createRequire(import.meta.url);

export type Koffi = typeof import('koffi');
/** A loaded C library. */
export type Library = ReturnType<Koffi['load']>;

let ffi: Koffi | undefined;

/** koffi, loaded on first use. */
export function koffi(): Koffi {
  return (ffi ??= require('koffi') as Koffi);
}

/**
 * A value made with koffi on its first use, then kept: a struct, an array or a function type (declared once:
 * koffi refuses a second type of the same name), or a size. `const ucred = declared((k) => k.struct('ucred',
 * {...}))` then `ucred()`.
 */
export function declared<T>(make: (k: Koffi) => T): () => T {
  let v: T | undefined;
  return () => (v ??= make(koffi()));
}

let lib: Library | undefined;

function load(): Library {
  return (lib ??= koffi().load('libc.so.6'));
}

/**
 * A libc function, declared on first use: `const close = libcFunction<(fd: number) => number>('int close(int)')`
 * then `close()(fd)`. The prototype is koffi's C-like syntax; `types` are the declared() structs it names, declared
 * before it.
 */
export function libcFunction<F>(prototype: string, ...types: (() => unknown)[]): () => F {
  let f: F | undefined;
  return () => {
    if (f !== undefined) return f;
    for (const t of types) t();
    return (f = load().func(prototype) as unknown as F);
  };
}

/** A libc function whose async form runs it on koffi's thread pool (for calls that may block). */
export function libcAsyncFunction<A extends unknown[]>(prototype: string): () => (...args: A) => Promise<number> {
  const fn = libcFunction<{ async: (...a: [...A, (err: unknown, r: number) => void]) => void }>(prototype);
  return () =>
    (...args: A) =>
      new Promise<number>((resolve, reject) => fn().async(...args, (err, r) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(r))));
}

/** errno as the last synchronous C call left it. */
export function errno(): number {
  return koffi().errno();
}

/**
 * Loads a C library other than libc (libblkid, libkmod); a missing library is an Error naming the Debian package
 * that ships it.
 */
export function loadLibrary(soname: string, debianPackage: string): Library {
  try {
    return koffi().load(soname);
  } catch (e) {
    throw new Error(`cannot load ${soname} (the ${debianPackage} package): ${(e as Error).message}`);
  }
}

/** Declares a function of a library loaded with loadLibrary; undefined when the library lacks it. */
export function optionalFunction<F>(library: Library, prototype: string): F | undefined {
  try {
    return library.func(prototype) as unknown as F;
  } catch (e) {
    if (e instanceof Error && /cannot find function/i.test(e.message)) return undefined;
    throw e;
  }
}
