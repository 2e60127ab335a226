// The metrics file for node_exporter's textfile collector: rendered and replaced atomically (a hidden temporary
// file in the same directory, then rename) at start, every `intervalSec` seconds, and at exit.
import { basename } from 'node:path';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../util/fs.js';

export class MetricsFile {
  readonly path: string;
  /** Writes done, and the last write's error (undefined after a good one). */
  writes = 0;
  lastError: string | undefined;
  #render: () => string;
  #log: Logger;
  #timer: NodeJS.Timeout;

  constructor(path: string, intervalSec: number, render: () => string, log: Logger) {
    this.path = path;
    this.#render = render;
    this.#log = log;
    if (!basename(path).endsWith('.prom')) log.warn({ path }, "metrics file: node_exporter's textfile collector only reads files named *.prom");
    this.write();
    this.#timer = setInterval(() => this.write(), Math.max(1, intervalSec) * 1000);
    this.#timer.unref();
  }

  /** Renders and replaces the file now. A failure is logged once until a write succeeds again. */
  write(): void {
    try {
      writeFileAtomic(this.path, this.#render(), { mode: 0o644, mkdir: true, hiddenTemp: true });
      this.writes++;
      if (this.lastError !== undefined) this.#log.info({ path: this.path }, 'metrics file written again');
      this.lastError = undefined;
    } catch (e) {
      const msg = (e as Error).message;
      if (this.lastError === undefined) this.#log.error({ path: this.path, err: msg }, 'cannot write the metrics file');
      this.lastError = msg;
    }
  }

  /** A last write (the final counters), then no more. */
  close(): void {
    clearInterval(this.#timer);
    this.write();
  }

  status(): Record<string, unknown> {
    return { path: this.path, writes: this.writes, lastError: this.lastError };
  }
}
