// The sysmaster backend: sysMaster's own command socket (a Unix stream socket, default /run/sysmaster/private).
//
// One request per connection, as sysMaster's sctl does it: the client writes a frame, sysMaster answers with one
// frame and the connection is closed. A frame is an 8-byte little-endian length followed by that many bytes of
// protobuf: abi.CommandRequest from the client (with ucomm = UnitComm {action, units}), abi.CommandResponse
// {status, error_code, message} from sysMaster. The schema is sysmaster-abi.proto next to this file, the subset
// of sysMaster's libs/cmdproto/src/proto/abi.proto that devMaster uses, loaded with protobufjs.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../config/rules-path.js';
import { UnitBackendError, type UnitAction, type UnitBackendImpl, type UnitRequest } from './types.js';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): protobufjs and node:net with the first
// request.
const require = createRequire(import.meta.url);

export const PROTO_FILE_NAME = 'sysmaster-abi.proto';
/** Frames larger than this are refused (sysMaster's replies are short texts). */
export const MAX_FRAME = 1 << 20;
const HEADER = 8;

/** UnitComm.Action values (sysMaster's numbering). */
export const UNIT_ACTION = { status: 0, start: 1, stop: 2, restart: 3, reload: 4 } as const;

/** Where the .proto lives: next to this module (src/units) or, when running from dist/, in the package's src/units. */
export function protoPath(): string {
  const candidates = [
    join(dirname(fileURLToPath(import.meta.url)), PROTO_FILE_NAME),
    join(PACKAGE_ROOT, 'src', 'units', PROTO_FILE_NAME),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`cannot find ${PROTO_FILE_NAME} (looked in ${candidates.join(', ')})`);
  return found;
}

export interface Schema {
  CommandRequest: protobuf.Type;
  CommandResponse: protobuf.Type;
  UnitComm: protobuf.Type;
}

let schema: Schema | undefined;

/** The protobuf types, loaded once from the .proto file (field names kept as written: error_code). */
export function loadSchema(): Schema {
  if (!schema) {
    const root = new (require('protobufjs') as typeof protobuf).Root().loadSync(protoPath(), { keepCase: true });
    schema = {
      CommandRequest: root.lookupType('abi.CommandRequest'),
      CommandResponse: root.lookupType('abi.CommandResponse'),
      UnitComm: root.lookupType('abi.UnitComm'),
    };
  }
  return schema;
}

export interface CommandResponse {
  status: number;
  error_code: number;
  message: string;
}

export interface UnitCommand {
  /** UnitComm.Action name in lower case (start, stop, ...), or "unknown(N)". */
  action: string;
  units: string[];
}

/** Encodes CommandRequest { ucomm: UnitComm { action, units } }. */
export function encodeUnitRequest(action: UnitAction, units: readonly string[]): Uint8Array {
  const { CommandRequest } = loadSchema();
  const msg = CommandRequest.fromObject({ ucomm: { action: UNIT_ACTION[action], units: [...units] } });
  return CommandRequest.encode(msg).finish();
}

/** Decodes a CommandRequest; undefined when it carries no ucomm (another command kind). */
export function decodeUnitRequest(bytes: Uint8Array): UnitCommand | undefined {
  const { CommandRequest } = loadSchema();
  const obj = CommandRequest.toObject(CommandRequest.decode(bytes), { enums: Number, defaults: true, oneofs: true }) as {
    ucomm?: { action: number; units: string[] };
  };
  if (!obj.ucomm) return undefined;
  const name = (Object.keys(UNIT_ACTION) as (keyof typeof UNIT_ACTION)[]).find((k) => UNIT_ACTION[k] === obj.ucomm!.action);
  return { action: name ?? `unknown(${obj.ucomm.action})`, units: obj.ucomm.units };
}

export function encodeResponse(res: CommandResponse): Uint8Array {
  const { CommandResponse } = loadSchema();
  return CommandResponse.encode(CommandResponse.fromObject(res)).finish();
}

export function decodeResponse(bytes: Uint8Array): CommandResponse {
  const { CommandResponse } = loadSchema();
  return CommandResponse.toObject(CommandResponse.decode(bytes), { defaults: true }) as CommandResponse;
}

/** Prefixes a message with its 8-byte little-endian length. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER);
  header.writeBigUInt64LE(BigInt(payload.length));
  return Buffer.concat([header, payload]);
}

/** Accumulates stream chunks and returns complete frames. Throws on a frame longer than MAX_FRAME. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    while (this.buf.length >= HEADER) {
      const len = this.buf.readBigUInt64LE(0);
      if (len > BigInt(MAX_FRAME)) throw new Error(`frame length ${len} exceeds ${MAX_FRAME} bytes`);
      const n = Number(len);
      if (this.buf.length < HEADER + n) break;
      frames.push(Buffer.from(this.buf.subarray(HEADER, HEADER + n)));
      this.buf = this.buf.subarray(HEADER + n);
    }
    return frames;
  }

  /** Bytes received that do not form a complete frame yet. */
  get pending(): number {
    return this.buf.length;
  }
}

/** Sends one request frame on a new connection and resolves with the reply frame's payload. */
export function exchange(socketPath: string, payload: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader();
    let done = false;
    const sock = (require('node:net') as typeof import('node:net')).createConnection({ path: socketPath });
    const finish = (err: Error | undefined, frame?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(frame!);
    };
    const onAbort = () => finish(new UnitBackendError(`request to ${socketPath} aborted`));
    const timer = setTimeout(() => finish(new UnitBackendError(`no reply from ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => sock.write(encodeFrame(payload)));
    sock.on('data', (chunk: Buffer) => {
      try {
        const frames = reader.push(chunk);
        if (frames.length > 0) finish(undefined, frames[0]);
      } catch (e) {
        finish(new UnitBackendError(`bad reply from ${socketPath}: ${(e as Error).message}`));
      }
    });
    sock.on('end', () => finish(new UnitBackendError(`${socketPath} closed the connection without a complete reply`)));
    sock.on('close', () => finish(new UnitBackendError(`${socketPath} closed the connection without a complete reply`)));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(new UnitBackendError(`cannot talk to sysMaster at ${socketPath}: ${e.code ?? e.message}`)));
  });
}

export class SysmasterBackend implements UnitBackendImpl {
  readonly name = 'sysmaster';
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs: number,
  ) {
    loadSchema(); // a missing or broken .proto is a start-up error, not a per-request one
  }

  async run(req: UnitRequest, signal: AbortSignal): Promise<void> {
    const reply = await exchange(this.socketPath, encodeUnitRequest(req.action, req.units), this.timeoutMs, signal);
    let res: CommandResponse;
    try {
      res = decodeResponse(reply);
    } catch (e) {
      throw new UnitBackendError(`undecodable reply from ${this.socketPath}: ${(e as Error).message}`);
    }
    if (res.status < 200 || res.status > 299 || res.error_code !== 0) {
      const msg = res.message.trim();
      throw new UnitBackendError(`sysMaster answered status ${res.status}, error_code ${res.error_code}${msg ? `: ${msg}` : ''}`);
    }
  }
}
