// inotify through libc: a non-blocking instance whose descriptor libuv polls (no thread, no timer); a readable
// descriptor is drained with read() until EAGAIN. A worker thread blocked in read() cost ~75 ms to start and
// ~13 MB of RSS, and keeps the process from exiting while blocked (measured; see docs/DAEMON.md, "Watch").
import { constants } from 'node:os';
import { errnoError } from './errno.js';
import { close, readFd } from './file.js';
import { declared, errno, koffi, libcFunction } from './libc.js';
import { watchReadable, type ReadableWatch } from './poll.js';

export const IN_CLOSE_WRITE = 0x0000_0008;
export const IN_Q_OVERFLOW = 0x0000_4000;
export const IN_IGNORED = 0x0000_8000;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;

/** struct inotify_event without its name (which follows, `len` bytes, NUL-padded). */
const inotifyEvent = declared((k) => k.struct('inotify_event', { wd: 'int', mask: 'uint32_t', cookie: 'uint32_t', len: 'uint32_t' }));
const eventHeaderSize = declared((k) => k.sizeof(inotifyEvent()));

const init1C = libcFunction<(flags: number) => number>('int inotify_init1(int flags)');
const addWatchC = libcFunction<(fd: number, path: string, mask: number) => number>('int inotify_add_watch(int fd, const char *path, uint32_t mask)');
const rmWatchC = libcFunction<(fd: number, wd: number) => number>('int inotify_rm_watch(int fd, int wd)');

export interface InotifyEvent {
  wd: number;
  mask: number;
  cookie: number;
  name: string;
}

/** Splits what read() returned from an inotify fd into events; a truncated tail is ignored. */
export function parseInotifyEvents(buf: Buffer, length: number): InotifyEvent[] {
  const out: InotifyEvent[] = [];
  const k = koffi();
  const type = inotifyEvent();
  const header = eventHeaderSize();
  let off = 0;
  while (off + header <= length) {
    const h = k.decode(buf, off, type) as { wd: number; mask: number; cookie: number; len: number };
    if (off + header + h.len > length) break;
    const raw = buf.subarray(off + header, off + header + h.len);
    const nul = raw.indexOf(0);
    out.push({ wd: h.wd, mask: h.mask, cookie: h.cookie, name: raw.subarray(0, nul < 0 ? h.len : nul).toString() });
    off += header + h.len;
  }
  return out;
}

/**
 * A non-blocking inotify instance whose fd libuv polls. `onEvents` gets each batch read; `onError` a read or
 * poll failure (the instance then stops reading).
 */
export class Inotify {
  readonly fd: number;
  #poll: ReadableWatch | undefined;
  #buf = Buffer.alloc(16 * 1024);
  #closed = false;

  /** With `onEvents`, libuv polls the descriptor and each batch read goes there; without, drain() reads. */
  private constructor(fd: number, onEvents: ((evs: InotifyEvent[]) => void) | undefined, onError: (e: Error) => void) {
    this.fd = fd;
    if (!onEvents) return;
    this.#poll = watchReadable(fd, (status) => {
      if (this.#closed) return;
      if (status < 0) {
        this.#stop();
        onError(new Error(`inotify poll failed: status ${status}`));
        return;
      }
      let evs: InotifyEvent[];
      try {
        evs = this.drain();
      } catch (e) {
        this.#stop();
        onError(e as Error);
        return;
      }
      if (evs.length > 0) onEvents(evs);
    });
    this.#poll.unref(); // the daemon's sockets keep the process alive, not this
  }

  /** Reads what is queued, until read() says EAGAIN (one read() when nothing is); throws on a read failure. */
  drain(): InotifyEvent[] {
    const evs: InotifyEvent[] = [];
    for (;;) {
      const n = readFd(this.fd, this.#buf, this.#buf.length);
      if (n > 0) {
        const batch = parseInotifyEvents(this.#buf, n);
        for (let i = 0; i < batch.length; i++) evs.push(batch[i]!);
        continue;
      }
      const e = errno();
      if (n < 0 && e === constants.errno.EINTR) continue;
      if (n < 0 && e !== constants.errno.EAGAIN) throw errnoError('inotify read', e);
      return evs;
    }
  }

  /** An instance read by drain() only: nothing polls it. */
  static openUnpolled(): Inotify {
    const fd = init1C()(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw errnoError('inotify_init1', errno());
    return new Inotify(fd, undefined, () => {});
  }

  static open(onEvents: (evs: InotifyEvent[]) => void, onError: (e: Error) => void): Inotify {
    const fd = init1C()(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) throw errnoError('inotify_init1', errno());
    try {
      return new Inotify(fd, onEvents, onError);
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  /** inotify_add_watch; returns the watch descriptor (the same one again for an inode already watched). */
  add(path: string, mask: number): number {
    if (this.#closed) throw new Error('inotify instance is closed');
    const wd = addWatchC()(this.fd, path, mask);
    if (wd < 0) throw errnoError(`inotify_add_watch ${path}`, errno());
    return wd;
  }

  /** inotify_rm_watch; false when the descriptor was not (or no longer) a watch. */
  remove(wd: number): boolean {
    if (this.#closed) return false;
    return rmWatchC()(this.fd, wd) === 0;
  }

  #stop(): void {
    this.#poll?.close();
    this.#poll = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    close(this.fd);
  }
}
