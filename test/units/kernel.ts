// Real kernel uevents for the hotplug tests, and a stand-in for the daemon's event processing around the unit
// layer: a NETLINK_KOBJECT_UEVENT socket (group 1, the kernel's own events) from the `netlink` package
// (RawNetlinkSocket, through src/netlink/socket.ts, which makes receive-queue overflows non-fatal), a "rule"
// that tags one zram device and sets its unit properties, and the database read/write the daemon does.
import { readFileSync, writeFileSync } from 'node:fs';
import { UeventNetlink, GROUP_KERNEL } from '../../src/netlink/socket.js';
import { Device } from '../../src/device/device.js';
import { deleteDb, readDb, writeDb } from '../../src/device/db.js';
import type { Roots } from '../../src/device/roots.js';
import { UnitActivator } from '../../src/units/activator.js';
import { applyRecord, readRecord } from '../../src/units/record.js';

export interface KernelEvent {
  action: string;
  devpath: string;
  props: Map<string, string>;
}

/** Parses "action@devpath\0KEY=VALUE\0..." (kernel datagrams only; libudev ones start with "libudev\0"). */
export function parseKernelUevent(buf: Buffer): KernelEvent | undefined {
  const parts = buf.toString('utf8').split('\0').filter((p) => p !== '');
  const head = parts[0];
  if (!head || !head.includes('@') || head.startsWith('libudev')) return undefined;
  const props = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq > 0) props.set(p.slice(0, eq), p.slice(eq + 1));
  }
  const action = props.get('ACTION');
  const devpath = props.get('DEVPATH');
  if (!action || !devpath) return undefined;
  return { action, devpath, props };
}

export class UeventListener {
  private events: KernelEvent[] = [];
  private waiters: (() => void)[] = [];
  private constructor(private readonly nl: UeventNetlink) {
    nl.raw.on('message', (msg) => {
      const ev = parseKernelUevent(msg);
      if (!ev) return;
      this.events.push(ev);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(): Promise<UeventListener> {
    return new UeventListener(await UeventNetlink.open({ groups: [GROUP_KERNEL], recvBufferSize: 16 << 20 }));
  }

  /** Next event matching `pred` (events that do not match are discarded). */
  async next(pred: (e: KernelEvent) => boolean, timeoutMs = 10_000): Promise<KernelEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.events.length > 0) {
        const e = this.events.shift()!;
        if (pred(e)) return e;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a uevent');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  close(): void {
    this.nl.close();
  }
}

export const ZRAM_CONTROL = '/sys/class/zram-control';

export function zramHotAdd(): number {
  return Number(readFileSync(`${ZRAM_CONTROL}/hot_add`, 'utf8').trim());
}

/** hot_remove, retried while something else (another test's blkid, say) holds the device open. */
export async function zramHotRemove(n: number): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      writeFileSync(`${ZRAM_CONTROL}/hot_remove`, String(n));
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENODEV' || code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export interface RuleProps {
  [key: string]: string;
}

/**
 * What the daemon does around the unit layer for one event: build the device, run "the rules" (tag it and set
 * its unit properties), read the old database record, call onEvent, store the returned record (or delete the
 * entry on remove). Returns how long onEvent took, in milliseconds.
 */
export function processEvent(roots: Roots, act: UnitActivator, ev: KernelEvent, rule: RuleProps): number {
  const dev = Device.fromUevent(roots, ev.props);
  if (ev.action !== 'remove') {
    dev.tags.add('sysmaster');
    dev.currentTags.add('sysmaster');
    for (const [k, v] of Object.entries(rule)) dev.dbProperties.set(k, v);
  }
  const id = dev.id;
  const old = readDb(roots.run, id);
  const recorded = old ? readRecord(old.properties) : undefined;
  const t0 = performance.now();
  const rec = act.onEvent(ev.action, dev, recorded);
  const took = performance.now() - t0;
  if (ev.action === 'remove') {
    deleteDb(roots.run, id);
  } else {
    applyRecord(dev.dbProperties, rec);
    writeDb(roots.run, id, {
      hasDevnode: true, links: [], linkPriority: 0, usecInitialized: 1, properties: dev.dbProperties, tags: dev.tags, currentTags: dev.currentTags,
    }, { keepEmpty: true, previous: undefined });
  }
  return took;
}
