// One request line to a Unix stream socket, one answer line back: the client side of devMaster's control socket
// (src/daemon/control-client.ts), used by devctl's one-shot verbs.
//
// Two transports do the same exchange:
//   - 'pipe': Node's own libuv pipe handle (process.binding('pipe_wrap'), the handle node:net wraps), driven
//     directly. A devctl verb then loads none of node:net and its streams: about twenty of Node's modules compiled
//     at every start, more than the rest of `devctl test` costs (docs/PERFORMANCE.md).
//   - 'net': node:net, the public interface.
// 'auto' takes 'pipe' where the binding is there in the shape used here, and 'net' otherwise: a Node that refuses
// process.binding (its permission model, policies, a later release) or has changed the handle's interface, and a
// Node run with --pending-deprecation, where process.binding would print a deprecation warning.
import { getSystemErrorName } from 'node:util';
import { createRequire } from 'node:module';

export type Transport = 'auto' | 'pipe' | 'net';

export interface ExchangeOptions {
  /** Milliseconds from the connect to the answer's newline (default: 30000). */
  timeoutMs?: number;
  transport?: Transport;
}

/** A failed exchange; `code` is the errno name ('ENOENT', 'ECONNREFUSED', ...), 'ETIMEDOUT' or 'EOF' (closed before a newline). */
export class ExchangeError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ExchangeError';
  }
}

/**
 * Connects to the socket at `path`, writes `line` (which ends with a newline), and resolves with what the peer
 * sends up to its first newline (without it), decoded as UTF-8. The connection is closed then, or at the first
 * error, at the end of the stream or when `timeoutMs` has passed.
 */
