// Hardware (MAC) addresses as systemd's parse_hw_addr() reads them and udev prints them.

/** parse_hw_addr: bytes as hex pairs separated by ':' or '-' (or "xxxx.xxxx.xxxx"), at most 32 bytes. */
export function parseHwAddr(s: string): number[] | undefined {
  let parts: string[];
  if (/^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4})+$/.test(s)) parts = s.split('.').flatMap((p) => [p.slice(0, 2), p.slice(2)]);
  else parts = s.split(/[:-]/);
  if (parts.length === 0 || parts.length > 32 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) return undefined;
  return parts.map((p) => parseInt(p, 16));
}

/** aa:bb:cc:... in lower case. */
export function formatHwAddr(b: ArrayLike<number>): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export const sameHwAddr = (a: ArrayLike<number> | undefined, b: ArrayLike<number> | undefined): boolean =>
  (a?.length ?? 0) === (b?.length ?? 0) && Array.from(a ?? []).every((x, i) => x === b![i]);

export const isNullAddr = (b: ArrayLike<number>) => Array.from(b).every((x) => x === 0);
export const isBroadcastAddr = (b: ArrayLike<number>) => Array.from(b).every((x) => x === 0xff);
