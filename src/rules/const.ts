// CONST{arch} and CONST{virt}: systemd's architecture and virtualization names for this machine.
import { readFileSync, existsSync } from 'node:fs';
import { arch as nodeArch } from 'node:os';
import { join } from 'node:path';
import type { Roots } from '../device/roots.js';
import { tryOr } from '../util/fs.js';

const ARCH: Record<string, string> = {
  x64: 'x86-64', ia32: 'x86', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64-le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loongarch64', mips: 'mips', mipsel: 'mips-le',
};

export function constArch(): string {
  return ARCH[nodeArch()] ?? nodeArch();
}

let virt: string | undefined;

function read(p: string): string {
  return tryOr(() => readFileSync(p, 'utf8').trim(), '');
}

/** A best-effort systemd-detect-virt: containers first, then DMI vendor strings, then the CPU's hypervisor flag. */
export function constVirt(roots: Roots): string {
  if (virt !== undefined) return virt;
  const container = read('/run/systemd/container') || (/(?:^|\0)container=([^\0]*)/.exec(read('/proc/1/environ'))?.[1] ?? '');
  if (container) return (virt = container === 'oci' ? 'container-other' : container);
  if (existsSync('/proc/vz') && !existsSync('/proc/bc')) return (virt = 'openvz');
  const dmi = ['sys_vendor', 'product_name', 'board_vendor', 'bios_vendor'].map((f) => read(join(roots.sysfs, 'class/dmi/id', f))).join('\n');
  const table: [RegExp, string][] = [
    [/KVM|Linux KVM/, 'kvm'], [/Amazon EC2/, 'amazon'], [/QEMU/, 'qemu'], [/VMware/, 'vmware'], [/innotek GmbH|VirtualBox|Oracle Corporation/, 'oracle'],
    [/Xen/, 'xen'], [/Bochs/, 'bochs'], [/Parallels/, 'parallels'], [/BHYVE/, 'bhyve'], [/Google/, 'google'], [/Microsoft Corporation/, 'microsoft'],
  ];
  for (const [re, name] of table) if (re.test(dmi)) return (virt = name);
  if (/\bhypervisor\b/.test(read('/proc/cpuinfo'))) return (virt = 'kvm');
  return (virt = 'none');
}