export function exchangeLine(path: string, line: string, opts: ExchangeOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pipe = opts.transport === 'net' ? undefined : pipeBinding();
  if (opts.transport === 'pipe' && pipe === undefined) return Promise.reject(new ExchangeError("the 'pipe' transport is not available in this Node", 'ENOTSUP'));
  return new Promise((resolve, reject) => {
    const answer = new LineReader();
    let settled = false;
    let close = () => {};
    const settle = (err: ExchangeError | undefined, value?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => settle(new ExchangeError(`no answer within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    const events: Events = {
      error: (code, message) => settle(new ExchangeError(message ?? `${path}: ${code}`, code)),
      data: (chunk) => {
        const got = answer.push(chunk);
        if (got !== undefined) settle(undefined, got);
      },
      end: () => settle(new ExchangeError('the peer closed the connection before a whole line', 'EOF')),
    };
    close = pipe ? pipeConnect(pipe, path, line, events) : netConnect(path, line, events);
  });
}

interface Events {
  error(code: string, message?: string): void;
  data(chunk: Buffer): void;
  end(): void;
}

/** Collects chunks until a newline; decodes once, so that a character split between chunks stays whole. */
class LineReader {
  #chunks: Buffer[] = [];
  #length = 0;

  /** The line when this chunk completes it, else undefined. */
  push(chunk: Buffer): string | undefined {
    const nl = chunk.indexOf(0x0a);
    if (nl < 0) {
      // a copy: the chunk may be a view of a buffer its reader hands out again
      this.#chunks.push(Buffer.from(chunk));
      this.#length += chunk.length;
      return undefined;
    }
    this.#chunks.push(chunk.subarray(0, nl));
    return Buffer.concat(this.#chunks, this.#length + nl).toString('utf8');
  }
}

// ------------------------------------------------------------------ 'net'

// node:net required on first use, not imported (the lazy require of scripts/bundle.mjs): the 'pipe' transport's
// process loads none of it.
const require = createRequire(import.meta.url);

function netConnect(path: string, line: string, on: Events): () => void {
  const sock = (require('node:net') as typeof import('node:net')).createConnection(path);
  sock.on('connect', () => sock.write(line));
  sock.on('data', (chunk: Buffer) => on.data(chunk));
  sock.on('error', (e: NodeJS.ErrnoException) => on.error(e.code ?? 'EIO', `${path}: ${e.message}`));
  sock.on('end', () => on.end());
  sock.on('close', () => on.end());
  return () => sock.destroy();
}

// ------------------------------------------------------------------ 'pipe'

/** The parts of Node's pipe_wrap and stream_wrap bindings used here (lib/net.js and stream_base_commons.js use them so). */
interface PipeBinding {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete?: (status: number) => void };
  SOCKET: number;
  WriteWrap: new () => WriteReq;
  /** Int32Array shared with C++: the last read's byte count or error, and where its bytes start. */
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

interface PipeHandle {
  connect(req: object, path: string): number;
  writeUtf8String(req: WriteReq, s: string): number;
  readStart(): number;
  readStop(): number;
  close(): void;
  onread: (buf: ArrayBuffer | undefined) => void;
}

interface WriteReq {
  handle?: PipeHandle;
  oncomplete?: (status: number) => void;
  async?: boolean;
}

let cachedBinding: PipeBinding | null | undefined;

/** Node's pipe binding when it is there in the expected shape and asking for it prints nothing; else undefined. */
function pipeBinding(): PipeBinding | undefined {
  if (cachedBinding === undefined) cachedBinding = lookUpPipeBinding() ?? null;
  return cachedBinding ?? undefined;
}

function lookUpPipeBinding(): PipeBinding | undefined {
  if (pendingDeprecation()) return undefined;
  const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
  if (typeof binding !== 'function') return undefined;
  let pipe: Record<string, unknown>;
  let stream: Record<string, unknown>;
  try {
    pipe = binding.call(process, 'pipe_wrap');
    stream = binding.call(process, 'stream_wrap');
  } catch {
    return undefined; // refused (permission model, policies) or gone
  }
  const constants = pipe.constants as Record<string, unknown> | undefined;
  const { Pipe, PipeConnectWrap } = pipe;
  const { WriteWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset } = stream;
  if (typeof Pipe !== 'function' || typeof PipeConnectWrap !== 'function' || typeof constants?.SOCKET !== 'number') return undefined;
  if (typeof WriteWrap !== 'function' || !(streamBaseState instanceof Int32Array)) return undefined;
  if (typeof kReadBytesOrError !== 'number' || typeof kArrayBufferOffset !== 'number') return undefined;
  const proto = (Pipe as { prototype: Record<string, unknown> }).prototype;
  for (const m of ['connect', 'writeUtf8String', 'readStart', 'readStop', 'close']) if (typeof proto[m] !== 'function') return undefined;
  return {
    Pipe: Pipe as PipeBinding['Pipe'],
    PipeConnectWrap: PipeConnectWrap as PipeBinding['PipeConnectWrap'],
    SOCKET: constants.SOCKET,
    WriteWrap: WriteWrap as PipeBinding['WriteWrap'],
    state: streamBaseState,
    kReadBytesOrError,
    kArrayBufferOffset,
  };
}

/** Whether this Node warns on process.binding (--pending-deprecation, on its command line or in NODE_OPTIONS). */
function pendingDeprecation(): boolean {
  const env = process.env;
  return process.execArgv.includes('--pending-deprecation') || (env.NODE_OPTIONS ?? '').includes('--pending-deprecation') || (env.NODE_PENDING_DEPRECATION ?? '') === '1';
}

/** A libuv status (a negative errno) as its name: 'ENOENT', 'EOF', ... */
const errName = (status: number): string => {
  try {
    return getSystemErrorName(status);
  } catch {
    return `E${-status}`;
  }
};

function pipeConnect(b: PipeBinding, path: string, line: string, on: Events): () => void {
  const handle = new b.Pipe(b.SOCKET);
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    handle.readStop();
    handle.close();
  };
  const failed = (status: number, what: string) => on.error(errName(status), `${path}: ${what} failed: ${errName(status)}`);

  const connect = new b.PipeConnectWrap();
  connect.oncomplete = (status) => {
    if (!open) return;
    if (status < 0) return failed(status, 'connect');
    handle.onread = (buf) => {
      const n = b.state[b.kReadBytesOrError]!;
      if (n > 0 && buf) on.data(Buffer.from(buf, b.state[b.kArrayBufferOffset]!, n));
      else if (errName(n) === 'EOF') on.end();
      else if (n < 0) failed(n, 'read');
    };
    const write = new b.WriteWrap();
    write.handle = handle;
    write.async = false;
    write.oncomplete = (st) => {
      if (st < 0 && open) failed(st, 'write');
    };
    const werr = handle.writeUtf8String(write, line);
    if (werr < 0) return failed(werr, 'write');
    const rerr = handle.readStart();
    if (rerr < 0) failed(rerr, 'read');
  };
  const err = handle.connect(connect, path);
  // a synchronous failure, after this function has returned the closer
  if (err < 0) queueMicrotask(() => failed(err, 'connect'));
  return close;
}
