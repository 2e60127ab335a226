// CLOCK_MONOTONIC in microseconds: what udev stamps USEC_INITIALIZED with, what `udevadm monitor` prints and what
// sd_notify's MONOTONIC_USEC= carries (libuv's hrtime reads CLOCK_MONOTONIC).

/** Microseconds on CLOCK_MONOTONIC. */
export function monotonicUsec(): number {
  return Math.floor(Number(process.hrtime.bigint() / 1000n));
}

/**
 * Milliseconds since the process started, on CLOCK_MONOTONIC: what performance.now() gives, for timing and
 * deadlines. Not performance.now() itself: Node builds its `performance` global on first use, compiling a dozen
 * internal modules (perf_hooks and its parts), some 3.5 ms of the daemon's start on this machine.
 */
export function nowMs(): number {
  return process.uptime() * 1000;
}
