// event_timeout for every running event with one timer. An event is warned about at a third of its timeout and
// given up at the timeout (as udevd kills its worker). Events almost always end long before the warning, so a
// timer per event would be armed and cleared thousands of times in a storm for nothing; here an event costs an
// entry in a list, and the one timer is armed for the earliest deadline of the events still running. It is left
// armed when the events end (clearing and arming it again per event is what this saves): firing with nothing due
// costs one wake-up, and it is armed again for what is running then.
//
// An event's work is run under its deadline by run(): one promise that settles as the work does, or rejects when
// the event is given up. What is timed (`subject`) is handed back to the warning and the give-up, which are the
// same two functions for every event: nothing else is made per event (a promise raced against a deadline of its
// own, and closures for the event, cost several objects more per event in a storm).

interface Entry<S> {
  subject: S;
  ms: number;
  warnAt: number;
  giveUpAt: number;
  warned: boolean;
  done: boolean;
  reject: (e: unknown) => void;
}

export class EventDeadlines<S> {
  /** Running events in start order (the ended are dropped from the front, and when the timer fires). */
  #entries: Entry<S>[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires (0: not armed). */
  #armedFor = 0;

  /**
   * `warn(subject, ms)` runs at a third of an event's timeout; `giveUp(subject, ms)` at the timeout: it must stop
   * the event's work or abort it, and returns the error run() rejects with.
   */
  constructor(
    private readonly warn: (subject: S, ms: number) => void,
    private readonly giveUp: (subject: S, ms: number) => Error,
  ) {}

  /** `work` under a timeout of `ms`: settles as `work` does, or rejects with giveUp()'s error at the timeout. */
  run<T>(ms: number, subject: S, work: Promise<T>): Promise<T> {
    const now = Date.now();
    // the executor runs at once: the entry is in the list when run() returns
    return new Promise<T>((resolve, reject) => {
      const entry: Entry<S> = { subject, ms, warnAt: now + ms / 3, giveUpAt: now + ms, warned: false, done: false, reject };
      this.#entries.push(entry);
      if (this.#armedFor === 0 || entry.warnAt < this.#armedFor) this.#arm(entry.warnAt);
      work.then(
        (v) => {
          this.#end(entry);
          resolve(v);
        },
        (e: unknown) => {
          this.#end(entry);
          reject(e);
        },
      );
    });
  }

  /** Stops the timer (the daemon stops); running events are no longer timed. */
  close(): void {
    this.#entries.length = 0;
    this.#disarm();
  }

  /** The event's work settled: nothing more happens for it. */
  #end(entry: Entry<S>): void {
    entry.done = true;
    const entries = this.#entries;
    let n = 0;
    while (n < entries.length && entries[n]!.done) n++;
    if (n === entries.length) entries.length = 0;
    else if (n > 0) entries.splice(0, n);
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
    const live: Entry<S>[] = [];
    for (const e of this.#entries) {
      if (e.done) continue;
      if (!e.warned && e.warnAt <= now) {
        e.warned = true;
        this.warn(e.subject, e.ms);
      }
      if (e.giveUpAt <= now) {
        e.done = true;
        e.reject(this.giveUp(e.subject, e.ms));
        continue;
      }
      live.push(e);
      next = Math.min(next, e.warned ? e.giveUpAt : e.warnAt);
    }
    // entries whose work settled during warn() or giveUp() were marked done there
    this.#entries = live.filter((e) => !e.done);
    if (this.#entries.length) this.#arm(next);
  }
}
