// Giving up an event's work, typed: the daemon aborts the event's AbortSignal with an EventCancelled (event_timeout,
// as udevd kills its worker), and every step of the event calls checkpoint() after each await, so nothing is
// applied once it was given up (what runs between two awaits is synchronous, so it is never cut in half).

/** Why an event's work was given up; the reason its AbortSignal carries. */
export class EventCancelled extends Error {
  constructor(
    message: string,
    readonly why: 'timeout' | 'stopped',
  ) {
    super(message);
    this.name = 'EventCancelled';
  }
}

/** Throws the event's cancellation when its signal was aborted: called after every await of an event's work. */
export function checkpoint(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof EventCancelled ? reason : new EventCancelled(`event given up: ${String(reason)}`, 'stopped');
}
