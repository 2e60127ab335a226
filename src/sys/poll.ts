// Descriptor readiness on Node's own event loop: koffi.node.poll is a libuv uv_poll handle, so a non-blocking
// descriptor made through libc (a SOCK_SEQPACKET socket, an inotify instance) is watched without a thread or
// a timer.
import { koffi, type Koffi } from './libc.js';

/** A readable-watch on one descriptor: the callback gets libuv's status (< 0 on error). */
export interface ReadableWatch {
  /** Watches again after stop() (nothing when already watching). */
  start(): void;
  stop(): void;
  /** Stops for good and releases the handle. */
  close(): void;
  /** The watch alone does not keep the process alive. */
  unref(): void;
}

/** Calls cb whenever fd is readable, from now on. Throws when libuv refuses the descriptor. */
export function watchReadable(fd: number, cb: (status: number) => void): ReadableWatch {
  // koffi calls back with (status, events); its typings declare only (events)
  const callback = cb as unknown as Parameters<Koffi['node']['poll']>[1];
  const handle = koffi().node.poll(fd, { readable: true }, callback) as ReturnType<Koffi['node']['poll']> | null;
  if (!handle) throw new Error(`cannot watch descriptor ${fd} with libuv`);
  let on = true;
  return {
    start: () => {
      if (!on) handle.start({ readable: true }, callback);
      on = true;
    },
    stop: () => {
      if (on) handle.stop();
      on = false;
    },
    close: () => {
      on = false;
      handle.close();
    },
    unref: () => handle.unref(),
  };
}
