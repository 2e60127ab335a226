// What the daemon and instructions benches give every daemon under test, made in the bench's work directory from
// Debian 12's udev (.cache/udev): its rules without the renaming ones, a hwdb.bin compiled from its hwdb by its
// systemd-hwdb (every daemon reads the same file), and an empty directory for the tmpfs copy of /dev.
import { cpSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { referenceUdev } from '../test/helpers/reference.js';
import { rulesCopy } from '../test/helpers/udevd.js';

export interface ReferenceSetup {
  rules: string;
  /** How many rules files were copied. */
  nRules: number;
  hwdbBin: string;
  /** Where the namespace's /dev copy goes. */
  stage: string;
}

export function referenceSetup(work: string): ReferenceSetup {
  const ref = referenceUdev();
  const rules = join(work, 'rules.d');
  const nRules = rulesCopy(ref.rulesDir, rules);
  const hwroot = join(work, 'hwdb-root');
  mkdirSync(join(hwroot, 'lib/udev'), { recursive: true });
  cpSync(ref.hwdbDir, join(hwroot, 'lib/udev/hwdb.d'), { recursive: true });
  execFileSync(ref.systemdHwdb, [`--root=${hwroot}`, 'update', '--usr'], { stdio: 'pipe' }); // Debian 12's udev is split-usr
  const stage = join(work, 'dev');
  mkdirSync(stage);
  return { rules, nRules, hwdbBin: join(hwroot, 'lib/udev/hwdb.bin'), stage };
}
