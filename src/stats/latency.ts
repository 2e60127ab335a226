// A latency distribution: cumulative histogram buckets (what Prometheus reads), count, sum and maximum since the
// start, and the last RECENT values for exact percentiles of recent events (what `devctl stats` prints).

/** Upper bounds of the histogram buckets, in milliseconds (an implicit +Inf bucket follows). */
export const LATENCY_BOUNDS_MS: readonly number[] = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

/** How many of the latest values the percentiles are computed from. */
export const RECENT = 1024;

export interface LatencySnapshot {
  count: number;
  sumMs: number;
  meanMs: number;
  maxMs: number;
  /** Percentiles over the last `recent` values. */
  recent: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** Cumulative counts per upper bound in ms (the last one is Infinity, serialized as null in JSON). */
  buckets: { leMs: number | null; count: number }[];
}

export class Latency {
  private readonly counts = new Float64Array(LATENCY_BOUNDS_MS.length + 1);
  private sum = 0;
  private max = 0;
  private readonly recent = new Float64Array(RECENT);
  /** Values added so far; the next one goes to recent[next % RECENT]. */
  private next = 0;

  /** One value (the recorder adds its values a column at a time). */
  add(ms: number): void {
    this.addColumn(Float64Array.of(ms), 1, 1, 0);
  }

  /**
   * Adds `rows` values from column `col` of a table of `width` values per row (src/stats/recorder.ts keeps the
   * events' stage times so and adds them in batches): one call and the running figures in locals for the whole
   * batch, not per value, for V8's interpreter (the daemon runs with --no-opt).
   */
  addColumn(table: Float64Array, rows: number, width: number, col: number): void {
    const counts = this.counts;
    const recent = this.recent;
    const bounds = LATENCY_BOUNDS_MS;
    const nb = bounds.length;
    let sum = this.sum;
    let max = this.max;
    let next = this.next;
    for (let k = col, end = rows * width; k < end; k += width) {
      const v = table[k]! > 0 ? table[k]! : 0;
      // the first bound >= v, from the small end: most stage times are a millisecond or less
      let i = 0;
      while (i < nb && v > bounds[i]!) i++;
      counts[i]!++;
      sum += v;
      if (v > max) max = v;
      recent[next % RECENT] = v;
      next++;
    }
    this.sum = sum;
    this.max = max;
    this.next = next;
  }

  get count(): number {
    return this.next;
  }

  snapshot(): LatencySnapshot {
    const n = Math.min(this.next, RECENT);
    const sorted = this.recent.slice(0, n).sort();
    const pct = (p: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)]!);
    const buckets: LatencySnapshot['buckets'] = [];
    let cum = 0;
    for (let i = 0; i <= LATENCY_BOUNDS_MS.length; i++) {
      cum += this.counts[i]!;
      buckets.push({ leMs: i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i]! : null, count: cum });
    }
    return {
      count: this.next,
      sumMs: this.sum,
      meanMs: this.next ? this.sum / this.next : 0,
      maxMs: this.max,
      recent: n,
      p50Ms: pct(50),
      p90Ms: pct(90),
      p99Ms: pct(99),
      buckets,
    };
  }
}
