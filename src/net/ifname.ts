// Interface names as systemd's ifname_valid_full() accepts them.

export const IFNAMSIZ = 16;
export const ALTIFNAMSIZ = 128;

/** A valid name: 1..15 bytes (127 for an alternative name), printable ASCII without ':', '/', '%', not all digits, not "." "..", "all", "default". */
export function ifnameValid(p: string | undefined, opts: { alternative?: boolean } = {}): boolean {
  if (!p) return false;
  if (Buffer.byteLength(p) >= (opts.alternative ? ALTIFNAMSIZ : IFNAMSIZ)) return false;
  if (p === '.' || p === '..' || p === 'all' || p === 'default') return false;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c >= 127 || c <= 32 || c === 0x3a || c === 0x2f || c === 0x25) return false;
  }
  return !/^\d+$/.test(p);
}
