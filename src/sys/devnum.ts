// Linux device numbers (dev_t): glibc's makedev(), major() and minor().

export interface DevNum {
  major: number;
  minor: number;
}

/** Splits a Linux dev_t (as Node reports it in stat.rdev) into major and minor. */
export function splitDevT(rdev: number | bigint): DevNum {
  const v = BigInt(rdev);
  const major = Number(((v >> 8n) & 0xfffn) | ((v >> 32n) & ~0xfffn));
  const minor = Number((v & 0xffn) | ((v >> 12n) & ~0xffn));
  return { major, minor };
}

/** Builds a Linux dev_t from major and minor. */
export function makeDevT(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}
