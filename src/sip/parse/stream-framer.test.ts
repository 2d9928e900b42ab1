import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SipParseError } from '../errors.js';
import { StreamFramer, type FrameEvent } from './stream-framer.js';
import { parseMessage } from './parse-message.js';
import type { SipRequest } from '../message/sip-request.js';

function message(n: number, body = '', clName = 'Content-Length'): Buffer {
  const lines = [
    `MESSAGE sip:bob@example.com SIP/2.0`,
    `Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK${n}`,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=a',
    'To: <sip:bob@example.com>',
    `Call-ID: call-${n}@example.com`,
    `CSeq: ${n} MESSAGE`,
    `${clName}: ${Buffer.byteLength(body)}`,
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body);
}

function messages(evs: FrameEvent[]): Buffer[] {
  return evs.flatMap((e) => (e.kind === 'message' ? [e.bytes] : []));
}

test('a whole message in one chunk', () => {
  const f = new StreamFramer();
  const m = message(1, 'hello');
  const out = f.push(m);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.kind, 'message');
  assert.deepEqual(messages(out)[0], m);
  assert.equal(f.pending, 0);
});

test('partial reads byte by byte', () => {
  const f = new StreamFramer();
  const m = message(7, 'body with\r\n\r\ninside');
  const got: Buffer[] = [];
  for (let i = 0; i < m.length; i++) {
    const out = f.push(m.subarray(i, i + 1));
    got.push(...messages(out));
    if (i < m.length - 1) {
      assert.equal(out.length, 0, `nothing before the last byte (at ${i})`);
      assert.equal(f.pending, i + 1);
    }
  }
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], m);
  assert.equal(f.pending, 0);
  const parsed = parseMessage(got[0]!, { framing: 'stream' }) as SipRequest;
  assert.equal(parsed.body.toString(), 'body with\r\n\r\ninside');
  assert.equal(parsed.cseq.seq, 7);
});

test('pipelined messages in one chunk, and a split across chunks', () => {
  const f = new StreamFramer();
  const a = message(1, 'aaa');
  const b = message(2);
  const c = message(3, 'ccccc', 'l');
  const all = Buffer.concat([a, b, c]);
  const out = f.push(all);
  assert.deepEqual(messages(out), [a, b, c]);

  const g = new StreamFramer();
  const cut = a.length + 10;
  const first = messages(g.push(all.subarray(0, cut)));
  assert.deepEqual(first, [a]);
  assert.equal(g.pending, 10);
  const rest = messages(g.push(all.subarray(cut)));
  assert.deepEqual(rest, [b, c]);
  for (const [i, m] of rest.entries()) assert.equal(parseMessage(m, { framing: 'stream' }).cseq.seq, i + 2);
});

test('the emitted bytes are a copy, independent of later pushes', () => {
  const f = new StreamFramer();
  const src = Buffer.concat([message(1), message(2).subarray(0, 5)]);
  const [ev] = f.push(src);
  assert.ok(ev && ev.kind === 'message');
  src.fill(0x41);
  assert.equal(ev.bytes.subarray(0, 7).toString(), 'MESSAGE');
});

test('CRLF keep-alives between messages are skipped without events', () => {
  const f = new StreamFramer();
  const a = message(1);
  const b = message(2);
  const out = f.push(Buffer.concat([Buffer.from('\r\n'), a, Buffer.from('\r\n'), b]));
  assert.deepEqual(out.map((e) => e.kind), ['message', 'message']);
  assert.deepEqual(messages(out), [a, b]);
  assert.deepEqual(f.push(Buffer.from('\r\n')), []);
  assert.equal(f.pending, 0);
});

test('a CRLFCRLF ping is reported (RFC 5626 §3.5.1)', () => {
  const f = new StreamFramer();
  assert.deepEqual(f.push(Buffer.from('\r\n\r\n')), [{ kind: 'ping' }]);
  assert.equal(f.pending, 0);
  const a = message(1);
  const out = f.push(Buffer.concat([Buffer.from('\r\n\r\n'), a, Buffer.from('\r\n\r\n')]));
  assert.deepEqual(out.map((e) => e.kind), ['ping', 'message', 'ping']);
  assert.deepEqual(messages(out), [a]);
});

