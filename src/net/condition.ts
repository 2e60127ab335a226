// The system conditions of a .link file's [Match] section: Host=, Virtualization=, KernelCommandLine=,
// KernelVersion=, Credential=, Architecture=, Firmware= (systemd's condition.c, as net-condition.c uses them).
// The facts they test come from a SystemInfo, so tests can inject them; systemInfo() reads this machine's.
import { existsSync, readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { fnmatch, FNM_CASEFOLD } from '../util/fnmatch.js';
import { tryOr } from '../util/fs.js';
import { architecture, detectVirtualization, readMachineId } from '../util/system.js';
import { splitCommand } from '../util/cmdline.js';
import { parseBoolean } from '../util/cnum.js';

export type ConditionType = 'Host' | 'Virtualization' | 'KernelCommandLine' | 'KernelVersion' | 'Credential' | 'Architecture' | 'Firmware';

export interface Condition {
  type: ConditionType;
  value: string;
  negate: boolean;
}

export interface SystemInfo {
  hostname: string;
  machineId: string | undefined;
  cmdline: string;
  kernelRelease: string;
  /** systemd's architecture name (x86-64, arm64, ...). */
  architecture: string;
  /** 'none', or the virtualization id (kvm, qemu, docker, podman, ...). */
  virtualization: string;
  /** 'vm', 'container' or 'none'. */
  virtualizationKind: 'vm' | 'container' | 'none';
  /** The sysfs root (for Firmware=). */
  sysfs: string;
  /** Credential directories to look in. */
  credentialDirs: string[];
}

/** Parses a condition value ('!' negates); a string is the error. */
export function parseCondition(type: ConditionType | string, value: string): Condition | string {
  const negate = value.startsWith('!');
  const v = negate ? value.slice(1) : value;
  if (v === '') return `empty ${type}= condition, ignoring`;
  return { type: type as ConditionType, value: v, negate };
}

/** A file's text, or undefined when it cannot be read. */
const read = (p: string) => tryOr(() => readFileSync(p, 'utf8'), undefined);

/** This machine's facts. `cmdline` and `machineIdPath` are injectable as the daemon's other roots are. */
export function systemInfo(opts: { sysfs?: string; cmdline: string; machineIdPath?: string }): SystemInfo {
  const sysfs = opts.sysfs ?? '/sys';
  const virt = detectVirtualization(sysfs);
  const creds = [process.env.CREDENTIALS_DIRECTORY, '/run/credentials/@system'].filter((x): x is string => !!x);
  return {
    hostname: hostname(),
    machineId: readMachineId(opts.machineIdPath)?.toString('hex'),
    cmdline: opts.cmdline,
    kernelRelease: release(),
    architecture: architecture(),
    virtualization: virt.id,
    virtualizationKind: virt.kind,
    sysfs,
    credentialDirs: creds,
  };
}

/** strverscmp_improved, enough for kernel releases: digit runs compare as numbers, '~' sorts first. */
export function versionCompare(a: string, b: string): number {
  const tok = (s: string) => s.match(/\d+|[A-Za-z]+|~|[^\dA-Za-z~]/g) ?? [];
  const x = tok(a);
  const y = tok(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === q) continue;
    if (p === '~') return -1;
    if (q === '~') return 1;
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q) || p.length - q.length;
    if (pn !== qn) return pn ? 1 : -1;
    return p < q ? -1 : 1;
  }
  return 0;
}

function testKernelVersion(v: string, release: string): boolean {
  for (const w of v.split(/\s+/).filter(Boolean)) {
    const m = /^(<=|>=|!=|<|>|=)\s*(.*)$/.exec(w);
    if (!m) {
      if (!fnmatch(w, release)) return false;
      continue;
    }
    const c = versionCompare(release, m[2]!);
    const ok = { '<': c < 0, '<=': c <= 0, '=': c === 0, '!=': c !== 0, '>=': c >= 0, '>': c > 0 }[m[1] as '<'];
    if (!ok) return false;
  }
  return true;
}

function testFirmware(v: string, info: SystemInfo): boolean {
  if (v === 'device-tree') return existsSync(join(info.sysfs, 'firmware/devicetree'));
  if (v === 'uefi') return existsSync(join(info.sysfs, 'firmware/efi'));
  const compat = /^device-tree-compatible\((.*)\)$/.exec(v);
  if (compat) {
    const c = read(join(info.sysfs, 'firmware/devicetree/base/compatible'));
    return c !== undefined && c.split('\0').includes(compat[1]!);
  }
  const smbios = /^smbios-field\(\s*([a-z_]+)\s*(<=|>=|!=|<|>|=|\$=|!\$=)\s*(.*?)\s*\)$/.exec(v);
  if (smbios) {
    const actual = read(join(info.sysfs, 'class/dmi/id', smbios[1]!))?.trim();
    if (actual === undefined) return false;
    const [, , op, want] = smbios;
    if (op === '$=') return fnmatch(want!, actual);
    if (op === '!$=') return !fnmatch(want!, actual);
    const c = versionCompare(actual, want!);
    return { '<': c < 0, '<=': c <= 0, '=': c === 0, '!=': c !== 0, '>=': c >= 0, '>': c > 0 }[op as '<'];
  }
  return false;
}

function testOne(c: Condition, info: SystemInfo): boolean {
  switch (c.type) {
    case 'Host':
      if (/^[0-9a-fA-F]{32}$/.test(c.value.replace(/-/g, ''))) return info.machineId?.toLowerCase() === c.value.replace(/-/g, '').toLowerCase();
      return fnmatch(c.value, info.hostname, FNM_CASEFOLD);
    case 'Virtualization': {
      const b = parseBoolean(c.value);
      if (b !== undefined) return (info.virtualizationKind !== 'none') === b;
      if (c.value === 'vm' || c.value === 'container') return info.virtualizationKind === c.value;
      return info.virtualization === c.value;
    }
    case 'KernelCommandLine': {
      const words = splitCommand(info.cmdline);
      if (c.value.includes('=')) return words.includes(c.value);
      return words.some((w) => w === c.value || w.startsWith(c.value + '='));
    }
    case 'KernelVersion':
      return testKernelVersion(c.value, info.kernelRelease);
    case 'Architecture':
      return c.value === 'native' || c.value === info.architecture;
    case 'Firmware':
      return testFirmware(c.value, info);
    case 'Credential':
      return info.credentialDirs.some((d) => existsSync(join(d, c.value)));
  }
}

/** All conditions hold (each may be negated). */
export function testConditions(conds: readonly Condition[], info: SystemInfo): boolean {
  return conds.every((c) => testOne(c, info) !== c.negate);
}
