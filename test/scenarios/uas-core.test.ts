// UAS core behaviour (RFC 3261 §8.2, §9.2, §12.2.2, §14.2) of a real UserAgent on loopback UDP,
// driven by raw datagrams from a socket the test controls.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { UserAgent, type UserAgentOptions } from '../../src/roles/user-agent/index.js';
import type { Call } from '../../src/roles/user-agent/index.js';
import { type SipRequest, type SipResponse, parseMessage } from '../../src/sip/index.js';

const started: Array<{ stop(): Promise<void> | void }> = [];
after(async () => {
  for (const s of started.reverse()) await s.stop();
});

/** A raw UDP peer: sends text, queues everything that arrives. */
class Peer {
  private readonly inbox: Array<SipRequest | SipResponse> = [];
  private waiter: (() => void) | undefined;
  private constructor(private readonly sock: dgram.Socket, readonly port: number) {
    sock.on('message', (m) => {
      try {
        this.inbox.push(parseMessage(m));
      } catch (err) {
        this.inbox.push(Object.assign(new Error(`unparseable datagram: ${String(err)}\n${m.toString()}`)) as never);
      }
      this.waiter?.();
    });
  }

  static async open(): Promise<Peer> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const p = new Peer(s, s.address().port);
    started.push({ stop: () => new Promise<void>((r) => s.close(() => r())) });
    return p;
  }

  send(text: string, port: number): void {
    this.sock.send(Buffer.from(text), port, '127.0.0.1');
  }

  /** Waits for (and removes) the first queued message matching `pred`. */
  async next<T extends SipRequest | SipResponse>(pred: (m: SipRequest | SipResponse) => boolean, what: string, ms = 4000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex((m) => !(m instanceof Error) && pred(m));
      if (i >= 0) return this.inbox.splice(i, 1)[0] as T;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; inbox: ${this.inbox.map(describe).join(' | ') || '(empty)'}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /** The final response (≥ 200) to a transaction, skipping provisionals. */
  final(callId: string, method: string): Promise<SipResponse> {
    return this.next<SipResponse>((m) => m.kind === 'response' && m.callId === callId && m.cseq.method === method && m.status >= 200, `final response to ${method}`);
  }

  /** Everything that arrives within `ms` (and is still queued), then clears the queue. */
  async drain(ms: number): Promise<Array<SipRequest | SipResponse>> {
    await new Promise((r) => setTimeout(r, ms));
    return this.inbox.splice(0);
  }
}

function describe(m: SipRequest | SipResponse): string {
  if (m instanceof Error) return m.message;
  return m.kind === 'response' ? `${m.status} ${m.cseq.method}` : `${m.method}`;
}

let seq = 0;
const uid = () => `${Date.now().toString(36)}${(seq++).toString(36)}`;

interface ReqSpec {
  method: string;
  uaPort: number;
  peer: Peer;
  callId?: string;
  branch?: string;
  fromTag?: string;
  toTag?: string;
  cseq?: number;
  cseqMethod?: string;
  headers?: string[];
  body?: string;
  contentType?: string;
}

