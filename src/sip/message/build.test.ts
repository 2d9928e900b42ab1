import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRequest, buildResponseFrom, createResponse } from './build.js';
import { parseMessage } from '../parse/parse-message.js';
import { SipRequest } from './sip-request.js';
import { SipResponse } from './sip-response.js';
import type { SipUri } from '../uri/sip-uri.js';

const HEADERS: Array<[string, string]> = [
  ['Via', 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds'],
  ['Via', 'SIP/2.0/TCP proxy.example.com:5070;branch=z9hG4bKp1, SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKp2'],
  ['Max-Forwards', '70'],
  ['To', 'Bob <sip:bob@biloxi.example.com>'],
  ['From', '"Alice \\"A\\"" <sip:alice@atlanta.example.com>;tag=1928301774'],
  ['Call-ID', 'a84b4c76e66710@pc33.atlanta.example.com'],
  ['CSeq', '314159 INVITE'],
  ['Contact', '<sip:alice@pc33.atlanta.example.com>'],
  ['Timestamp', '54'],
];

function invite(body?: string | Buffer, extra: Array<[string, string]> = []) {
  return buildRequest({ method: 'INVITE', uri: 'sip:bob@biloxi.example.com;transport=tcp', headers: [...HEADERS, ...extra], body });
}

test('buildRequest round trip: serialise → parse gives the same fields', () => {
  const body = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n';
  const r = invite(body, [['Content-Type', 'application/sdp']]);
  assert.ok(r instanceof SipRequest);
  const again = parseMessage(r.toBuffer(), { framing: 'stream' }) as SipRequest;
  for (const m of [r, again]) {
    assert.equal(m.method, 'INVITE');
    assert.equal(m.uriText, 'sip:bob@biloxi.example.com;transport=tcp');
    assert.equal((m.uri as SipUri).transport, 'tcp');
    assert.equal(m.topVia.branch, 'z9hG4bK776asdhds');
    assert.deepEqual(m.via.map((v) => v.branch), ['z9hG4bK776asdhds', 'z9hG4bKp1', 'z9hG4bKp2']);
    assert.equal(m.from.displayName, 'Alice "A"');
    assert.equal(m.from.tag, '1928301774');
    assert.equal(m.to.uriText, 'sip:bob@biloxi.example.com');
    assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
    assert.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
    assert.equal(m.maxForwards, 70);
    assert.equal(m.contentType, 'application/sdp');
    assert.equal(m.body.toString(), body);
    assert.equal(m.header('Content-Length'), String(Buffer.byteLength(body)));
    m.validate();
  }
  assert.deepEqual(again.headerLines(), r.headerLines());
  const text = r.toString();
  assert.ok(text.startsWith('INVITE sip:bob@biloxi.example.com;transport=tcp SIP/2.0\r\nVia: SIP/2.0/UDP pc33'));
  assert.ok(text.endsWith('\r\n\r\n' + body));
});

test('Content-Length is always the real body length, whatever was supplied', () => {
  const withWrong = invite('12345', [['Content-Length', '999'], ['l', '2'], ['content-length', '0']]);
  assert.equal(withWrong.countHeader('Content-Length'), 1);
  assert.equal(withWrong.header('Content-Length'), '5');
  assert.equal(withWrong.body.toString(), '12345');
  const noBody = invite(undefined, [['Content-Length', '42']]);
  assert.equal(noBody.header('Content-Length'), '0');
  assert.equal(noBody.body.length, 0);
  const utf8 = invite('héllo €');
  assert.equal(utf8.header('Content-Length'), String(Buffer.byteLength('héllo €')));
  assert.equal(utf8.header('Content-Length'), '10');
  assert.equal(utf8.body.toString('utf8'), 'héllo €');
  const bin = Buffer.from([0, 1, 2, 13, 10, 13, 10, 255]);
  const b = invite(bin);
  assert.equal(b.header('Content-Length'), '8');
  assert.deepEqual([...b.body], [...bin]);
  // Stream framing needs the header and gets the right one.
  assert.equal(parseMessage(b.toBuffer(), { framing: 'stream' }).body.length, 8);
});

test('buildResponseFrom: default and custom reason phrases', () => {
  const r = buildResponseFrom({ status: 486, headers: HEADERS.slice(0, 7) });
  assert.ok(r instanceof SipResponse);
  assert.equal(r.status, 486);
  assert.equal(r.reason, 'Busy Here');
  const c = buildResponseFrom({ status: 299, reason: 'Fancy Thing', headers: HEADERS.slice(0, 7), body: 'x' });
  assert.equal(c.reason, 'Fancy Thing');
  assert.equal(c.body.toString(), 'x');
  assert.equal(buildResponseFrom({ status: 299, headers: [] }).reason, 'OK');
});

test('createResponse copies Via, From, To, Call-ID, CSeq and adds a To tag', () => {
  const req = invite();
  const res = createResponse(req, 180, { toTag: 'as83kd9bs' });
  assert.ok(res instanceof SipResponse);
  assert.equal(res.status, 180);
  assert.equal(res.reason, 'Ringing');
  assert.deepEqual(res.viaValues(), req.viaValues());
  assert.deepEqual(res.viaValues(), [
    'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
    'SIP/2.0/TCP proxy.example.com:5070;branch=z9hG4bKp1',
    'SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKp2',
  ]);
  assert.equal(res.header('From'), req.header('From'));
  assert.equal(res.from.tag, '1928301774');
  assert.equal(res.header('To'), 'Bob <sip:bob@biloxi.example.com>;tag=as83kd9bs');
  assert.equal(res.to.tag, 'as83kd9bs');
  assert.equal(res.to.uriText, 'sip:bob@biloxi.example.com');
  assert.equal(res.callId, req.callId);
  assert.deepEqual(res.cseq, { seq: 314159, method: 'INVITE' });
  assert.equal(res.header('Timestamp'), undefined);
  assert.equal(res.header('Contact'), undefined);
  assert.equal(res.header('Max-Forwards'), undefined);
  assert.equal(res.contentLength, 0);
  res.validate();
});

test('createResponse: 100 gets no tag but echoes Timestamp; existing To tag is kept', () => {
  const req = invite();
  const trying = createResponse(req, 100, { toTag: 'zzz' });
  assert.equal(trying.reason, 'Trying');
  assert.equal(trying.to.tag, undefined);
  assert.equal(trying.header('Timestamp'), '54');
  const inDialog = buildRequest({
    method: 'BYE', uri: 'sip:alice@pc33.atlanta.example.com',
    headers: HEADERS.map(([n, v]): [string, string] => [n, n === 'To' ? v + ';tag=existing' : n === 'CSeq' ? '2 BYE' : v]),
  });
  const ok = createResponse(inDialog, 200, { toTag: 'new' });
  assert.equal(ok.to.tag, 'existing');
  assert.equal(ok.countHeader('To'), 1);
  assert.deepEqual(ok.cseq, { seq: 2, method: 'BYE' });
});

test('createResponse: topVia override, extra headers, body and reason', () => {
  const req = invite();
  const res = createResponse(req, 200, {
    toTag: 't1',
    reason: 'Fine',
    topVia: 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.4;rport=5062',
    headers: [['Contact', '<sip:bob@192.0.2.9>'], ['Content-Type', 'application/sdp'], ['Content-Length', '77']],
    body: 'v=0\r\n',
  });
  assert.equal(res.reason, 'Fine');
  assert.equal(res.topVia.received, '192.0.2.4');
  assert.equal(res.topVia.rport, 5062);
  assert.equal(res.via.length, 3);
  assert.equal(res.via[1]!.branch, 'z9hG4bKp1');
  assert.equal(res.contact[0]!.uriText, 'sip:bob@192.0.2.9');
  assert.equal(res.header('Content-Length'), '5');
  assert.equal(res.body.toString(), 'v=0\r\n');
});

test('createResponse works for a request whose To is malformed (raw copy)', () => {
  const raw = Buffer.from([
    'OPTIONS sip:a@example.com SIP/2.0',
    'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKbad',
    'To: "unterminated <sip:a@example.com>',
    'From: <sip:b@example.com>;tag=f',
    'Call-ID: bad-to',
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '', '',
  ].join('\r\n'));
  const req = parseMessage(raw) as SipRequest;
  const res = createResponse(req, 400, { toTag: 'x', reason: 'Bad To' });
  assert.equal(res.status, 400);
  assert.equal(res.header('To'), '"unterminated <sip:a@example.com>;tag=x');
  assert.equal(res.callId, 'bad-to');
  assert.equal(res.topVia.branch, 'z9hG4bKbad');
});
