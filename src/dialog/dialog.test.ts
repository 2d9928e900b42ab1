import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type HeaderList, type SipRequest, type SipResponse, buildRequest, buildResponseFrom, isTargetRefresh } from '../sip/index.js';
import { Dialog, dialogId } from './dialog.js';
import { DialogTable } from './dialog-table.js';

const VIA = 'SIP/2.0/UDP alice.example.com:5060;branch=z9hG4bKnashds8';

function invite(extra: HeaderList = [], opts: { uri?: string; cseq?: number; method?: string; toTag?: string } = {}): SipRequest {
  const method = opts.method ?? 'INVITE';
  return buildRequest({
    method,
    uri: opts.uri ?? 'sip:bob@biloxi.example.com',
    headers: [
      ['Via', VIA],
      ['Max-Forwards', '70'],
      ['From', '"Alice" <sip:alice@atlanta.example.com>;tag=a-tag'],
      ['To', `<sip:bob@biloxi.example.com>${opts.toTag ? `;tag=${opts.toTag}` : ''}`],
      ['Call-ID', 'call-1@atlanta.example.com'],
      ['CSeq', `${opts.cseq ?? 100} ${method}`],
      ['Contact', '<sip:alice@192.0.2.1:5060>'],
      ...extra,
    ],
  });
}

function response(status: number, req: SipRequest, extra: HeaderList = [], toTag = 'b-tag'): SipResponse {
  return buildResponseFrom({
    status,
    headers: [
      ['Via', req.header('Via')!],
      ['From', req.header('From')!],
      ['To', `${req.header('To')!.replace(/;tag=[^;]*/, '')};tag=${toTag}`],
      ['Call-ID', req.callId],
      ['CSeq', req.header('CSeq')!],
      ...extra,
    ],
  });
}

const LOCAL_CONTACT = '<sip:alice@192.0.2.1:5060>';

test('UAC dialog from a 200 with Record-Route: reversed route set, remote target from Contact', () => {
  const req = invite();
  const res = response(200, req, [
    ['Record-Route', '<sip:p3.example.com;lr>, <sip:p2.example.com;lr>'],
    ['Record-Route', '<sip:p1.example.com;lr>'],
    ['Contact', '<sip:bob@192.0.2.4:5062>'],
  ]);
  const d = Dialog.asUac(req, res, LOCAL_CONTACT);
  assert.equal(d.state, 'Confirmed');
  assert.equal(d.callId, 'call-1@atlanta.example.com');
  assert.equal(d.localTag, 'a-tag');
  assert.equal(d.remoteTag, 'b-tag');
  assert.equal(d.id, dialogId('call-1@atlanta.example.com', 'a-tag', 'b-tag'));
  assert.equal(d.localSeq, 100);
  assert.equal(d.remoteSeq, undefined);
  assert.equal(d.remoteTarget, 'sip:bob@192.0.2.4:5062');
  assert.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>', '<sip:p3.example.com;lr>']);
  assert.ok(!d.localUri.includes('tag='), d.localUri);
  assert.ok(!d.remoteUri.includes('tag='), d.remoteUri);
  assert.equal(d.secure, false);
});

test('UAC dialog from a 180 with a tag is Early; then Confirmed; then Terminated', () => {
  const req = invite();
  const d = Dialog.asUac(req, response(180, req, [['Contact', '<sip:bob@192.0.2.4>']]), LOCAL_CONTACT);
  assert.equal(d.state, 'Early');
  d.transition('Confirmed');
  assert.equal(d.state, 'Confirmed');
  assert.throws(() => d.transition('Early'), /Confirmed back to Early/);
  assert.equal(d.state, 'Confirmed');
  d.transition('Terminated');
  assert.equal(d.state, 'Terminated');
  d.transition('Confirmed'); // no way back from Terminated
  assert.equal(d.state, 'Terminated');
});

test('Early → Terminated directly (e.g. a 487 ends an early dialog)', () => {
  const req = invite();
  const d = Dialog.asUac(req, response(183, req, [['Contact', '<sip:bob@192.0.2.4>']]), LOCAL_CONTACT);
  d.transition('Terminated');
  assert.equal(d.state, 'Terminated');
});

test('sips Request-URI makes a secure dialog', () => {
  const req = invite([], { uri: 'sips:bob@biloxi.example.com' });
  const d = Dialog.asUac(req, response(200, req, [['Contact', '<sips:bob@192.0.2.4>']]), LOCAL_CONTACT);
  assert.equal(d.secure, true);
});

