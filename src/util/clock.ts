// CLOCK_MONOTONIC in microseconds: what udev stamps USEC_INITIALIZED with, what `udevadm monitor` prints and what
// sd_notify's MONOTONIC_USEC= carries (libuv's hrtime reads CLOCK_MONOTONIC).

/** Microseconds on CLOCK_MONOTONIC. */
export function monotonicUsec(): number {
  return Math.floor(Number(process.hrtime.bigint() / 1000n));
}
