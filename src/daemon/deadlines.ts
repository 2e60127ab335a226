// event_timeout for every running event with one timer. An event is warned about at a third of its timeout and
// given up at the timeout (as udevd kills its worker). Events almost always end long before the warning, so a
// timer per event would be armed and cleared thousands of times in a storm for nothing; here an event costs an
// entry in a list, and the one timer is armed for the earliest deadline of the events still running. It is left
// armed when the events end (clearing and arming it again per event is what this saves): firing with nothing due
// costs one wake-up, and it is armed again for what is running then.

export interface Deadline {
  /** Rejects when the event is given up. */
  readonly expired: Promise<never>;
}

interface Entry extends Deadline {
  warnAt: number;
  giveUpAt: number;
  warned: boolean;
  done: boolean;
  giveUp(): void;
  warn(): void;
}

export class EventDeadlines {
  /** Running events in start order (the ended are dropped from the front, and when the timer fires). */
  #entries: Entry[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires (0: not armed). */
  #armedFor = 0;

  /**
   * Starts counting for an event: `warn` runs at a third of `ms`, `giveUp` at `ms` (it must settle the event's work
   * or abort it; `expired` rejects with the error it returns).
   */
  begin(ms: number, warn: () => void, giveUp: () => Error): Deadline {
    const now = Date.now();
    let reject!: (e: Error) => void;
    const expired = new Promise<never>((_, r) => (reject = r));
    const entry: Entry = {
      expired,
      warnAt: now + ms / 3,
      giveUpAt: now + ms,
      warned: false,
      done: false,
      warn,
      giveUp: () => reject(giveUp()),
    };
    this.#entries.push(entry);
    if (this.#armedFor === 0 || entry.warnAt < this.#armedFor) this.#arm(entry.warnAt);
    return entry;
  }

  /** The event ended: nothing more happens for it. */
  end(d: Deadline): void {
    (d as Entry).done = true;
    const entries = this.#entries;
    let n = 0;
    while (n < entries.length && entries[n]!.done) n++;
    if (n === entries.length) entries.length = 0;
    else if (n > 0) entries.splice(0, n);
  }

  /** Stops the timer (the daemon stops); running events are no longer timed. */
  close(): void {
    this.#entries.length = 0;
    this.#disarm();
  }

  #arm(at: number): void {
    this.#disarm();
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - Date.now()));
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = 0;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = 0;
    const now = Date.now();
    let next = Infinity;
    const live: Entry[] = [];
    for (const e of this.#entries) {
      if (e.done) continue;
      if (!e.warned && e.warnAt <= now) {
        e.warned = true;
        e.warn();
      }
      if (e.giveUpAt <= now) {
        e.done = true;
        e.giveUp();
        continue;
      }
      live.push(e);
      next = Math.min(next, e.warned ? e.giveUpAt : e.warnAt);
    }
    // entries ended during warn() or giveUp() were marked done there
    this.#entries = live.filter((e) => !e.done);
    if (this.#entries.length) this.#arm(next);
  }
}