test('UAS dialog: route set in Record-Route order, remote target from the request Contact', () => {
  const req = invite([
    ['Record-Route', '<sip:p1.example.com;lr>'],
    ['Record-Route', '<sip:p2.example.com;lr>, <sip:p3.example.com;lr>'],
  ]);
  const d = Dialog.asUas(req, 'uas-tag', '<sip:bob@192.0.2.4>', 'Confirmed');
  assert.equal(d.localTag, 'uas-tag');
  assert.equal(d.remoteTag, 'a-tag');
  assert.equal(d.remoteSeq, 100);
  assert.equal(d.localSeq, undefined);
  assert.equal(d.remoteTarget, 'sip:alice@192.0.2.1:5060');
  assert.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>', '<sip:p3.example.com;lr>']);
  assert.match(d.localUri, /sip:bob@biloxi\.example\.com/);
  assert.match(d.remoteUri, /sip:alice@atlanta\.example\.com/);

  // A request from the UAS side: From = our (To) URI with our tag, To = their URI with their tag.
  const bye = d.createRequest('BYE', { via: 'SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKbye1' });
  assert.equal(bye.from.tag, 'uas-tag');
  assert.equal(bye.from.uriText, 'sip:bob@biloxi.example.com');
  assert.equal(bye.to.tag, 'a-tag');
  assert.equal(bye.to.uriText, 'sip:alice@atlanta.example.com');
  assert.equal(bye.uriText, 'sip:alice@192.0.2.1:5060');
  assert.deepEqual(bye.route.map((r) => r.uriText), ['sip:p1.example.com;lr', 'sip:p2.example.com;lr', 'sip:p3.example.com;lr']);
  assert.ok(bye.cseq.seq >= 1);
});

