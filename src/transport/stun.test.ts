import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isStun, stunBindingResponse } from './stun.js';

function bindingRequest(): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x0001, 0);
  b.writeUInt32BE(0x2112a442, 4);
  for (let i = 8; i < 20; i++) b[i] = i;
  return b;
}

/** XOR-MAPPED-ADDRESS decoded independently (RFC 5389 §15.2). */
function mapped(res: Buffer): { family: number; port: number; address: string } {
  assert.equal(res.readUInt16BE(0), 0x0101, 'Binding success response');
  assert.equal(res.readUInt16BE(2), res.length - 20, 'message length');
  assert.equal(res.readUInt16BE(20), 0x0020, 'XOR-MAPPED-ADDRESS');
  const family = res[25]!;
  const port = res.readUInt16BE(26) ^ 0x2112;
  const key = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), res.subarray(8, 20)]);
  const raw = [...res.subarray(28, 28 + (family === 1 ? 4 : 16))].map((x, i) => x ^ key[i]!);
  const address = family === 1 ? raw.join('.') : Buffer.from(raw).toString('hex').match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, '')).join(':');
  return { family, port, address };
}

test('a Binding request gets the address and port it came from, XORed (IPv4 and IPv6), with its transaction id', () => {
  const req = bindingRequest();
  const r4 = stunBindingResponse(req, '203.0.113.2', 40112)!;
  assert.deepEqual(r4.subarray(8, 20), req.subarray(8, 20));
  assert.deepEqual(mapped(r4), { family: 1, port: 40112, address: '203.0.113.2' });
  const r6 = stunBindingResponse(req, '2001:db8::7', 5060)!;
  assert.deepEqual(mapped(r6), { family: 2, port: 5060, address: '2001:db8:0:0:0:0:0:7' });
});

test('SIP, CRLF keep-alives and other STUN messages are not Binding requests', () => {
  assert.equal(isStun(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n\r\n')), false);
  assert.equal(isStun(Buffer.from('\r\n\r\n')), false);
  const indication = bindingRequest();
  indication.writeUInt16BE(0x0011, 0);
  assert.equal(isStun(indication), true);
  assert.equal(stunBindingResponse(indication, '203.0.113.2', 1), undefined);
  const noCookie = bindingRequest();
  noCookie.writeUInt32BE(0, 4);
  assert.equal(stunBindingResponse(noCookie, '203.0.113.2', 1), undefined);
});
