// A raw client for udev's control socket, run as a child process by udevadm-control.test.ts (it blocks, and it
// may drop its privileges, so it must not run inside the test process).
//
//   node --import tsx udev-ctrl-client.ts '{"path": ".../control", "drop": "after", "messages": [{"type": 6, "value": 5}], "end": true}'
//
// drop: "before" = become uid/gid 65534 before connecting, "after" = connect as root, then drop before sending.
// messages: {type, value?, magic?, size?} (size: send only that many bytes, or pad with zeros up to it).
// Prints one JSON line: {connected, errno?, sent: [errno or 0...], closed: true when the server closed the
// connection within waitMs (default 5000), closeMs}.
import koffi from 'koffi';
import { encodeUdevCtrlMessage, UdevCtrlType } from '../../src/daemon/udev-ctrl.js';

interface Args {
  path: string;
  drop?: 'before' | 'after';
  messages: { type: number; value?: number | string; magic?: number; size?: number }[];
  end?: boolean;
  waitMs?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const lib = koffi.load('libc.so.6');
const socket = lib.func('int socket(int, int, int)') as (d: number, t: number, p: number) => number;
const connect = lib.func('int connect(int, const void *, uint32_t)') as (fd: number, a: Buffer, l: number) => number;
const send = lib.func('intptr_t send(int, const void *, size_t, int)') as (fd: number, b: Buffer, l: number, f: number) => number | bigint;
const recv = lib.func('intptr_t recv(int, _Out_ void *, size_t, int)') as (fd: number, b: Buffer, l: number, f: number) => number | bigint;
const setsockopt = lib.func('int setsockopt(int, int, int, const void *, uint32_t)') as (fd: number, lv: number, n: number, v: Buffer, l: number) => number;

const drop = () => {
  process.setgroups?.([]);
  process.setgid!(65534);
  process.setuid!(65534);
};

if (args.drop === 'before') drop();
const fd = socket(1, 5 | 0o2000000, 0); // AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC
const addr = Buffer.alloc(110);
addr.writeUInt16LE(1, 0);
addr.write(args.path, 2);
if (connect(fd, addr, 2 + Buffer.byteLength(args.path) + 1) !== 0) {
  process.stdout.write(JSON.stringify({ connected: false, errno: koffi.errno() }) + '\n');
  process.exit(0);
}
if (args.drop === 'after') drop();
const MSG_NOSIGNAL = 0x4000;
const sent: number[] = [];
const all = [...args.messages, ...(args.end ? [{ type: UdevCtrlType.END_MESSAGES }] : [])];
for (const m of all) {
  let b = encodeUdevCtrlMessage(m.type, 'value' in m ? m.value : undefined, { magic: 'magic' in m ? m.magic : undefined });
  const size = 'size' in m ? m.size : undefined;
  if (size !== undefined) b = size <= b.length ? b.subarray(0, size) : Buffer.concat([b, Buffer.alloc(size - b.length)]);
  sent.push(Number(send(fd, b, b.length, MSG_NOSIGNAL)) < 0 ? koffi.errno() : 0);
}
const tv = Buffer.alloc(16);
const waitMs = args.waitMs ?? 5000;
tv.writeBigInt64LE(BigInt(Math.floor(waitMs / 1000)), 0);
tv.writeBigInt64LE(BigInt((waitMs % 1000) * 1000), 8);
setsockopt(fd, 1, 20, tv, 16); // SO_RCVTIMEO
const t0 = performance.now();
const n = Number(recv(fd, Buffer.alloc(512), 512, 0));
const errno = n < 0 ? koffi.errno() : 0;
// 0 = orderly close; ECONNRESET (104) also means the server closed it
const closed = n === 0 || errno === 104;
process.stdout.write(JSON.stringify({ connected: true, sent, closed, closeMs: Math.round(performance.now() - t0), recvErrno: errno }) + '\n');
