// JSON as udevadm prints it (systemd's sd_json_variant_dump()): --json=short is one line, --json=pretty is
// indented with tabs and has " : " between a key and its value; JSON-SEQ puts an RS (0x1e) before each object.
export type JsonMode = 'short' | 'pretty';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function dump(v: Json, mode: JsonMode, indent: string): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = indent + '\t';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (mode === 'short') return `[${v.map((x) => dump(x, mode, inner)).join(',')}]`;
    return `[\n${v.map((x) => inner + dump(x, mode, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(v);
  if (entries.length === 0) return '{}';
  if (mode === 'short') return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${dump(x, mode, inner)}`).join(',')}}`;
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)} : ${dump(x, mode, inner)}`).join(',\n')}\n${indent}}`;
}

/** One JSON document and its newline; `seq`: prefixed by RS (RFC 7464). */
export function formatJson(v: Json, mode: JsonMode, seq = false): string {
  return `${seq ? '\x1e' : ''}${dump(v, mode, '')}\n`;
}

/** Parses --json=MODE as systemd does: short, pretty, or off (undefined). */
export function jsonMode(arg: string): JsonMode | 'off' | undefined {
  return arg === 'short' || arg === 'pretty' || arg === 'off' ? arg : undefined;
}
