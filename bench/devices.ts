// The devices of this machine, for the benches that run the rules on each of them.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every device directory under /sys/devices (those with a uevent file), parents first. */
export function devicesOfThisMachine(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.isSymbolicLink()).map((d) => d.name);
    } catch {
      return;
    }
    if (existsSync(join(dir, 'uevent'))) out.push(dir);
    for (const n of names) walk(join(dir, n));
  };
  walk('/sys/devices');
  return out;
}
