// This machine's architecture and virtualization under systemd's names (architecture_to_string(),
// detect_virtualization()): CONST{arch} and CONST{virt} of rules, Architecture= and Virtualization= of .link files.
// Virtualization is found from files only: containers as systemd's detect_container() finds them, virtual machines
// by the DMI vendor strings (under the sysfs root), Xen's /sys/hypervisor/type and, last, the CPU's hypervisor flag
// (systemd reads the hypervisor's CPUID signature, which a process cannot here: a flagged CPU counts as kvm).
import { existsSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { tryOr } from './fs.js';

/** /etc/machine-id (32 hex digits) as its 16 bytes; undefined when it is unreadable or not a machine id. */
export function readMachineId(path = '/etc/machine-id'): Buffer | undefined {
  const t = tryOr(() => readFileSync(path, 'utf8').trim(), undefined);
  return t !== undefined && /^[0-9a-fA-F]{32}$/.test(t) ? Buffer.from(t, 'hex') : undefined;
}

/** Node's process architectures under systemd's names (Node's ppc64 is little-endian, its arm and mipsel too). */
const ARCH: Readonly<Record<string, string>> = {
  x64: 'x86-64', ia32: 'x86', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64-le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loongarch64', mips: 'mips', mipsel: 'mips-le',
};

/** systemd's name of this machine's architecture (x86-64, arm64, ...). */
export function architecture(): string {
  return ARCH[arch()] ?? arch();
}

export interface Virtualization {
  /** 'none', or systemd's id (kvm, qemu, docker, podman, ...). */
  id: string;
  kind: 'vm' | 'container' | 'none';
}

/** A file's text without surrounding white space, or undefined when it cannot be read. */
const read = (p: string) => tryOr(() => readFileSync(p, 'utf8').trim(), undefined);

/** detect_container(): OpenVZ, the manager's word (/run/systemd/container, else pid 1's $container), podman, docker. */
function detectContainer(): string | undefined {
  if (existsSync('/proc/vz') && !existsSync('/proc/bc')) return 'openvz';
  const named = read('/run/systemd/container') || /(?:^|\0)container=([^\0]*)/.exec(read('/proc/1/environ') ?? '')?.[1];
  if (named) return named === 'oci' ? 'container-other' : named;
  if (existsSync('/run/.containerenv')) return 'podman';
  if (existsSync('/.dockerenv')) return 'docker';
  return undefined;
}

/** detect_vm_dmi()'s vendor table: a DMI string starting with the prefix names the hypervisor. */
const DMI_VENDORS: readonly [string, string][] = [
  ['KVM', 'kvm'], ['OpenStack', 'kvm'], ['KubeVirt', 'kvm'], ['Amazon EC2', 'amazon'], ['QEMU', 'qemu'], ['VMware', 'vmware'], ['VMW', 'vmware'],
  ['innotek GmbH', 'oracle'], ['VirtualBox', 'oracle'], ['Oracle Corporation', 'oracle'], ['Xen', 'xen'], ['Bochs', 'bochs'], ['Parallels', 'parallels'],
  ['BHYVE', 'bhyve'], ['Hyper-V', 'microsoft'], ['Microsoft Corporation', 'microsoft'], ['Apple Virtualization', 'apple'], ['Google Compute Engine', 'google'],
];

/** detect_vm(), from files: DMI vendor strings, Xen, the CPU's hypervisor flag. */
function detectVm(sysfs: string): string | undefined {
  for (const f of ['product_name', 'sys_vendor', 'board_vendor', 'bios_vendor']) {
    const s = read(join(sysfs, 'class/dmi/id', f));
    const hit = s === undefined ? undefined : DMI_VENDORS.find(([prefix]) => s.startsWith(prefix));
    if (hit) return hit[1];
  }
  if (read(join(sysfs, 'hypervisor/type')) === 'xen') return 'xen';
  if (/\bhypervisor\b/.test(read('/proc/cpuinfo') ?? '')) return 'kvm';
  return undefined;
}

/** detect_virtualization(): a container first, then a virtual machine. */
export function detectVirtualization(sysfs: string): Virtualization {
  const container = detectContainer();
  if (container) return { id: container, kind: 'container' };
  const vm = detectVm(sysfs);
  return vm ? { id: vm, kind: 'vm' } : { id: 'none', kind: 'none' };
}
