// sysMaster's unit file format, checked the way sysMaster reads it (sysmaster-online/sysmaster: the pest grammar
// libs/unit_parser/src/unit.pest, the UnitSection derive of libs/macros, the sections' entry tables in
// core/sysmaster/src/unit/rentry.rs, core/coms/service/src/rentry.rs and core/coms/socket/src/rentry.rs, value
// parsers of libs/unit_parser/src/config.rs, libs/basic/src/time_util.rs and core/libcore/src/exec/cmd.rs).
//
// sysMaster only warns about an unknown section or key, and silently falls back to the default when a typed value
// does not parse (Type=notfy is a simple service); TimeoutSec= that is not a plain number makes it panic. Here
// each of those is an error, so that a shipped unit means exactly what it says.

export interface UnitProblem {
  line: number;
  message: string;
}

export interface ParsedUnit {
  sections: Map<string, { key: string; value: string; line: number }[]>;
  problems: UnitProblem[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The grammar: NEWLINE* section+ EOI; section = "[" ident "]" NEWLINE entry+; entry = key "=" value NEWLINE+. */
export function parseSysmasterUnit(text: string): ParsedUnit {
  const sections = new Map<string, { key: string; value: string; line: number }[]>();
  const problems: UnitProblem[] = [];
  if (text.length > 0 && !text.endsWith('\n')) problems.push({ line: text.split('\n').length, message: 'the last line must end with a newline' });
  const lines = text.split('\n');
  let current: { key: string; value: string; line: number }[] | undefined;
  let currentName = '';
  let currentLine = 0;
  const closeSection = () => {
    if (current && current.length === 0) problems.push({ line: currentLine, message: `section [${currentName}] has no entry (the grammar wants at least one)` });
  };
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    // WHITESPACE is space, tab and \r; COMMENT runs from # or ; to the end of the line
    const raw = lines[i]!;
    const line = raw.replace(/^[ \t\r]+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[([^\]]*)\][ \t\r]*$/.exec(line);
    if (sec) {
      closeSection();
      if (!IDENT.test(sec[1]!)) problems.push({ line: n, message: `invalid section name [${sec[1]}]` });
      if (sections.has(sec[1]!)) problems.push({ line: n, message: `section [${sec[1]}] appears twice` });
      current = [];
      currentName = sec[1]!;
      currentLine = n;
      sections.set(currentName, current);
      continue;
    }
    if (!current) {
      problems.push({ line: n, message: 'an entry before the first section' });
      continue;
    }
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).replace(/[ \t\r]+$/, '');
    if (eq < 0 || !IDENT.test(key)) {
      problems.push({ line: n, message: `not a KEY=VALUE entry: ${raw}` });
      continue;
    }
    let value = line.slice(eq + 1).replace(/^[ \t\r]+/, '');
    // a backslash-newline continues the value on the next line
    while (value.endsWith('\\') && i + 1 < lines.length) value = value.slice(0, -1) + lines[++i]!;
    value = value.replace(/\r$/, '');
    if (value.includes('%')) problems.push({ line: n, message: `'%' starts a specifier sysMaster resolves: ${value}` });
    current.push({ key, value, line: n });
  }
  closeSection();
  if (sections.size === 0) problems.push({ line: 1, message: 'no section' });
  return { sections, problems };
}

type Check = (v: string) => string | undefined;

const isBool: Check = (v) => (['1', 'yes', 'true', 'on', '0', 'no', 'false', 'off'].includes(v) ? undefined : `'${v}' is not a boolean`);
const oneOf =
  (...allowed: string[]): Check =>
  (v) =>
    allowed.includes(v) ? undefined : `'${v}' is not one of ${allowed.join(', ')}`;
const uint: Check = (v) => (/^\d+$/.test(v) ? undefined : `'${v}' is not a plain unsigned number`);
const octal: Check = (v) => (/^[0-7]+$/.test(v) ? undefined : `'${v}' is not an octal mode`);
const text: Check = () => undefined;
const TIME_SUFFIXES = ['seconds', 'sec', 's', 'minutes', 'minute', 'min', 'months', 'month', 'M', 'msec', 'ms', 'm', 'hours', 'hour', 'hr', 'h', 'days', 'day', 'd', 'weeks', 'week', 'w', 'years', 'year', 'y', 'usec', 'us', 'µs'];
/** basic::time_util::parse_sec: "infinity", or numbers each with an optional unit ("3min", "5s 500ms", "2.5"). */
const seconds: Check = (v) => {
  const t = v.trim();
  if (t === 'infinity') return undefined;
  const unit = `(?:${TIME_SUFFIXES.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`;
  return new RegExp(`^(?:\\+?(?:\\d+(?:\\.\\d+)?|\\.\\d+)\\s*${unit}?\\s*)+$`).test(t) ? undefined : `'${v}' is not a time span`;
};
const unitNames: Check = (v) => {
  for (const u of v.split(/\s+/).filter(Boolean)) if (!/^[A-Za-z0-9:_.@\\-]+\.(service|socket|target|mount|timer|path|slice|scope|device)$/.test(u)) return `'${u}' is not a unit name`;
  return undefined;
};
const absPaths: Check = (v) => {
  for (const p of v.split(/\s+/).filter(Boolean)) if (!p.startsWith('/')) return `'${p}' is not an absolute path`;
  return undefined;
};
/** core::exec::cmd::parse_exec: prefixes - @ : + !, an absolute path, arguments; single quotes only; " ; " separates commands. */
const exec: Check = (v) => {
  if (v === '') return 'empty command';
  if (v.includes('"')) return `double quotes are not quoting for sysMaster: ${v}`;
  if ((v.split("'").length - 1) % 2 !== 0) return `unbalanced single quote: ${v}`;
  for (const cmd of v.split(/ ; /)) {
    const m = /^[-@:+!]*(\S+)/.exec(cmd.trimStart());
    if (!m || !m[1]!.startsWith('/')) return `'${cmd}' does not start with an absolute path`;
    if (m[1]!.length > 4096) return 'path too long';
  }
  return undefined;
};
const netlink: Check = (v) => (/^[a-z-]+ \d+$/.test(v) ? undefined : `'${v}' is not "FAMILY GROUP"`);