test('missing Content-Length on a stream is a framing error', () => {
  const f = new StreamFramer();
  const noCl = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: x\r\n\r\n');
  assert.throws(() => f.push(noCl), (e: unknown) => e instanceof SipParseError && e.status === 400 && e.code === 'SIP_ERR_CONTENT_LENGTH');
});

test('negative or conflicting Content-Length is a framing error', () => {
  const bad = Buffer.from(message(1, 'abc').toString().replace('Content-Length: 3', 'Content-Length: -3'));
  assert.throws(() => new StreamFramer().push(bad), (e: unknown) => e instanceof SipParseError && e.status === 400);
  const conflict = Buffer.from(message(1, 'abc').toString().replace('Content-Length: 3', 'Content-Length: 3\r\nl: 5'));
  assert.throws(() => new StreamFramer().push(conflict), (e: unknown) => e instanceof SipParseError && e.code === 'SIP_ERR_CONTENT_LENGTH');
});

test('oversize: a declared length over the limit is 513 before the body arrives', () => {
  const f = new StreamFramer();
  const head = message(1, '').toString().replace('Content-Length: 0', 'Content-Length: 70000');
  assert.throws(() => f.push(Buffer.from(head)), (e: unknown) => e instanceof SipParseError && e.status === 513 && e.code === 'SIP_ERR_TOO_LARGE');
});

test('oversize: endless headers without CRLFCRLF are 513', () => {
  const f = new StreamFramer(1000);
  assert.deepEqual(f.push(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n')), []);
  assert.throws(() => {
    for (let i = 0; i < 100; i++) f.push(Buffer.from(`X-Filler-${i}: ${'y'.repeat(20)}\r\n`));
  }, (e: unknown) => e instanceof SipParseError && e.status === 513);
});

test('a message of exactly the limit passes, one byte more is 513', () => {
  const m = message(1, 'x'.repeat(100));
  assert.equal(messages(new StreamFramer(m.length).push(m)).length, 1);
  assert.throws(() => new StreamFramer(m.length - 1).push(m), (e: unknown) => e instanceof SipParseError && e.status === 513);
});

test('a CRLFCRLF ping split across reads is still reported (RFC 5626 §3.5.1)', () => {
  // Every split point of the four bytes.
  for (const cut of [1, 2, 3]) {
    const f = new StreamFramer();
    const ping = Buffer.from('\r\n\r\n');
    assert.deepEqual(f.push(ping.subarray(0, cut)), [], `cut ${cut}: nothing decided yet`);
    assert.equal(f.pending, 0, 'a held CR/LF tail is not a pending message');
    assert.deepEqual(f.push(ping.subarray(cut)), [{ kind: 'ping' }], `cut ${cut}`);
    assert.equal(f.pending, 0);
  }
  // Byte by byte, after a message, then a message follows.
  const f = new StreamFramer();
  const a = message(1);
  const b = message(2);
  const events: FrameEvent[] = [];
  events.push(...f.push(a));
  for (const byte of Buffer.from('\r\n\r\n')) events.push(...f.push(Buffer.from([byte])));
  events.push(...f.push(b));
  assert.deepEqual(events.map((e) => e.kind), ['message', 'ping', 'message']);
  assert.deepEqual(messages(events), [a, b]);
  // Two pings in one read are two pings.
  assert.deepEqual(new StreamFramer().push(Buffer.from('\r\n\r\n\r\n\r\n')), [{ kind: 'ping' }, { kind: 'ping' }]);
});

test('a single CRLF (pong) is skipped, also when split or followed by a message', () => {
  const f = new StreamFramer();
  assert.deepEqual(f.push(Buffer.from('\r')), []);
  assert.deepEqual(f.push(Buffer.from('\n')), []);
  const a = message(1);
  const out = f.push(a);
  assert.deepEqual(out.map((e) => e.kind), ['message']);
  assert.deepEqual(messages(out), [a]);
  assert.equal(f.pending, 0);
  // A CRLF then the start of a message in the same read.
  const g = new StreamFramer();
  const ev = g.push(Buffer.concat([Buffer.from('\r\n'), a]));
  assert.deepEqual(ev.map((e) => e.kind), ['message']);
});
