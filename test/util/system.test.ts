// The machine's architecture and virtualization under systemd's names (CONST{arch}, CONST{virt}, Architecture= and
// Virtualization= of .link files), checked against systemd's own detection on this machine: systemd-analyze's
// condition checks and systemd-detect-virt.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { architecture, detectVirtualization } from '../../src/util/system.js';
import { constArch, constVirt } from '../../src/rules/const.js';
import { systemInfo } from '../../src/net/condition.js';

/** Whether systemd evaluates the unit condition as true here. */
const condition = (c: string) => spawnSync('systemd-analyze', ['condition', c], { encoding: 'utf8' }).status === 0;
/** systemd-detect-virt's answer ('none' when there is nothing of the kind). */
const detectVirt = (...args: string[]) => spawnSync('systemd-detect-virt', args, { encoding: 'utf8' }).stdout.trim();

describe('this machine under systemd names', () => {
  it('names the architecture as systemd does', () => {
    expect(condition(`ConditionArchitecture=${architecture()}`)).toBe(true);
    expect(condition(`ConditionArchitecture=${architecture() === 'arm64' ? 'x86-64' : 'arm64'}`)).toBe(false);
    expect(constArch()).toBe(architecture());
    expect(systemInfo({ cmdline: '' }).architecture).toBe(architecture());
  });

  it('finds a container by systemd-detect-virt\'s name, and a virtual machine as one', () => {
    const v = detectVirtualization('/sys');
    const container = detectVirt('--container');
    const vm = detectVirt('--vm');
    // systemd names a virtual machine by its CPUID signature, which a process cannot read here: only its kind
    if (container !== 'none') expect(v).toEqual({ id: container, kind: 'container' });
    else if (vm !== 'none') expect(v.kind).toBe('vm');
    else expect(v).toEqual({ id: 'none', kind: 'none' });
    expect(condition(`ConditionVirtualization=${v.kind === 'none' ? 'no' : v.kind === 'container' ? v.id : 'vm'}`)).toBe(true);
    expect(constVirt({ sysfs: '/sys', dev: '/dev', run: '/run/udev' })).toBe(v.id);
    expect(systemInfo({ cmdline: '' })).toMatchObject({ virtualization: v.id, virtualizationKind: v.kind });
  });
});
