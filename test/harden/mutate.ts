// Seeded mutations of valid messages, for the protocol fuzz tests (fuzz.test.ts): bit flips, byte changes,
// insertions, deletions, truncation, NULs, '=' and '\n' where they hurt, splices of two inputs, pure noise.
import { prng } from '../helpers/prng.js';

/** Inputs per fuzz target: FUZZ_ITERATIONS for longer runs (default 20,000). */
export const FUZZ_ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 20_000);

export interface Mutator {
  /** A mutation of one of `seeds` (or noise), at most `max` bytes. */
  next(seeds: readonly Buffer[], max: number): Buffer;
  int(n: number): number;
}

const SPECIAL = [0, 0x3d /* = */, 0x0a, 0x40 /* @ */, 0x2f /* / */, 0xff, 0x80, 0x7f, 0x20, 0x2e /* . */];

export function mutator(seed: number): Mutator {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const byte = () => (rnd() < 0.5 ? SPECIAL[int(SPECIAL.length)]! : int(256));
  const next = (seeds: readonly Buffer[], max: number): Buffer => {
    if (rnd() < 0.05) return Buffer.from(Array.from({ length: int(max + 1) }, byte));
    let b = Buffer.from(seeds[int(seeds.length)]!);
    for (let k = 1 + int(4); k > 0; k--) {
      const at = int(b.length + 1);
      switch (int(8)) {
        case 0:
          if (b.length) b[at % b.length]! ^= 1 << int(8);
          break;
        case 1:
          if (b.length) b[at % b.length] = byte();
          break;
        case 2:
          b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(8) }, byte)), b.subarray(at)]);
          break;
        case 3:
          b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(16)))]);
          break;
        case 4:
          b = b.subarray(0, at);
          break;
        case 5: {
          const other = seeds[int(seeds.length)]!;
          b = Buffer.concat([b.subarray(0, at), other.subarray(int(other.length + 1))]);
          break;
        }
        case 6:
          // a field repeated: long values, many properties
          b = Buffer.concat([b.subarray(0, at), Buffer.alloc(int(2) ? int(64) : int(max), b.length ? b[at % b.length]! : 0x41), b.subarray(at)]);
          break;
        default:
          // a 32-bit field (offsets, lengths, magic, type) set to an edge value
          if (b.length >= 4) b.writeUInt32LE([0, 1, 0xffffffff, 0x7fffffff, 0x80000000, b.length, int(1 << 16)][int(7)]!, int(b.length - 3));
      }
    }
    return b.length > max ? b.subarray(0, max) : b;
  };
  return { next, int };
}
