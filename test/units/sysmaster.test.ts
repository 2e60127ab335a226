import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FrameReader, MAX_FRAME, SysmasterBackend, decodeResponse, decodeUnitRequest, encodeFrame, encodeResponse, encodeUnitRequest,
} from '../../src/units/sysmaster.js';
import { FakeSysmaster } from './fake-sysmaster.js';

const signal = new AbortController().signal;
const req = (action: 'start' | 'stop', units: string[]) => ({ action, units, devpath: '/devices/virtual/block/zram9' });

describe('sysMaster wire format', () => {
  it('encodes CommandRequest{ucomm=1: UnitComm{action=1, units=2}} with sysMaster field numbers', () => {
    // field 1 (ucomm), length-delimited; inside: field 1 varint START=1, field 2 string per unit
    const bytes = Buffer.from(encodeUnitRequest('start', ['a.service', 'b'])).toString('hex');
    const unit = (s: string) => `12${s.length.toString(16).padStart(2, '0')}${Buffer.from(s).toString('hex')}`;
    const inner = `0801${unit('a.service')}${unit('b')}`;
    expect(bytes).toBe(`0a${(inner.length / 2).toString(16).padStart(2, '0')}${inner}`);
    expect(Buffer.from(encodeUnitRequest('stop', ['x'])).toString('hex')).toBe(`0a05${'0802'}${unit('x')}`);
  });

  it('round-trips requests and responses', () => {
    expect(decodeUnitRequest(encodeUnitRequest('stop', ['u1.service', 'u2.service']))).toEqual({ action: 'stop', units: ['u1.service', 'u2.service'] });
    const res = { status: 500, error_code: 2, message: 'Failed to start x.service: not found' };
    expect(decodeResponse(encodeResponse(res))).toEqual(res);
    // an empty CommandResponse decodes to proto3 defaults
    expect(decodeResponse(new Uint8Array())).toEqual({ status: 0, error_code: 0, message: '' });
    // a request with another command kind (field 4, mcomm) carries no ucomm
    expect(decodeUnitRequest(Buffer.from('2200', 'hex'))).toBeUndefined();
  });

  it('frames with an 8-byte little-endian length and reassembles split frames', () => {
    const f = encodeFrame(Buffer.from('hello'));
    expect(f.subarray(0, 8).toString('hex')).toBe('0500000000000000');
    const r = new FrameReader();
    const two = Buffer.concat([f, encodeFrame(Buffer.from('xy'))]);
    const out: string[] = [];
    for (let i = 0; i < two.length; i += 3) out.push(...r.push(two.subarray(i, i + 3)).map((b) => b.toString()));
    expect(out).toEqual(['hello', 'xy']);
    expect(r.pending).toBe(0);
    const big = Buffer.alloc(8);
    big.writeBigUInt64LE(BigInt(MAX_FRAME + 1));
    expect(() => new FrameReader().push(big)).toThrow(/exceeds/);
  });
});

describe('sysmaster backend', () => {
  let dir: string;
  let server: FakeSysmaster;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'devmaster-units-'));
    server = new FakeSysmaster(join(dir, 'private'));
    await server.listen();
  });
  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends START/STOP and accepts a 200 reply with error_code 0', async () => {
    const b = new SysmasterBackend(server.path, 2000);
    await b.run(req('start', ['a.service', 'b.service']), signal);
    await b.run(req('stop', ['b.service']), signal);
    expect(server.received).toEqual([
      { action: 'START', units: ['a.service', 'b.service'] },
      { action: 'STOP', units: ['b.service'] },
    ]);
  });

  it('rejects error replies with the status, error_code and message', async () => {
    const b = new SysmasterBackend(server.path, 2000);
    server.behaviour = { status: 200, error_code: 5, message: 'Failed to start a.service: No such unit' };
    await expect(b.run(req('start', ['a.service']), signal)).rejects.toThrow(/status 200, error_code 5: Failed to start a.service/);
    server.behaviour = { status: 500, error_code: 0, message: '' };
    await expect(b.run(req('start', ['a.service']), signal)).rejects.toThrow(/status 500/);
  });

  it('rejects a connection closed without reply, a silent server (timeout) and a missing socket', async () => {
    server.behaviour = 'close';
    await expect(new SysmasterBackend(server.path, 2000).run(req('start', ['a']), signal)).rejects.toThrow(/without a complete reply/);
    server.behaviour = 'hang';
    const t0 = Date.now();
    await expect(new SysmasterBackend(server.path, 300).run(req('start', ['a']), signal)).rejects.toThrow(/no reply .* within 300 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(new SysmasterBackend(join(dir, 'absent'), 2000).run(req('start', ['a']), signal)).rejects.toThrow(/ENOENT/);
  });

  it('rejects an undecodable reply', async () => {
    const path = join(dir, 'garbage');
    const srv = createServer((s) => {
      s.on('data', () => s.end(encodeFrame(Buffer.from([0xff, 0xff, 0xff]))));
    });
    await new Promise<void>((r) => srv.listen(path, r));
    try {
      await expect(new SysmasterBackend(path, 2000).run(req('start', ['a']), signal)).rejects.toThrow(/undecodable reply/);
    } finally {
      srv.close();
    }
  });
});
