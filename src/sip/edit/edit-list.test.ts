import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../parse/parse-message.js';
import type { SipRequest } from '../message/sip-request.js';
import { EditList, firstValueEnd } from './edit-list.js';
import { H } from '../message/header-names.js';

const msg = (lines: string[], body = ''): SipRequest =>
  parseMessage(Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8')) as SipRequest;

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds , SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKa',
  'Max-Forwards:   70',
  'Route: <sip:p1.example.com;lr>',
  'X-Unknown:  kept   as  written ',
  'f: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  't: Bob <sip:bob@biloxi.example.com>',
  'i: a84b4c76e66710',
  'CSeq: 314159 INVITE',
  'Subject: folded',
  '  over two lines',
  'l: 4',
];

test('no edits: the bytes come out unchanged', () => {
  const m = msg(INVITE, 'body');
  assert.deepEqual(new EditList(m).toBuffer(), m.raw);
});

test('start line, prepended and appended lines, one line replaced and one deleted; the rest byte for byte', () => {
  const m = msg(INVITE, 'body');
  const keys = Array.from({ length: m.headerCount }, (_, j) => m.lineKey(j));
  const e = new EditList(m)
    .setStartLine('INVITE sip:bob@192.0.2.4 SIP/2.0')
    .prependHeader('Via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp')
    .prependHeader('Record-Route', '<sip:proxy.example.com;lr>')
    .replaceLine(keys.indexOf(H.maxForwards), 'Max-Forwards', '69')
    .deleteLine(keys.indexOf(H.route))
    .appendHeader('Route', '<sip:p2.example.com;lr>');
  const out = e.toBuffer().toString('utf8');
  assert.equal(
    out,
    [
      'INVITE sip:bob@192.0.2.4 SIP/2.0',
      'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp',
      'Record-Route: <sip:proxy.example.com;lr>',
      INVITE[1],
      'Max-Forwards: 69',
      ...INVITE.slice(4),
      'Route: <sip:p2.example.com;lr>',
      '',
      'body',
    ].join('\r\n'),
  );
  const again = parseMessage(Buffer.from(out)) as SipRequest;
  assert.equal(again.maxForwards, 69);
  assert.equal(again.header('X-Unknown'), 'kept   as  written');
  assert.equal(again.header('Subject'), 'folded over two lines');
  assert.equal(again.body.toString(), 'body');
});

test('a folded line is deleted with its continuation lines', () => {
  const m = msg(INVITE, 'body');
  const subject = Array.from({ length: m.headerCount }, (_, j) => j).find((j) => m.raw.toString('latin1', m.lineStart(j), m.lineStart(j) + 8) === 'Subject:')!;
  const out = new EditList(m).deleteLine(subject).toBuffer().toString('utf8');
  assert.ok(!out.includes('Subject') && !out.includes('over two lines'), out);
  assert.equal((parseMessage(Buffer.from(out)) as SipRequest).header('Content-Length'), '4');
});

test('bytes after Content-Length in a datagram are not forwarded', () => {
  const m = msg(INVITE, 'bodyGARBAGE');
  assert.equal(m.body.toString(), 'body');
  assert.ok(new EditList(m).toBuffer().toString().endsWith('\r\n\r\nbody'));
});

test('firstValueEnd: a comma inside a quoted string does not separate values', () => {
  const b = Buffer.from('SIP/2.0/UDP a;x="1,2" , SIP/2.0/UDP b');
  assert.equal(firstValueEnd(b, 0, b.length), b.indexOf(' , ') + 1);
  const one = Buffer.from('SIP/2.0/UDP a;x="q\\"," ');
  assert.equal(firstValueEnd(one, 0, one.length), one.length);
});

test('a datagram that ends in its last header line (no CRLF, no empty line): appended headers and the empty line are set apart', () => {
  for (const end of ['Content-Length: 0', 'Content-Length: 0\r\n', 'CSeq: 1 OPTIONS']) {
    const text = ['OPTIONS sip:b@example.com SIP/2.0', 'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1', 'From: <sip:a@example.com>;tag=1', 'To: <sip:b@example.com>', 'Call-ID: c1', ...(end.startsWith('CSeq') ? [] : ['CSeq: 1 OPTIONS']), end].join('\r\n');
    const m = parseMessage(Buffer.from(text));
    const out = new EditList(m).prependHeader('Via', 'SIP/2.0/UDP p.example.com;branch=z9hG4bK2').appendHeader('Max-Forwards', '69').toBuffer();
    const again = parseMessage(out, { framing: end.startsWith('Content-Length') ? 'stream' : 'datagram' });
    assert.equal(again.header('Max-Forwards'), '69', JSON.stringify(end));
    assert.equal(again.via.length, 2);
    assert.equal(again.cseq.seq, 1);
    assert.ok(out.toString().endsWith('\r\n\r\n'), JSON.stringify(out.toString().slice(-20)));
  }
});

test('setBody: a new body, its length in the (compact) Content-Length, every other byte as received', () => {
  const raw = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nl: 5\r\nX-Keep:  as  is\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n';
  const msg = parseMessage(Buffer.from(raw));
  const body = Buffer.from('v=0\r\nc=IN IP4 203.0.113.1\r\n');
  const out = new EditList(msg).setBody(body).toBuffer().toString();
  assert.equal(out, `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nContent-Length: ${body.length}\r\nX-Keep:  as  is\r\nContent-Type: application/sdp\r\n\r\n${body}`);
  const reparsed = parseMessage(Buffer.from(out));
  assert.equal(reparsed.body.toString(), body.toString());
  // Without a Content-Length line, one is added.
  const bare = parseMessage(Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n\r\n'));
  assert.match(new EditList(bare).setBody(body).toBuffer().toString(), new RegExp(`\\r\\nContent-Length: ${body.length}\\r\\n\\r\\nv=0`));
});
