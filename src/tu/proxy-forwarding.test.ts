import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type SipRequest, type SipResponse, parseMessage } from '../sip/index.js';
import { forwardedRequest, withoutTopVia } from './proxy-forwarding.js';

const parse = (text: string) => parseMessage(Buffer.from(text.replace(/\n/g, '\r\n'), 'utf8'));

test('forwardedRequest (§16.6): new Request-URI, Via and Record-Route on top, Route recomputed, Max-Forwards - 1, the rest as received', () => {
  const req = parse(`OPTIONS sip:bob@example.com SIP/2.0
v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport , SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKb
Route: <sip:proxy.example.com;lr>, <sip:next.example.com;lr>
Max-Forwards: 10
f: <sip:alice@example.com>;tag=1
t: <sip:bob@example.com>
i: fwd-1
CSeq: 1 OPTIONS
X-Odd:   spacing  kept

`) as SipRequest;
  req.receivedTopVia = 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport=5062;received=198.51.100.7';
  const fwd = forwardedRequest(req, {
    uri: 'sip:bob@198.51.100.20', via: 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKsb1', recordRoute: ['<sip:proxy.example.com;lr>'],
    routes: ['<sip:next.example.com;lr>'], receivedVia: true,
  });
  const text = fwd.raw.toString();
  assert.equal(fwd.uriText, 'sip:bob@198.51.100.20');
  assert.deepEqual(fwd.viaValues(), [
    'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKsb1',
    'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa;rport=5062;received=198.51.100.7',
    'SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKb',
  ]);
  assert.deepEqual(fwd.headers('Record-Route'), ['<sip:proxy.example.com;lr>']);
  assert.deepEqual(fwd.headers('Route'), ['<sip:next.example.com;lr>']);
  assert.equal(fwd.maxForwards, 9);
  assert.ok(text.includes('\r\nf: <sip:alice@example.com>;tag=1\r\n'), 'compact forms as written');
  assert.ok(text.includes('\r\nX-Odd:   spacing  kept\r\n'), 'unknown headers byte for byte');
  assert.equal(fwd.header('Content-Length'), '0', 'a request without Content-Length gets one (the next hop may be a stream)');
});

test('forwardedRequest: Max-Forwards 70 when absent; the body and its Content-Length unchanged', () => {
  const req = parse(`MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKm
From: <sip:alice@example.com>;tag=1
To: <sip:bob@example.com>
Call-ID: fwd-2
CSeq: 1 MESSAGE
Content-Type: text/plain
Content-Length: 5

hello`) as SipRequest;
  const fwd = forwardedRequest(req, { uri: 'sip:bob@192.0.2.2', via: 'SIP/2.0/UDP p;branch=z9hG4bKx', recordRoute: [], routes: [], receivedVia: false });
  assert.equal(fwd.maxForwards, 70);
  assert.equal(fwd.body.toString(), 'hello');
  assert.equal(fwd.headers('Content-Length').length, 1);
});

test('withoutTopVia (§16.7 step 3): the top Via value goes, on its own line or first of several', () => {
  const own = parse(`SIP/2.0 200 OK
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKsb1
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa;received=198.51.100.7
From: <sip:alice@example.com>;tag=1
To: <sip:bob@example.com>;tag=2
Call-ID: r-1
CSeq: 1 OPTIONS
Content-Length: 0

`) as SipResponse;
  assert.deepEqual(withoutTopVia(own).viaValues(), ['SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa;received=198.51.100.7']);
  const shared = parse(`SIP/2.0 180 Ringing
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKsb1, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa
From: <sip:alice@example.com>;tag=1
To: <sip:bob@example.com>;tag=2
Call-ID: r-2
CSeq: 1 INVITE
Content-Length: 0

`) as SipResponse;
  const up = withoutTopVia(shared);
  assert.deepEqual(up.viaValues(), ['SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa']);
  assert.equal(up.status, 180);
  assert.equal(up.reason, 'Ringing');
});

test('withoutTopVia: a Via line followed by a blank continuation line goes with it (found by the black-box campaign)', () => {
  const tail = ['From: <sip:a@x>;tag=1', 'To: <sip:b@y>;tag=2', 'Call-ID: c1', 'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n');
  for (const [top, second] of [
    ['Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsb1.1\r\n \r\n', 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n'],
    ['Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKsb1.1\r\r\n\t\n', 'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n'],
  ] as const) {
    const res = parseMessage(Buffer.from(`SIP/2.0 200 OK\r\n${top}${second}${tail}`)) as SipResponse;
    const fwd = withoutTopVia(res);
    assert.deepEqual(fwd.via.map((v) => v.branch), ['z9hG4bKa']);
    assert.equal(fwd.callId, 'c1');
  }
});