const UNIT: Record<string, Check> = {
  Description: text, Documentation: text, IgnoreOnIsolate: isBool, DefaultDependencies: isBool, RefuseManualStart: isBool, RefuseManualStop: isBool,
  OnFailureJobMode: text, OnSuccessJobMode: text, Wants: unitNames, Requires: unitNames, BindsTo: unitNames, Requisite: unitNames, PartOf: unitNames,
  OnFailure: unitNames, OnSuccess: unitNames, Before: unitNames, After: unitNames, Conflicts: unitNames,
  ConditionACPower: isBool, ConditionCapability: text, ConditionDirectoryNotEmpty: text, ConditionFileIsExecutable: text, ConditionFileNotEmpty: text,
  ConditionFirstBoot: isBool, ConditionKernelCommandLine: text, ConditionNeedsUpdate: text, ConditionPathExists: text, ConditionPathExistsGlob: text,
  ConditionPathIsDirectory: text, ConditionPathIsMountPoint: text, ConditionPathIsReadWrite: text, ConditionPathIsSymbolicLink: text,
  ConditionSecurity: text, ConditionUser: text, AssertPathExists: text, StartLimitInterval: uint, StartLimitIntervalSec: uint, StartLimitBurst: uint,
  SuccessAction: text, FailureAction: text, StartLimitAction: text, JobTimeoutSec: uint, JobTimeoutAction: text,
};
const INSTALL: Record<string, Check> = { Alias: unitNames, WantedBy: unitNames, RequiredBy: unitNames, Also: unitNames };
const SERVICE: Record<string, Check> = {
  Type: oneOf('simple', 'forking', 'oneshot', 'notify'), ExecStart: exec, ExecStartPre: exec, ExecStartPost: exec, ExecStop: exec, ExecStopPost: exec,
  ExecReload: exec, ExecCondition: exec, Sockets: unitNames, WatchdogSec: seconds, PIDFile: absPaths, RemainAfterExit: isBool,
  NotifyAccess: oneOf('none', 'all', 'main', 'exec'), NonBlocking: isBool, Restart: oneOf('no', 'on-success', 'on-failure', 'on-watchdog', 'on-abnormal', 'on-abort', 'always'),
  RestartPreventExitStatus: text, RestartSec: seconds, TimeoutSec: uint, TimeoutStartSec: uint, TimeoutStopSec: uint, User: text, Group: text, UMask: octal,
  RootDirectory: absPaths, WorkingDirectory: text, StateDirectory: text, RuntimeDirectory: text, RuntimeDirectoryPreserve: text, LimitCORE: text,
  LimitNOFILE: text, LimitNPROC: text, Environment: text, EnvironmentFile: text, SELinuxContext: text, KillMode: oneOf('control-group', 'process', 'mixed'),
  KillSignal: text,
};
const SOCKET: Record<string, Check> = {
  ExecStartPre: exec, ExecStartChown: exec, ExecStartPost: exec, ExecStopPre: exec, ExecStopPost: exec, ListenStream: absPaths, ListenDatagram: absPaths,
  ListenNetlink: netlink, ListenSequentialPacket: absPaths, ListenFIFO: absPaths, ListenSpecial: absPaths, Accept: isBool, FlushPending: isBool,
  Service: unitNames, ReceiveBuffer: uint, SendBuffer: uint, PassCredentials: isBool, PassPacketInfo: isBool, KeepAlive: isBool, KeepAliveTimeSec: uint,
  KeepAliveIntervalSec: uint, KeepAliveProbes: uint, Broadcast: isBool, RemoveOnStop: isBool, Symlinks: absPaths, PassSecurity: isBool, SocketMode: octal,
  SocketUser: text, SocketGroup: text, KillMode: oneOf('control-group', 'process', 'mixed'), KillSignal: text,
};

/** The sections and entries sysMaster knows for a unit named `name` (by its suffix). */
export function checkSysmasterUnit(name: string, textContent: string): UnitProblem[] {
  const { sections, problems } = parseSysmasterUnit(textContent);
  const type = name.slice(name.lastIndexOf('.') + 1);
  const tables: Record<string, Record<string, Check>> = { Unit: UNIT, Install: INSTALL, ...(type === 'service' ? { Service: SERVICE } : type === 'socket' ? { Socket: SOCKET } : {}) };
  if (!(type === 'service' || type === 'socket')) problems.push({ line: 1, message: `unit type .${type} is not checked here` });
  for (const [sec, entries] of sections) {
    const table = tables[sec];
    if (!table) {
      problems.push({ line: entries[0]?.line ?? 1, message: `[${sec}] is not a section of a .${type} unit` });
      continue;
    }
    for (const e of entries) {
      const check = table[e.key];
      if (!check) problems.push({ line: e.line, message: `${e.key}= is not a key of [${sec}]` });
      else {
        const bad = check(e.value);
        if (bad) problems.push({ line: e.line, message: `${e.key}=: ${bad}` });
      }
    }
  }
  return problems;
}

/** The value(s) of a key, in file order (list keys split on whitespace). */
export function values(textContent: string, section: string, key: string): string[] {
  return (parseSysmasterUnit(textContent).sections.get(section) ?? []).filter((e) => e.key === key).map((e) => e.value);
}
