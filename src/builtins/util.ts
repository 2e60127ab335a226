// Small helpers shared by the builtins: sd-device look-ups that return undefined instead of throwing,
// a scanf-like number reader, and udev's string helpers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Device, deviceIfAny } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import { tryOr } from '../util/fs.js';

/** sd_device_new_from_subsystem_sysname, or undefined when there is no such device. */
export function deviceBySubsystemSysname(roots: Roots, subsystem: string, sysname: string): Device | undefined {
  return deviceIfAny(() => Device.fromSubsystemSysname(roots, subsystem, sysname));
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

// ------------------------------------------------------------------ udev's string helpers, on bytes
// sysfs strings are bytes, not necessarily UTF-8: these work on Buffers like the C code on char arrays.

/** The length of the valid UTF-8 character at buf[i] (1 for ASCII), or 0 when it is not one (utf8_encoded_valid_unichar). */
export function utf8CharLength(buf: Uint8Array, i: number): number {
  const c = buf[i]!;
  const len = c < 0x80 ? 1 : (c & 0xe0) === 0xc0 ? 2 : (c & 0xf0) === 0xe0 ? 3 : (c & 0xf8) === 0xf0 ? 4 : (c & 0xfc) === 0xf8 ? 5 : (c & 0xfe) === 0xfc ? 6 : 0;
  if (len <= 1) return len;
  if (i + len > buf.length) return 0;
  for (let k = 0; k < len; k++) if ((buf[i + k]! & 0x80) !== 0x80) return 0;
  let u = c & [0, 0, 0x1f, 0x0f, 0x07, 0x03, 0x01][len]!;
  for (let k = 1; k < len; k++) {
    const b = buf[i + k]!;
    if ((b & 0xc0) !== 0x80) return 0;
    u = u * 64 + (b & 0x3f);
  }
  const encLen = u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : u < 0x200000 ? 4 : u < 0x4000000 ? 5 : 6;
  if (encLen !== len) return 0; // overlong
  if (u >= 0x110000 || (u >= 0xd800 && u <= 0xdfff) || (u >= 0xfdd0 && u <= 0xfdef) || (u & 0xfffe) === 0xfffe) return 0;
  return len;
}

/** [0-9A-Za-z] and #+-.:=@_ (allow_listed_char_for_devnode), plus the bytes of `allow`. */
function devnodeChar(b: number, allow?: string): boolean {
  if ((b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)) return true;
  if (b !== 0 && '#+-.:=@_'.includes(String.fromCharCode(b))) return true;
  return allow !== undefined && b < 0x80 && b !== 0 && allow.includes(String.fromCharCode(b));
}

const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/** A C string: the bytes up to the first NUL. */
export function cString(b: Uint8Array): Buffer {
  const z = b.indexOf(0);
  return Buffer.from(z < 0 ? b : b.subarray(0, z));
}

/**
 * encode_devnode_name: valid multi-byte UTF-8 and allowed characters are kept, every other byte (and '\')
 * becomes \xNN. `size` is the C buffer size including the NUL; what does not fit is cut off.
 */
export function encodeDevnodeName(s: Uint8Array, size = 256): string {
  const out: number[] = [];
  for (let i = 0; i < s.length && s[i] !== 0; i++) {
    const n = utf8CharLength(s, i);
    if (n > 1) {
      if (size - out.length < n) break;
      for (let k = 0; k < n; k++) out.push(s[i + k]!);
      i += n - 1;
    } else if (s[i] === 0x5c || !devnodeChar(s[i]!)) {
      if (size - out.length < 4) break;
      for (const ch of Buffer.from(`\\x${s[i]!.toString(16).padStart(2, '0')}`)) out.push(ch);
    } else {
      if (size - out.length < 1) break;
      out.push(s[i]!);
    }
  }
  if (out.length >= size) out.length = size - 1;
  return Buffer.from(out).toString('utf8');
}

/**
 * udev_replace_whitespace with the C code's limit `len`: leading white space is skipped, runs of white space
 * inside become one '_', trailing white space is dropped; at most `len` input bytes are read and `len` written.
 */
export function replaceWhitespace(s: Uint8Array, len: number): Buffer {
  const out: number[] = [];
  let i = 0;
  while (i < s.length && (s[i] === 0x20 || s[i] === 0x09 || s[i] === 0x0a || s[i] === 0x0d)) i++;
  let space = false;
  for (; out.length < len && i < len && i < s.length && s[i] !== 0; i++) {
    const b = s[i]!;
    if (isSpace(b)) {
      space = true;
      continue;
    }
    if (space) {
      if (out.length + 1 >= len) break;
      out.push(0x5f);
      space = false;
    }
    out.push(b);
  }
  return Buffer.from(out);
}

/**
 * udev_replace_chars: keeps allowed characters (plus `allow`), "\x" escapes and valid multi-byte UTF-8;
 * white space becomes ' ' when `allow` has a space; every other byte becomes '_'.
 */
export function replaceCharsBytes(s: Uint8Array, allow?: string): Buffer {
  const out = Buffer.from(s);
  for (let i = 0; i < out.length && out[i] !== 0; ) {
    if (devnodeChar(out[i]!, allow)) {
      i++;
      continue;
    }
    if (out[i] === 0x5c && out[i + 1] === 0x78) {
      i += 2;
      continue;
    }
    const n = utf8CharLength(out, i);
    if (n > 1) {
      i += n;
      continue;
    }
    out[i] = isSpace(out[i]!) && allow?.includes(' ') ? 0x20 : 0x5f;
    i++;
  }
  return out;
}

/** replace_whitespace then replace_chars(NULL), the usual pair for IDs, as a string. */
export function sanitizeId(s: Uint8Array, len: number): string {
  return replaceCharsBytes(replaceWhitespace(s, len)).toString('utf8');
}

/** A sysfs attribute as the raw bytes sd-device returns (trailing newlines dropped), or undefined. */
export function sysattrBytes(dev: Device, name: string): Buffer | undefined {
  const v = dev.sysattr(name);
  if (v === undefined) return undefined;
  // read again as bytes; should that fail now (any errno, as sysfs), the value already read
  const b = tryOr(() => readFileSync(join(dev.syspath, name)), undefined);
  if (!b) return Buffer.from(v);
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x0a || b[end - 1] === 0x0d)) end--;
  return b.subarray(0, end);
}
