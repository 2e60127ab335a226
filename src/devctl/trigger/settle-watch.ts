// Waits for devMaster's processed events (libudev broadcast, netlink group 2) that carry the SYNTH_UUIDs of
// our own triggers. Uses src/netlink's socket and libudev decoder.
import { UeventNetlink, GROUP_UDEV } from '../../netlink/socket.js';
import { decode } from '../../netlink/libudev-format.js';
import type { Roots } from '../../device/roots.js';

export interface SettleResult {
  ok: boolean;
  total: number;
  /** Syspaths whose event never came back. */
  missing: string[];
}

export class SettleWatcher {
  readonly #nl: UeventNetlink;
  readonly #roots: Roots;
  /** syspath -> expected SYNTH_UUID */
  readonly #expected = new Map<string, string>();
  #total = 0;
  #early = new Map<string, Set<string>>();
  #onChange: (() => void) | undefined;
  #onSettled: ((syspath: string) => void) | undefined;

  private constructor(nl: UeventNetlink, roots: Roots) {
    this.#nl = nl;
    this.#roots = roots;
    nl.raw.on('message', (buf: Buffer) => this.#receive(buf));
    nl.raw.on('error', () => {
      /* a receive error only means we may miss an event: the timeout reports it */
    });
  }

  /** Opens the listening socket (before any trigger is written, so no answer can be missed). */
  static async open(roots: Roots): Promise<SettleWatcher> {
    const nl = await UeventNetlink.open({ groups: [GROUP_UDEV], recvBufferSize: 16 * 1024 * 1024 });
    return new SettleWatcher(nl, roots);
  }

  #receive(buf: Buffer): void {
    const msg = decode(buf);
    if (msg instanceof Error) return;
    const uuid = msg.properties.get('SYNTH_UUID');
    if (!uuid) return;
    const syspath = this.#roots.sysfs + msg.devpath;
    const want = this.#expected.get(syspath);
    if (want === undefined) {
      // an answer may in principle arrive before expect() is called for it
      let s = this.#early.get(syspath);
      if (!s) this.#early.set(syspath, (s = new Set()));
      s.add(uuid);
      return;
    }
    if (want !== uuid) return;
    this.#expected.delete(syspath);
    this.#onSettled?.(syspath);
    this.#onChange?.();
  }

  expect(syspath: string, uuid: string): void {
    this.#total++;
    if (this.#early.get(syspath)?.has(uuid)) {
      this.#early.get(syspath)!.delete(uuid);
      return;
    }
    this.#expected.set(syspath, uuid);
  }

  get pending(): number {
    return this.#expected.size;
  }

  /** Resolves when every expected event was seen, or at the timeout (0 = none). */
  wait(timeoutMs: number, progress?: (seen: number, total: number) => void, onSettled?: (syspath: string) => void): Promise<SettleResult> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#nl.raw.ref();
      const finish = (ok: boolean) => {
        if (timer) clearTimeout(timer);
        this.#nl.raw.unref();
        this.#onChange = undefined;
        this.#onSettled = undefined;
        resolve({ ok, total: this.#total, missing: [...this.#expected.keys()] });
      };
      this.#onSettled = onSettled;
      this.#onChange = () => {
        progress?.(this.#total - this.#expected.size, this.#total);
        if (this.#expected.size === 0) finish(true);
      };
      if (this.#expected.size === 0) return finish(true);
      if (timeoutMs > 0) timer = setTimeout(() => finish(false), timeoutMs);
      progress?.(this.#total - this.#expected.size, this.#total);
    });
  }

  close(): void {
    this.#nl.close();
  }
}
