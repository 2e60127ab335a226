// Time spans as udevadm reads them (systemd's parse_sec(), systemd.time(7)): "5", "1.5", "500ms", "1min 30s",
// "2h", "infinity" (a bare number is seconds), and as it prints them (format_timespan()).
import { UsageError } from './common.js';

const UNITS: readonly [string, number][] = [
  // seconds per unit, in systemd's lookup order (the first prefix that matches wins)
  ['seconds', 1],
  ['second', 1],
  ['sec', 1],
  ['s', 1],
  ['minutes', 60],
  ['minute', 60],
  ['min', 60],
  ['months', 2629800],
  ['month', 2629800],
  ['M', 2629800],
  ['msec', 1e-3],
  ['ms', 1e-3],
  ['m', 60],
  ['hours', 3600],
  ['hour', 3600],
  ['hr', 3600],
  ['h', 3600],
  ['days', 86400],
  ['day', 86400],
  ['d', 86400],
  ['weeks', 604800],
  ['week', 604800],
  ['w', 604800],
  ['years', 31557600],
  ['year', 31557600],
  ['y', 31557600],
  ['usec', 1e-6],
  ['us', 1e-6],
  ['μs', 1e-6],
  ['µs', 1e-6],
];

const WS = /^[ \t\n\r]*/;

/** Seconds (Infinity for "infinity"), or undefined when `text` is not a time span. */
export function parseSec(text: string): number | undefined {
  let s = text.trim();
  if (s === 'infinity') return Infinity;
  if (s === '') return undefined;
  let total = 0;
  while (s !== '') {
    const m = /^\+?(\d*)(?:\.(\d*))?/.exec(s)!;
    if (m[1] === '' && !m[2]) return undefined; // also "-5": systemd refuses negative spans
    s = s.slice(m[0].length).replace(WS, '');
    const n = Number(`${m[1] || '0'}.${m[2] ?? ''}0`);
    const unit = UNITS.find(([u]) => s.startsWith(u));
    if (unit) s = s.slice(unit[0].length);
    total += n * (unit ? unit[1] : 1);
    s = s.replace(WS, '');
  }
  return total;
}

const SPANS: readonly [string, number][] = [
  ['y', 31557600e6], ['month', 2629800e6], ['w', 604800e6], ['d', 86400e6], ['h', 3600e6], ['min', 60e6], ['s', 1e6], ['ms', 1e3], ['us', 1],
];

/** systemd's format_timespan() at microsecond accuracy: "1min 4.999665s", "499.647ms". */
export function formatTimespan(us: number): string {
  let t = Math.max(0, Math.round(us));
  if (t === 0) return '0';
  const out: string[] = [];
  for (const [suffix, unit] of SPANS) {
    if (t === 0) break;
    if (t < unit) continue;
    const a = Math.floor(t / unit);
    const b = t % unit;
    const digits = Math.round(Math.log10(unit));
    if (t < 60e6 && b > 0 && digits > 0) {
      out.push(`${a}.${String(b).padStart(digits, '0')}${suffix}`);
      break;
    }
    out.push(`${a}${suffix}`);
    t = b;
  }
  return out.join(' ');
}

/** A --timeout-like option's seconds, read as systemd reads time spans; a usage error names the flag. */
export function parseSeconds(value: string, flag: string): number {
  const s = parseSec(value);
  if (s === undefined) throw new UsageError(`invalid ${flag} value '${value}': expected a time span (seconds, or with a unit: 500ms, 2min)`);
  return Math.min(s, 2 ** 31 / 1000);
}
