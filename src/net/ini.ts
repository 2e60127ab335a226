// systemd's configuration file syntax (conf-parser.c) as .link files use it: [Section] headers, Key=Value
// assignments, '#' and ';' comments, a trailing backslash continues a line. Every problem is a diagnostic with
// file:line; like systemd, an unknown section or key is skipped with a warning and the rest of the file applies,
// while a malformed section header makes the whole file unusable.

export interface Diagnostic {
  file: string;
  line: number;
  severity: 'warning' | 'error';
  message: string;
}

export const formatDiagnostic = (d: Diagnostic) => `${d.file}:${d.line}: ${d.message}`;

export interface Assignment {
  file: string;
  line: number;
  section: string;
  key: string;
  value: string;
}

/** What a file's parse gives: the assignments in order, diagnostics, and whether the file is usable at all. */
export interface IniFile {
  assignments: Assignment[];
  diagnostics: Diagnostic[];
  /** false after a fatal error (a malformed section header, a line over 1 MiB): systemd ignores the file. */
  ok: boolean;
}

const LONG_LINE_MAX = 1024 * 1024;

/**
 * Parses one file's text. `sections` are the known section names; assignments in others are dropped with a
 * warning (X-* sections silently).
 */
export function parseIni(text: string, file: string, sections: readonly string[]): IniFile {
  const out: IniFile = { assignments: [], diagnostics: [], ok: true };
  const warn = (line: number, message: string) => {
    out.diagnostics.push({ file, line, severity: 'warning', message });
  };
  const fail = (line: number, message: string) => {
    out.diagnostics.push({ file, line, severity: 'error', message });
    out.ok = false;
  };
  if (text.startsWith('\ufeff')) text = text.slice(1);
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  let section: string | undefined;
  let sectionIgnored = false;
  let continuation: string | undefined;

  const parseLine = (lineNo: number, raw: string): void => {
    const l = raw.trim();
    if (l === '') return;
    if (l.includes('\ufffd')) return warn(lineNo, 'invalid UTF-8, ignoring line');
    if (l.startsWith('[')) {
      if (!l.endsWith(']')) return fail(lineNo, `invalid section header '${l}'`);
      const n = l.slice(1, -1);
      if (/[\x00-\x1f\x7f]/.test(n)) return fail(lineNo, `bad characters in section header '${l}'`);
      if (!sections.includes(n)) {
        if (!n.startsWith('X-')) warn(lineNo, `unknown section '${n}', ignoring`);
        section = undefined;
        sectionIgnored = true;
      } else {
        section = n;
        sectionIgnored = false;
      }
      return;
    }
    if (section === undefined) {
      if (!sectionIgnored) warn(lineNo, 'assignment outside of a section, ignoring');
      return;
    }
    const eq = l.indexOf('=');
    if (eq < 0) return warn(lineNo, "missing '=', ignoring line");
    if (eq === 0) return warn(lineNo, "missing key name before '=', ignoring line");
    out.assignments.push({ file, line: lineNo, section, key: l.slice(0, eq).trim(), value: l.slice(eq + 1).trim() });
  };

  let lineNo = 0;
  for (const buf of lines) {
    lineNo++;
    if (!out.ok) break;
    if (buf.length > LONG_LINE_MAX) {
      fail(lineNo, 'line too long');
      break;
    }
    const lead = buf.replace(/^[ \t\n\r]+/, '');
    if (lead !== '' && (lead[0] === '#' || lead[0] === ';')) continue;
    let p = continuation !== undefined ? continuation + buf : buf;
    if (p.length > LONG_LINE_MAX) {
      fail(lineNo, 'continuation line too long');
      break;
    }
    // an odd backslash at the end continues the line (it becomes a space)
    let escaped = false;
    for (const ch of p) escaped = escaped ? false : ch === '\\';
    if (escaped) {
      continuation = p.slice(0, -1) + ' ';
      continue;
    }
    continuation = undefined;
    parseLine(lineNo, p);
  }
  if (continuation !== undefined && out.ok) parseLine(lineNo + 1, continuation);
  return out;
}