function request(s: ReqSpec): { text: string; callId: string; branch: string; fromTag: string } {
  const callId = s.callId ?? `uas-${uid()}@test`;
  const branch = s.branch ?? `z9hG4bK-${uid()}`;
  const fromTag = s.fromTag ?? `f${uid()}`;
  const body = s.body ?? '';
  const lines = [
    `${s.method} sip:ua@127.0.0.1:${s.uaPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${s.peer.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:tester@127.0.0.1:${s.peer.port}>;tag=${fromTag}`,
    `To: <sip:ua@127.0.0.1:${s.uaPort}>${s.toTag ? `;tag=${s.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${s.cseq ?? 1} ${s.cseqMethod ?? s.method}`,
    `Contact: <sip:tester@127.0.0.1:${s.peer.port}>`,
    ...(s.headers ?? []),
  ];
  if (body.length > 0) lines.push(`Content-Type: ${s.contentType ?? 'application/sdp'}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return { text: lines.join('\r\n') + '\r\n\r\n' + body, callId, branch, fromTag };
}

/** ACK for a non-2xx final response: same branch, To from the response (RFC 3261 §17.1.1.3). */
function ackFor(res: SipResponse, r: { callId: string; branch: string; fromTag: string }, peer: Peer, uaPort: number, cseq = 1): string {
  return [
    `ACK sip:ua@127.0.0.1:${uaPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${r.branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:tester@127.0.0.1:${peer.port}>;tag=${r.fromTag}`,
    `To: ${res.header('To')}`,
    `Call-ID: ${r.callId}`,
    `CSeq: ${cseq} ACK`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const SDP = (port: number, dir = 'sendrecv') =>
  ['v=0', 'o=tester 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', `a=${dir}`, ''].join('\r\n');

async function startUa(opts: UserAgentOptions = {}): Promise<{ ua: UserAgent; port: number }> {
  const ua = await UserAgent.start({ listen: ['udp:127.0.0.1:0'], timers: { T1: 50 }, ...opts });
  started.push(ua);
  return { ua, port: ua.transport.boundListeners[0]!.port };
}

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

test('unknown method → 501 Not Implemented with Allow', async () => {
  const { port } = await startUa();
  const peer = await Peer.open();
  const r = request({ method: 'FROBNICATE', uaPort: port, peer });
  peer.send(r.text, port);
  const res = await peer.final(r.callId, 'FROBNICATE');
  assert.equal(res.status, 501);
  assert.ok(list(res.header('Allow')).includes('INVITE'), `Allow: ${res.header('Allow')}`);
  assert.ok(!list(res.header('Allow')).includes('FROBNICATE'));
  assert.ok(res.to.tag, 'a final response carries a To tag');
});

for (const method of ['SUBSCRIBE', 'REGISTER', 'PUBLISH']) {
  test(`${method} (known, not allowed by a user agent) → 405 with Allow`, async () => {
    const { port } = await startUa();
    const peer = await Peer.open();
    const r = request({ method, uaPort: port, peer, headers: method === 'REGISTER' ? [] : ['Event: presence'] });
    peer.send(r.text, port);
    const res = await peer.final(r.callId, method);
    assert.equal(res.status, 405);
    const allow = list(res.header('Allow'));
    for (const m of ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS']) assert.ok(allow.includes(m), `Allow has ${m}: ${allow.join(', ')}`);
    assert.ok(!allow.includes(method));
  });
}

test('Require: foo → 420 Bad Extension with Unsupported: foo', async () => {
  const { port } = await startUa();
  const peer = await Peer.open();
  const r = request({ method: 'OPTIONS', uaPort: port, peer, headers: ['Require: foo'] });
  peer.send(r.text, port);
  const res = await peer.final(r.callId, 'OPTIONS');
  assert.equal(res.status, 420);
  assert.deepEqual(list(res.header('Unsupported')), ['foo']);

  // Every unsupported tag is listed, and only those: the UA implements replaces (RFC 3891).
  const r2 = request({ method: 'OPTIONS', uaPort: port, peer, headers: ['Require: replaces, foo, bar'] });
  peer.send(r2.text, port);
  const res2 = await peer.final(r2.callId, 'OPTIONS');
  assert.equal(res2.status, 420);
  assert.deepEqual(list(res2.header('Unsupported')), ['foo', 'bar']);
});

test('INVITE with Content-Type text/foo → 415 with Accept; the ACK ends the retransmissions', async () => {
  const { ua, port } = await startUa();
  let invited = false;
  ua.on('invite', () => { invited = true; });
  const peer = await Peer.open();
  const r = request({ method: 'INVITE', uaPort: port, peer, body: 'hello', contentType: 'text/foo' });
  peer.send(r.text, port);
  const res = await peer.final(r.callId, 'INVITE');
  assert.equal(res.status, 415);
  assert.ok(list(res.header('Accept')).includes('application/sdp'), `Accept: ${res.header('Accept')}`);
  peer.send(ackFor(res, r, peer, port), port);
  const later = await peer.drain(400);
  assert.deepEqual(later.filter((m) => m.kind === 'response' && m.status === 415).map(describe), [], 'no 415 retransmission after the ACK');
  assert.equal(invited, false, 'the application never saw it');
});

test('BYE with a To tag of no dialog → 481', async () => {
  const { port } = await startUa();
  const peer = await Peer.open();
  const r = request({ method: 'BYE', uaPort: port, peer, toTag: 'no-such-dialog' });
  peer.send(r.text, port);
  const res = await peer.final(r.callId, 'BYE');
  assert.equal(res.status, 481);
});

test('CANCEL of a ringing INVITE → 200 for the CANCEL, 487 for the INVITE; the ACK is absorbed', async () => {
  const { ua, port } = await startUa();
  let call: Call | undefined;
  ua.on('invite', (inv) => {
    call = inv.call;
    inv.progress(180);
  });
  const peer = await Peer.open();
  const inv = request({ method: 'INVITE', uaPort: port, peer, body: SDP(40000) });
  peer.send(inv.text, port);
  const ringing = await peer.next<SipResponse>((m) => m.kind === 'response' && m.status === 180, '180 Ringing');
  assert.ok(ringing.to.tag);
  const cancel = [
    `CANCEL sip:ua@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${inv.branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:tester@127.0.0.1:${peer.port}>;tag=${inv.fromTag}`,
    `To: <sip:ua@127.0.0.1:${port}>`,
    `Call-ID: ${inv.callId}`,
    'CSeq: 1 CANCEL',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  peer.send(cancel, port);
  const cancelRes = await peer.final(inv.callId, 'CANCEL');
  assert.equal(cancelRes.status, 200);
  const final = await peer.final(inv.callId, 'INVITE');
  assert.equal(final.status, 487);
  assert.equal(final.to.tag, ringing.to.tag, 'the 487 carries the same To tag as the 180');
  assert.equal(await call!.ended, 'cancelled');

  peer.send(ackFor(final, inv, peer, port), port);
  const later = await peer.drain(500); // T1 = 50 ms: Timer G would have fired several times
  assert.deepEqual(later.map(describe), [], 'nothing answers the ACK and the 487 is not retransmitted');
});

test('CANCEL matching no transaction → 481', async () => {
  const { port } = await startUa();
  const peer = await Peer.open();
  const r = request({ method: 'CANCEL', uaPort: port, peer });
  peer.send(r.text, port);
  assert.equal((await peer.final(r.callId, 'CANCEL')).status, 481);
});

test('OPTIONS → 200 with Allow, Accept and Supported', async () => {
  const { port } = await startUa();
  const peer = await Peer.open();
  const r = request({ method: 'OPTIONS', uaPort: port, peer });
  peer.send(r.text, port);
  const res = await peer.final(r.callId, 'OPTIONS');
  assert.equal(res.status, 200);
  const allow = list(res.header('Allow'));
  for (const m of ['INVITE', 'ACK', 'CANCEL', 'OPTIONS', 'BYE']) assert.ok(allow.includes(m), `Allow has ${m}`);
  assert.ok(list(res.header('Accept')).includes('application/sdp'));
  assert.ok(res.hasHeader('Supported'));
  assert.equal(res.topVia.received, '127.0.0.1');
  assert.equal(res.topVia.rport, peer.port);
});

test('re-INVITE glare: a re-INVITE received while our own is outstanding → 491 (RFC 3261 §14.2); ours, refused 491, is sent again after the §14.1 interval', async () => {
  const { ua, port } = await startUa();
  let uaCall: Call | undefined;
  ua.on('invite', (inv) => { uaCall = inv.accept(); });
  const peer = await Peer.open();

  // Establish a dialog: INVITE → 200 → ACK.
  const inv = request({ method: 'INVITE', uaPort: port, peer, body: SDP(40000) });
  peer.send(inv.text, port);
  const ok = await peer.final(inv.callId, 'INVITE');
  assert.equal(ok.status, 200);
  const uaTag = ok.to.tag!;
  const ack = [
    `ACK ${ok.contact[0]!.uriText} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-${uid()};rport`,
    'Max-Forwards: 70',
    `From: <sip:tester@127.0.0.1:${peer.port}>;tag=${inv.fromTag}`,
    `To: <sip:ua@127.0.0.1:${port}>;tag=${uaTag}`,
    `Call-ID: ${inv.callId}`,
    'CSeq: 1 ACK',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  peer.send(ack, port);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(uaCall?.established);

  // The UA puts the call on hold: its re-INVITE reaches us and we sit on it.
  const holding = uaCall!.hold();
  const theirs = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'INVITE', "the UA's re-INVITE");
  assert.equal(theirs.to.tag, inv.fromTag);

  // Meanwhile we send our own re-INVITE in the same dialog.
  const mine = request({ method: 'INVITE', uaPort: port, peer, callId: inv.callId, fromTag: inv.fromTag, toTag: uaTag, cseq: 2, body: SDP(40002, 'sendonly') });
  peer.send(mine.text, port);
  const glare = await peer.next<SipResponse>((m) => m.kind === 'response' && m.cseq.method === 'INVITE' && m.cseq.seq === 2 && m.status >= 200, 'final response to our re-INVITE');
  assert.equal(glare.status, 491, `expected 491 Request Pending, got ${glare.status}`);
  peer.send(ackFor(glare, mine, peer, port, 2), port);

  // Answer the UA's re-INVITE with 491 as well: it ACKs the 491 and, after the §14.1 interval
  // (0–2 s: it did not choose the Call-ID), sends its re-INVITE again with a new CSeq.
  const reply491 = [
    'SIP/2.0 491 Request Pending',
    ...theirs.headers('Via').map((v) => `Via: ${v}`),
    `From: ${theirs.header('From')}`,
    `To: ${theirs.header('To')}`,
    `Call-ID: ${theirs.callId}`,
    `CSeq: ${theirs.header('CSeq')}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const sent491 = Date.now();
  peer.send(reply491, port);
  const theirAck = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'ACK', 'ACK for our 491');
  assert.equal(theirAck.cseq.seq, theirs.cseq.seq);
  const retry = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'INVITE' && m.cseq.seq > theirs.cseq.seq, 'the retried re-INVITE');
  assert.ok(Date.now() - sent491 <= 2500, `retried after ${Date.now() - sent491} ms, §14.1 allows 0–2 s`);
  assert.match(retry.body.toString(), /a=sendonly/);
  const answerSdp = SDP(40002, 'recvonly');
  peer.send([
    'SIP/2.0 200 OK',
    ...retry.headers('Via').map((v) => `Via: ${v}`),
    `From: ${retry.header('From')}`,
    `To: ${retry.header('To')}`,
    `Call-ID: ${retry.callId}`,
    `CSeq: ${retry.header('CSeq')}`,
    `Contact: <sip:tester@127.0.0.1:${peer.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(answerSdp)}`,
    '',
    answerSdp,
  ].join('\r\n'), port);
  assert.equal((await holding).status, 200);
  await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'ACK' && m.cseq.seq === retry.cseq.seq, 'ACK for the 200 to the retry');
  assert.match(uaCall!.localSdp ?? '', /a=sendonly/, 'the hold offer is in force once answered');

  // With nothing outstanding any more, a new re-INVITE from us is accepted.
  const again = request({ method: 'INVITE', uaPort: port, peer, callId: inv.callId, fromTag: inv.fromTag, toTag: uaTag, cseq: 3, body: SDP(40002, 'sendonly') });
  peer.send(again.text, port);
  const accepted = await peer.next<SipResponse>((m) => m.kind === 'response' && m.cseq.seq === 3 && m.status >= 200, 'final response to the later re-INVITE');
  assert.equal(accepted.status, 200);
  assert.match(accepted.body.toString(), /a=recvonly/);
});

// ---- UAC side, RFC 3261 §13.2.2.4: a 2xx whose SDP cannot be used is ACKed, then BYEd --------

/** Answers the INVITE the UA sends to `peer` with a 200 carrying `sdp`; returns the INVITE. */
async function answer200(peer: Peer, sdp: string): Promise<SipRequest> {
  const inv = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'INVITE', 'INVITE from the UA');
  const lines = [
    'SIP/2.0 200 OK',
    ...inv.headers('Via').map((v) => `Via: ${v}`),
    `From: ${inv.header('From')}`,
    `To: ${inv.header('To')};tag=gw${uid()}`,
    `Call-ID: ${inv.callId}`,
    `CSeq: ${inv.header('CSeq')}`,
    `Contact: <sip:gw@127.0.0.1:${peer.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
  ];
  peer.send(lines.join('\r\n') + '\r\n\r\n' + sdp, inv.topVia.port!);
  return inv;
}

function respondTo(req: SipRequest, peer: Peer, status: number): void {
  const lines = [`SIP/2.0 ${status} OK`, ...req.headers('Via').map((v) => `Via: ${v}`), `From: ${req.header('From')}`, `To: ${req.header('To')}`, `Call-ID: ${req.callId}`, `CSeq: ${req.header('CSeq')}`, 'Content-Length: 0'];
  peer.send(lines.join('\r\n') + '\r\n\r\n', req.topVia.port!);
}

const sdpWith = (m: string, rtpmap: string) => ['v=0', 'o=gw 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', m, rtpmap, ''].join('\r\n');

test('§13.2.2.4: a 2xx whose SDP answer shares no codec with the offer is ACKed, then ended with BYE', async () => {
  const peer = await Peer.open();
  const { ua } = await startUa({ codecs: ['PCMU', 'PCMA'] });
  const pending = ua.invite(`sip:gw@127.0.0.1:${peer.port}`);
  await answer200(peer, sdpWith('m=audio 4000 RTP/AVP 18', 'a=rtpmap:18 G729/8000'));
  const ack = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'ACK', 'ACK for the 2xx');
  const bye = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'BYE', 'BYE after the ACK');
  assert.equal(bye.callId, ack.callId);
  respondTo(bye, peer, 200);
  const call = await pending;
  assert.equal(call.endReason, 'sdp-failed');
  assert.match(call.sdpFailure ?? '', /answer in the 2xx not usable/);
  assert.equal(call.established, false);
});

test('§13.2.2.4: a delayed-offer INVITE whose 2xx offers nothing acceptable: the ACK carries a valid answer (every stream port 0), then BYE', async () => {
  const peer = await Peer.open();
  const { ua } = await startUa({ codecs: ['PCMU'] });
  const pending = ua.invite(`sip:gw@127.0.0.1:${peer.port}`, { sdp: null });
  const inv = await answer200(peer, sdpWith('m=video 5000 RTP/AVP 31', 'a=rtpmap:31 H261/90000'));
  assert.equal(inv.body.length, 0, 'delayed offer: no SDP in the INVITE');
  const ack = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'ACK', 'ACK for the 2xx');
  assert.match(ack.body.toString(), /^m=video 0 RTP\/AVP 31\r?$/m, ack.body.toString());
  const bye = await peer.next<SipRequest>((m) => m.kind === 'request' && m.method === 'BYE', 'BYE after the ACK');
  respondTo(bye, peer, 200);
  const call = await pending;
  assert.equal(call.endReason, 'sdp-failed');
  assert.match(call.sdpFailure ?? '', /offer in the 2xx not acceptable/);
});
