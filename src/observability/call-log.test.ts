import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallLog } from './call-log.js';
import { MessageBuffer } from './message-buffer.js';
import type { MessageRecord } from './message-record.js';

let seq = 0;
function rec(direction: 'sent' | 'received', callId: string, method: string, status?: number, time = ++seq * 10): MessageRecord {
  const startLine = status === undefined ? `${method} sip:bob@example.com SIP/2.0` : `SIP/2.0 ${status} X`;
  return { seq, time, direction, transport: 'udp', local: '10.0.0.1:5060', remote: '10.0.0.2:5060', startLine, method, status, callId, cseq: `1 ${method}`, bytes: Buffer.from(startLine) };
}
const obs = (r: MessageRecord, extra: object = {}) => ({ record: r, parties: () => ({ from: 'sip:alice@example.com', to: 'sip:bob@example.com' }), ...extra });

test('a proxied call: trying → early → confirmed → ended by BYE; the BYE 200 after the end still counts', () => {
  const log = new CallLog();
  const states: string[] = [];
  log.onChange = (c) => states.push(c.state);
  log.observe(obs(rec('received', 'c1', 'INVITE')));
  log.observe(obs(rec('sent', 'c1', 'INVITE')));
  log.observe(obs(rec('received', 'c1', 'INVITE', 180)));
  log.observe(obs(rec('sent', 'c1', 'INVITE', 180)));
  log.observe(obs(rec('received', 'c1', 'INVITE', 200)));
  log.observe(obs(rec('received', 'c1', 'BYE'), { inDialog: true }));
  log.observe(obs(rec('sent', 'c1', 'BYE', 200)));
  assert.deepEqual(states, ['trying', 'early', 'confirmed', 'ended']);
  const c = log.get('c1')!;
  assert.equal(c.state, 'ended');
  assert.equal(c.reason, 'BYE received');
  assert.equal(c.messages, 7);
  assert.ok(c.answer && c.end);
  assert.equal(log.activeCount, 0);
});

test('a branch failing while another rings does not fail a call we received; the final we sent does (RFC 3261 §16.7)', () => {
  const log = new CallLog();
  log.observe(obs(rec('received', 'c2', 'INVITE')));
  log.observe(obs(rec('received', 'c2', 'INVITE', 486)));
  assert.equal(log.get('c2')!.state, 'trying');
  log.observe(obs(rec('sent', 'c2', 'INVITE', 480), { reasonPhrase: 'Temporarily Unavailable' }));
  const c = log.get('c2')!;
  assert.equal(c.state, 'failed');
  assert.equal(c.status, 480);
  assert.equal(c.reason, 'Temporarily Unavailable');
});

test('an INVITE again after a 407 (same Call-ID) is the same call; B2BUA legs are listed once, by leg A', () => {
  const log = new CallLog();
  log.observe(obs(rec('received', 'a', 'INVITE')));
  log.observe(obs(rec('sent', 'a', 'INVITE', 407)));
  log.observe(obs(rec('received', 'a', 'INVITE')));
  log.observe(obs(rec('sent', 'b', 'INVITE')));
  log.link('a', 'b');
  const list = log.list();
  assert.deepEqual(list.map((c) => c.callId), ['a']);
  assert.deepEqual(list[0]!.legs, ['a', 'b']);
  assert.equal(list[0]!.state, 'trying');
  assert.deepEqual(log.legsOf('b'), ['a', 'b']);
});

test('bounded: at most maxActive calls under way and maxRecent ended ones', () => {
  const log = new CallLog({ maxActive: 3, maxRecent: 2 });
  for (let i = 0; i < 10; i++) log.observe(obs(rec('received', `x${i}`, 'INVITE')));
  assert.equal(log.activeCount, 3);
  assert.equal(log.list().length, 5);
});

test('the message buffer keeps the newest within its count and byte limits, by Call-ID', () => {
  const buf = new MessageBuffer({ count: 3, bytes: 1000 });
  for (let i = 0; i < 5; i++) buf.add(rec('received', `k${i % 2}`, 'OPTIONS'));
  assert.equal(buf.size, 3);
  assert.deepEqual(buf.messages('k0').map((r) => r.seq), [...buf.messages('k0')].map((r) => r.seq).sort((a, b) => a - b));
  assert.equal(buf.messages('k0').length + buf.messages('k1').length, 3);
  const big = new MessageBuffer({ count: 100, bytes: 50 });
  for (let i = 0; i < 10; i++) big.add({ ...rec('sent', 'b', 'INVITE'), bytes: Buffer.alloc(20) });
  assert.ok(big.bytes <= 50, `${big.bytes} bytes kept`);
  assert.equal(big.size, 2);
  const off = new MessageBuffer({ count: 0, bytes: 1000 });
  off.add(rec('sent', 'z', 'INVITE'));
  assert.equal(off.size, 0);
});
