// A stand-in for sysMaster's command socket: a Unix stream socket speaking the same frames (8-byte LE length +
// protobuf), decoding requests with protobufjs from the same .proto schema file, independently of the
// client code under test, and answering with a configurable CommandResponse.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import protobuf from 'protobufjs';

const PROTO = join(import.meta.dirname, '..', '..', 'src', 'units', 'sysmaster-abi.proto');

export interface Received {
  action: string;
  units: string[];
}

export interface Reply {
  status: number;
  error_code: number;
  message: string;
}

export type Behaviour = Reply | 'close' | 'hang';

export class FakeSysmaster {
  readonly received: Received[] = [];
  /** Answer for every request; a function gets the request. */
  behaviour: Behaviour | ((r: Received) => Behaviour) = { status: 200, error_code: 0, message: '' };
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly root = new protobuf.Root().loadSync(PROTO, { keepCase: true });
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly path: string) {}

  listen(): Promise<void> {
    const Req = this.root.lookupType('abi.CommandRequest');
    const Res = this.root.lookupType('abi.CommandResponse');
    this.server = createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => {});
      let buf = Buffer.alloc(0);
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 8) return;
        const len = Number(buf.readBigUInt64LE(0));
        if (buf.length < 8 + len) return;
        const obj = Req.toObject(Req.decode(buf.subarray(8, 8 + len)), { enums: String, defaults: true }) as {
          ucomm?: { action: string; units: string[] };
        };
        const r: Received = { action: obj.ucomm?.action ?? 'NONE', units: obj.ucomm?.units ?? [] };
        this.received.push(r);
        this.notify();
        const b = typeof this.behaviour === 'function' ? this.behaviour(r) : this.behaviour;
        if (b === 'hang') return;
        if (b === 'close') {
          sock.destroy();
          return;
        }
        const body = Res.encode(Res.fromObject(b)).finish();
        const header = Buffer.alloc(8);
        header.writeBigUInt64LE(BigInt(body.length));
        // Two writes, as sysMaster does: the client must reassemble.
        sock.write(header);
        sock.end(body);
      });
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.path, () => resolve());
    });
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.received.length >= w.n) w.resolve();
      return this.received.length < w.n;
    });
  }

  /** Resolves once at least n requests arrived (rejects after timeoutMs). */
  waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${this.received.length} of ${n} requests arrived: ${JSON.stringify(this.received)}`)), timeoutMs);
      this.waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
