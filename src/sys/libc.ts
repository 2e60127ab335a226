// The C library through koffi: loaded once, each function declared on its first call. errno is koffi's own
// (koffi.errno(): the value the last synchronous call left, saved by koffi before any JavaScript runs).
// Every libc call of devMaster goes through the modules of src/sys/; nothing else loads a C library.
import koffi from 'koffi';

/** A loaded C library. */
export type Library = ReturnType<typeof koffi.load>;

let lib: Library | undefined;

function load(): Library {
  return (lib ??= koffi.load('libc.so.6'));
}

/**
 * A libc function, declared on first use: `const close = libcFunction<(fd: number) => number>('int close(int)')`
 * then `close()(fd)`. The prototype is koffi's C-like syntax.
 */
export function libcFunction<F>(prototype: string): () => F {
  let f: F | undefined;
  return () => (f ??= load().func(prototype) as unknown as F);
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
  return koffi.errno();
}

/**
 * Loads a C library other than libc (libblkid, libkmod); a missing library is an Error naming the Debian package
 * that ships it.
 */
export function loadLibrary(soname: string, debianPackage: string): Library {
  try {
    return koffi.load(soname);
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
