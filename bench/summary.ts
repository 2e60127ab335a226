// Medians and spreads of a bench's samples (non-finite samples, a failed run's, left out).

/** The median of the finite values (the mean of the middle two for an even count); NaN for none. */
export const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

/** "min-max" of the finite values, each written by `f`; empty for none. */
export const spread = (xs: number[], f: (n: number) => string): string => {
  const s = xs.filter(Number.isFinite);
  return s.length ? `${f(Math.min(...s))}-${f(Math.max(...s))}` : '';
};
