import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callIdOwner, decodeRelayed, relayHeader } from './worker-relay.js';

test('a relayed datagram keeps its bytes, listener and source address (IPv4 and IPv6)', () => {
  const sip = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n');
  for (const [address, port, listener] of [['127.0.0.1', 5060, 0], ['2001:db8::1234:5678:9abc', 65535, 3]] as const) {
    const d = decodeRelayed(Buffer.concat([relayHeader(listener, address, port), sip]));
    assert.ok(d);
    assert.deepEqual({ ...d, bytes: d.bytes.toString() }, { listenerIndex: listener, address, port, bytes: sip.toString() });
  }
});

test('a SIP message, a short or garbled header is not taken for a relayed datagram', () => {
  assert.equal(decodeRelayed(Buffer.from('SIP/2.0 200 OK\r\n\r\n')), undefined);
  assert.equal(decodeRelayed(Buffer.from([0x00, 0x53, 0x42, 0x01, 0])), undefined);
  const h = relayHeader(0, '127.0.0.1', 5060);
  h[7] = 200; // address length beyond the datagram
  assert.equal(decodeRelayed(h), undefined);
  h[7] = 0; // no address
  assert.equal(decodeRelayed(Buffer.concat([h, Buffer.from('x')])), undefined);
});

test('the owner of a Call-ID is stable, in range, and spreads Call-IDs over the workers', () => {
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) {
    const id = `${i.toString(16)}-call@192.0.2.${i % 250}`;
    const o = callIdOwner(id, 3);
    assert.equal(callIdOwner(id, 3), o);
    counts[o]!++;
  }
  for (const c of counts) assert.ok(c > 800 && c < 1200, `uneven spread: ${counts.join(', ')}`);
  assert.equal(callIdOwner('anything', 1), 0);
});
