import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DialogSet, OperationQueue } from '../../dialog/index.js';
import { InvalidStateError } from '../../sdp/index.js';
import { type SipRequest, type SipResponse, parseMessage } from '../../sip/index.js';
import { MethodRouter } from '../../tu/index.js';
import { SessionOfferAnswer } from './session-offer-answer.js';

const parse = (lines: string[]) => parseMessage(Buffer.from(lines.join('\r\n') + '\r\n\r\n'));

const INVITE = parse([
  'INVITE sip:bob@192.0.2.2 SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKinv',
  'From: <sip:alice@192.0.2.1>;tag=a1',
  'To: <sip:bob@192.0.2.2>',
  'Call-ID: set-1',
  'CSeq: 7 INVITE',
  'Contact: <sip:alice@192.0.2.1>',
  'Content-Length: 0',
]) as SipRequest;

const reply = (status: number, tag: string | undefined, contact: string) =>
  parse([
    `SIP/2.0 ${status} X`,
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKinv',
    'From: <sip:alice@192.0.2.1>;tag=a1',
    `To: <sip:bob@192.0.2.2>${tag ? `;tag=${tag}` : ''}`,
    'Call-ID: set-1',
    'CSeq: 7 INVITE',
    `Contact: <${contact}>`,
    'Content-Length: 0',
  ]) as SipResponse;

test('SessionOfferAnswer: offer in the INVITE, answer in the 2xx; the carrier is known; stable after', () => {
  const oa = new SessionOfferAnswer();
  oa.localOffer('v=0 offer', { method: 'INVITE', cseq: 1 });
  assert.equal(oa.state, 'have-local-offer');
  assert.ok(oa.carriedBy('INVITE', 1));
  assert.ok(!oa.carriedBy('INVITE', 2));
  oa.remoteAnswer('v=0 answer');
  assert.equal(oa.state, 'stable');
  assert.equal(oa.localSdp, 'v=0 offer');
  assert.equal(oa.remoteSdp, 'v=0 answer');
  assert.equal(oa.openOffer, undefined);
});

test('SessionOfferAnswer: an offer crossing ours is glare (InvalidStateError); a failed re-INVITE rolls back to what was in force', () => {
  const oa = new SessionOfferAnswer();
  oa.remoteOffer('r1', { method: 'INVITE', cseq: 1 });
  oa.localAnswer('l1');
  oa.localOffer('l2 hold', { method: 'INVITE', cseq: 2 });
  assert.throws(() => oa.remoteOffer('r2', { method: 'INVITE', cseq: 5 }), InvalidStateError);
  assert.throws(() => oa.localOffer('l3', { method: 'UPDATE', cseq: 3 }), InvalidStateError);
  oa.rollback({ method: 'INVITE', cseq: 9 }); // another transaction: nothing happens
  assert.equal(oa.state, 'have-local-offer');
  oa.rollback({ method: 'INVITE', cseq: 2 });
  assert.equal(oa.state, 'stable');
  assert.equal(oa.localSdp, 'l1');
  assert.equal(oa.remoteSdp, 'r1');
  assert.throws(() => oa.remoteAnswer('stray'), InvalidStateError, 'an answer with no offer open (RFC 6337 §3.1)');
});

test('DialogSet: one early dialog per To tag (forks), the first 2xx confirms its own, a later one is not first', () => {
  const set = new DialogSet(INVITE, '<sip:alice@192.0.2.1>');
  assert.equal(set.early(reply(100, undefined, 'sip:x@192.0.2.9')), undefined, '100 creates no dialog');
  const d1 = set.early(reply(180, 'b1', 'sip:bob@192.0.2.2'))!;
  const d2 = set.early(reply(183, 'b2', 'sip:bob@192.0.2.3'))!;
  assert.notEqual(d1, d2);
  assert.equal(set.early(reply(180, 'b1', 'sip:bob@192.0.2.2')), d1, 'the same tag names the same early dialog');
  assert.equal(d1.state, 'Early');
  const first = set.answered(reply(200, 'b2', 'sip:bob@192.0.2.33'));
  assert.equal(first.dialog, d2);
  assert.ok(first.first);
  assert.equal(d2.state, 'Confirmed');
  assert.equal(d2.remoteTarget, 'sip:bob@192.0.2.33', 'the 2xx Contact is the remote target');
  const second = set.answered(reply(200, 'b1', 'sip:bob@192.0.2.2'));
  assert.equal(second.first, false);
  assert.equal(set.confirmed, d2);
  set.terminateEarly();
  assert.equal(d2.state, 'Confirmed');
  assert.equal(d1.state, 'Terminated', 'a dialog another fork confirmed is not the session; it ends');
});

test('OperationQueue: operations run one at a time in order, a failed one does not stop the next', async () => {
  const q = new OperationQueue();
  const log: string[] = [];
  const op = (name: string, ms: number, fail = false) => () =>
    new Promise<string>((resolve, reject) => {
      log.push(`start ${name}`);
      setTimeout(() => {
        log.push(`end ${name}`);
        if (fail) reject(new Error(name));
        else resolve(name);
      }, ms);
    });
  const a = q.run(op('a', 20));
  const b = q.run(op('b', 1, true));
  const c = q.run(op('c', 1));
  assert.equal(q.pending, 3);
  assert.equal(await a, 'a');
  await assert.rejects(b);
  assert.equal(await c, 'c');
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('MethodRouter: a dialog owner first, then the first rule that matches; ACK and CANCEL follow INVITE rules', () => {
  const router = new MethodRouter([
    { tu: 'registrar', methods: ['REGISTER'] },
    { tu: 'local', requestUri: 'server' },
    { tu: 'b2bua', methods: ['INVITE'], requestUri: 'user' },
    { tu: 'proxy' },
  ]);
  const req = (method: string, uri: string, toTag?: string) =>
    parse([`${method} ${uri} SIP/2.0`, 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr', 'From: <sip:a@x>;tag=1', `To: <sip:b@y>${toTag ? `;tag=${toTag}` : ''}`, 'Call-ID: r', `CSeq: 1 ${method}`, 'Content-Length: 0']) as SipRequest;
  const ctx = { addressedToServer: (r: SipRequest) => r.uri.kind === 'sip' && r.uri.user === undefined, dialogOwner: (r: SipRequest) => (r.to.tag === 'ours' ? 'ua' : undefined) };
  assert.equal(router.select(req('REGISTER', 'sip:example.com'), ctx), 'registrar');
  assert.equal(router.select(req('OPTIONS', 'sip:example.com'), ctx), 'local');
  assert.equal(router.select(req('INVITE', 'sip:bob@example.com'), ctx), 'b2bua');
  assert.equal(router.select(req('ACK', 'sip:bob@example.com'), ctx), 'b2bua');
  assert.equal(router.select(req('CANCEL', 'sip:bob@example.com'), ctx), 'b2bua');
  assert.equal(router.select(req('MESSAGE', 'sip:bob@example.com'), ctx), 'proxy');
  assert.equal(router.select(req('BYE', 'sip:bob@example.com', 'ours'), ctx), 'ua', 'within a dialog: its owner');
  assert.equal(router.select(req('BYE', 'sip:bob@example.com', 'theirs'), ctx), 'proxy');
  assert.equal(new MethodRouter([{ tu: 'x', methods: ['INVITE'] }]).select(req('BYE', 'sip:b@y'), ctx), undefined);
});