test('loose routing: Request-URI = remote target, Route = the route set', () => {
  const req = invite();
  const res = response(200, req, [
    ['Record-Route', '<sip:p2.example.com;lr>'],
    ['Record-Route', '<sip:p1.example.com;lr>'],
    ['Contact', '<sip:bob@192.0.2.4:5062;transport=tcp>'],
  ]);
  const d = Dialog.asUac(req, res, LOCAL_CONTACT);
  assert.deepEqual(d.requestTarget(), {
    requestUri: 'sip:bob@192.0.2.4:5062;transport=tcp',
    routes: ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'],
  });
  const bye = d.createRequest('BYE', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb1' });
  assert.equal(bye.uriText, 'sip:bob@192.0.2.4:5062;transport=tcp');
  assert.deepEqual(bye.route.map((r) => r.uriText), ['sip:p1.example.com;lr', 'sip:p2.example.com;lr']);
  assert.equal(bye.callId, req.callId);
  assert.equal(bye.from.tag, 'a-tag');
  assert.equal(bye.to.tag, 'b-tag');
  assert.equal(bye.from.displayName, 'Alice');
  assert.equal(bye.maxForwards, 70);
  assert.equal(bye.topVia.branch, 'z9hG4bKb1');
  assert.equal(bye.hasHeader('Contact'), false, 'BYE carries no Contact');
  bye.validate();

  const info = d.createRequest('INFO', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKi1', headers: [['Content-Type', 'application/dtmf-relay']], body: 'Signal=1\r\n' });
  assert.equal(info.contact[0]?.uriText, 'sip:alice@192.0.2.1:5060');
  assert.equal(info.contentType, 'application/dtmf-relay');
  assert.equal(info.body.toString(), 'Signal=1\r\n');
});

test('strict routing: first route without lr becomes the Request-URI, remote target appended last', () => {
  const req = invite();
  const res = response(200, req, [
    ['Record-Route', '<sip:p2.example.com;lr>'],
    ['Record-Route', '<sip:p1.example.com;maddr=192.0.2.50?Subject=x>'],
    ['Contact', '<sip:bob@192.0.2.4:5062>'],
  ]);
  const d = Dialog.asUac(req, res, LOCAL_CONTACT);
  const { requestUri, routes } = d.requestTarget();
  assert.equal(requestUri, 'sip:p1.example.com;maddr=192.0.2.50', 'URI headers are stripped from the Request-URI');
  assert.deepEqual(routes, ['<sip:p2.example.com;lr>', '<sip:bob@192.0.2.4:5062>']);
  const bye = d.createRequest('BYE', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs1' });
  assert.equal(bye.uriText, 'sip:p1.example.com;maddr=192.0.2.50');
  assert.deepEqual(bye.route.map((r) => r.uriText), ['sip:p2.example.com;lr', 'sip:bob@192.0.2.4:5062']);
  bye.validate();
});

test('no route set: Request-URI = remote target, no Route header', () => {
  const req = invite();
  const d = Dialog.asUac(req, response(200, req, [['Contact', '<sip:bob@192.0.2.4>']]), LOCAL_CONTACT);
  const bye = d.createRequest('BYE', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKn1' });
  assert.equal(bye.uriText, 'sip:bob@192.0.2.4');
  assert.equal(bye.hasHeader('Route'), false);
});

test('CSeq: each new request increments the local sequence; ACK reuses the INVITE number', () => {
  const req = invite([], { cseq: 100 });
  const d = Dialog.asUac(req, response(200, req, [['Contact', '<sip:bob@192.0.2.4>']]), LOCAL_CONTACT);
  const ack = d.createRequest('ACK', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1', cseq: req.cseq.seq });
  assert.deepEqual(ack.cseq, { seq: 100, method: 'ACK' });
  assert.equal(d.localSeq, 100, 'ACK does not consume a sequence number');
  assert.equal(ack.hasHeader('Contact'), false);
  const reinvite = d.createRequest('INVITE', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr1' });
  assert.deepEqual(reinvite.cseq, { seq: 101, method: 'INVITE' });
  assert.equal(reinvite.contact[0]?.uriText, 'sip:alice@192.0.2.1:5060', 'target refresh carries our Contact');
  const ack2 = d.createRequest('ACK', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa2', cseq: reinvite.cseq.seq });
  assert.deepEqual(ack2.cseq, { seq: 101, method: 'ACK' });
  const bye = d.createRequest('BYE', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb2' });
  assert.deepEqual(bye.cseq, { seq: 102, method: 'BYE' });
  assert.equal(d.localSeq, 102);
});

test('UAS side: the first local request picks a sequence number and then increments it', () => {
  const d = Dialog.asUas(invite(), 'uas-tag', '<sip:bob@192.0.2.4>', 'Confirmed');
  const r1 = d.createRequest('INFO', { via: 'SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1' });
  const r2 = d.createRequest('BYE', { via: 'SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK2' });
  assert.ok(Number.isInteger(r1.cseq.seq) && r1.cseq.seq > 0 && r1.cseq.seq < 2 ** 31);
  assert.equal(r2.cseq.seq, r1.cseq.seq + 1);
});

test('remote CSeq: increasing accepted, equal or lower rejected; ACK/CANCEL not checked', () => {
  const d = Dialog.asUas(invite([], { cseq: 100 }), 'uas-tag', '<sip:bob@192.0.2.4>', 'Confirmed');
  const inDialog = (method: string, cseq: number) => invite([], { method, cseq, toTag: 'uas-tag' });
  assert.equal(d.receiveRequest(inDialog('ACK', 100)), true);
  assert.equal(d.receiveRequest(inDialog('INFO', 101)), true);
  assert.equal(d.remoteSeq, 101);
  assert.equal(d.receiveRequest(inDialog('INFO', 99)), false, 'lower CSeq is out of order (§12.2.2)');
  assert.equal(d.receiveRequest(inDialog('INFO', 101)), false);
  assert.equal(d.remoteSeq, 101);
  assert.equal(d.receiveRequest(inDialog('BYE', 150)), true, 'gaps are allowed');
  assert.equal(d.remoteSeq, 150);
});

test('UAC dialog: the first request from the remote side sets the remote sequence number', () => {
  const req = invite();
  const d = Dialog.asUac(req, response(200, req, [['Contact', '<sip:bob@192.0.2.4>']]), LOCAL_CONTACT);
  assert.equal(d.remoteSeq, undefined);
  const bye = buildRequest({
    method: 'BYE',
    uri: 'sip:alice@192.0.2.1:5060',
    headers: [
      ['Via', 'SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKx'],
      ['From', '<sip:bob@biloxi.example.com>;tag=b-tag'],
      ['To', '<sip:alice@atlanta.example.com>;tag=a-tag'],
      ['Call-ID', req.callId],
      ['CSeq', '5 BYE'],
    ],
  });
  assert.equal(d.receiveRequest(bye), true);
  assert.equal(d.remoteSeq, 5);
});

test('target refresh: a re-INVITE (request) and a 2xx to our re-INVITE update the remote target', () => {
  const d = Dialog.asUas(invite(), 'uas-tag', '<sip:bob@192.0.2.4>', 'Confirmed');
  assert.equal(d.remoteTarget, 'sip:alice@192.0.2.1:5060');
  const reinv = buildRequest({
    method: 'INVITE',
    uri: 'sip:bob@192.0.2.4',
    headers: [
      ['Via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKre'],
      ['From', '<sip:alice@atlanta.example.com>;tag=a-tag'],
      ['To', '<sip:bob@biloxi.example.com>;tag=uas-tag'],
      ['Call-ID', 'call-1@atlanta.example.com'],
      ['CSeq', '101 INVITE'],
      ['Contact', '<sip:alice@198.51.100.7:5070>'],
    ],
  });
  assert.equal(d.receiveRequest(reinv), true);
  assert.equal(d.remoteTarget, 'sip:alice@198.51.100.7:5070');

  // INFO is not a target refresh: its Contact (if any) is ignored.
  const info = invite([['Contact', '<sip:evil@203.0.113.1>']], { method: 'INFO', cseq: 102, toTag: 'uas-tag' });
  assert.equal(d.receiveRequest(info), true);
  assert.equal(d.remoteTarget, 'sip:alice@198.51.100.7:5070');

  // UAC side: 2xx to a re-INVITE we sent.
  const req = invite();
  const u = Dialog.asUac(req, response(200, req, [['Contact', '<sip:bob@192.0.2.4>']]), LOCAL_CONTACT);
  const ours = u.createRequest('INVITE', { via: 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKo' });
  const ok = buildResponseFrom({
    status: 200,
    headers: [
      ['Via', ours.header('Via')!], ['From', ours.header('From')!], ['To', ours.header('To')!],
      ['Call-ID', ours.callId], ['CSeq', ours.header('CSeq')!], ['Contact', '<sip:bob@198.51.100.9>'],
    ],
  });
  u.receiveResponse(ok);
  assert.equal(u.remoteTarget, 'sip:bob@198.51.100.9');
  // A non-2xx, or a 2xx to a non-refresh request, changes nothing.
  const fail = buildResponseFrom({
    status: 488,
    headers: [['Via', ours.header('Via')!], ['From', ours.header('From')!], ['To', ours.header('To')!], ['Call-ID', ours.callId], ['CSeq', ours.header('CSeq')!], ['Contact', '<sip:x@203.0.113.2>']],
  });
  u.receiveResponse(fail);
  assert.equal(u.remoteTarget, 'sip:bob@198.51.100.9');
});

test('the route set is fixed at dialog creation', () => {
  const d = Dialog.asUas(invite([['Record-Route', '<sip:p1.example.com;lr>']]), 'uas-tag', '<sip:bob@192.0.2.4>', 'Confirmed');
  const reinv = invite([['Record-Route', '<sip:other.example.com;lr>'], ['Contact', '<sip:alice@192.0.2.1>']], { cseq: 101, toTag: 'uas-tag' });
  d.receiveRequest(reinv);
  assert.deepEqual(d.routeSet, ['<sip:p1.example.com;lr>']);
});

test('isTargetRefresh and DialogTable lookups', () => {
  for (const m of ['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']) assert.equal(isTargetRefresh(m), true, m);
  for (const m of ['BYE', 'INFO', 'MESSAGE', 'ACK', 'PRACK']) assert.equal(isTargetRefresh(m), false, m);
  const t = new DialogTable<{ dialog: Dialog }>(1);
  const d = Dialog.asUas(invite(), 'uas-tag', '<sip:bob@192.0.2.4>', 'Confirmed');
  const e = { dialog: d };
  assert.equal(t.add(e), true);
  assert.equal(t.get('call-1@atlanta.example.com', 'uas-tag', 'a-tag'), e);
  assert.equal(t.get('call-1@atlanta.example.com', 'a-tag', 'uas-tag'), undefined);
  const other = Dialog.asUas(invite(), 'x-tag', '<sip:bob@192.0.2.4>', 'Confirmed');
  assert.equal(t.add({ dialog: other }), false, 'bounded table refuses beyond its size');
  t.remove(e);
  assert.equal(t.size, 0);
});
