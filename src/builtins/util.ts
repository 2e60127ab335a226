// Small helpers shared by the builtins: sd-device look-ups that return undefined instead of throwing,
// a scanf-like number reader, and udev's string helpers.
import koffi from 'koffi';
import { Device } from '../device/device.js';
import type { Roots } from '../device/roots.js';

/** sd_device_new_from_subsystem_sysname, or undefined when there is no such device. */
export function deviceBySubsystemSysname(roots: Roots, subsystem: string, sysname: string): Device | undefined {
  try {
    return Device.fromSubsystemSysname(roots, subsystem, sysname);
  } catch {
    return undefined;
  }
}

/**
 * Reads numbers the way sscanf() does with a format made of literal characters and %d / %u / %*d / %*u
 * conversions: each conversion skips leading white space, takes an optional sign and at least one digit;
 * literal characters must match exactly; trailing input is ignored. Returns the assigned values in order
 * (fewer than expected when the input stops matching, like sscanf's return count). %u wraps negative
 * values to unsigned 32-bit, %d keeps them signed.
 */
export function scanNumbers(input: string, format: string): number[] {
  const out: number[] = [];
  let i = 0;
  let f = 0;
  while (f < format.length) {
    const fc = format[f]!;
    if (fc !== '%') {
      if (input[i] !== fc) return out;
      i++;
      f++;
      continue;
    }
    let skip = false;
    f++;
    if (format[f] === '*') {
      skip = true;
      f++;
    }
    const conv = format[f++];
    if (conv !== 'd' && conv !== 'u') throw new Error(`scanNumbers: unsupported conversion %${conv ?? ''}`);
    while (i < input.length && /\s/.test(input[i]!)) i++;
    let sign = 1;
    if (input[i] === '+' || input[i] === '-') {
      if (input[i] === '-') sign = -1;
      i++;
    }
    const start = i;
    while (i < input.length && input.charCodeAt(i) >= 48 && input.charCodeAt(i) <= 57) i++;
    if (i === start) return out;
    const v = sign * Number(input.slice(start, i));
    if (!skip) out.push(conv === 'u' ? v >>> 0 : v | 0);
  }
  return out;
}

/** Unsigned decimal parse as safe_atou/safe_atolu (digits only, within max), or undefined. */
export function parseUnsigned(s: string, max = 0xffffffff): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isSafeInteger(v) && v <= max ? v : undefined;
}

let ioctlFn: ((fd: number, request: number, arg: Buffer) => number) | undefined;

/** ioctl(fd, request, buffer) through libc; returns the C result (-1 on error). */
export function ioctl(fd: number, request: number, arg: Buffer): number {
  if (!ioctlFn) {
    const libc = koffi.load('libc.so.6');
    ioctlFn = libc.func('int ioctl(int fd, unsigned long request, void *arg)') as unknown as typeof ioctlFn;
  }
  return ioctlFn!(fd, request, arg);
}
