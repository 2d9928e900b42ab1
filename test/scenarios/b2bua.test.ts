// The B2BUA (roles/b2bua) between two user agents on a virtual network, on virtual time: a
// phone (10.0.0.1), the B2BUA's element (10.0.0.3) and gateway GW-B (10.0.0.2). Leg B is a new
// call with a delayed offer; each side learns the other's media address and the common codecs;
// hold (re-INVITE), INFO and BYE cross from one leg to the other.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { B2bua } from '../../src/roles/b2bua/index.js';
import { type Call, UserAgent } from '../../src/roles/user-agent/index.js';
import { audioEndpoint, createOffer } from '../../src/sdp/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { TransportLayer, VirtualNetwork, parseListenSpec } from '../../src/transport/index.js';
import { SipElement } from '../../src/tu/index.js';
import { MemoryCdrStore } from '../../src/store/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

const timers = { T1: 500, T2: 4000, T4: 5000 };

interface Setup {
  clock: VirtualClock;
  phone: UserAgent;
  gw: UserAgent;
  b2bua: B2bua;
  cdrs: MemoryCdrStore;
  /** What each party sent: "P>INVITE", "B>ACK" … with the Call-ID. */
  wire: Array<{ who: string; what: string; callId: string; body: string }>;
  stop(): Promise<void>;
}

async function setup(opts: { gwCodecs: string[]; offer?: 'delayed' | 'forward'; seed?: number; gwSessionTimer?: { expires: number; minSE: number } }): Promise<Setup> {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, opts.seed ?? 1);
  const wire: Setup['wire'] = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({ who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, callId: m.callId, body: m.body.toString() });
  };
  const transport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.3:5060')], network: net });
  transport.onTrace = trace('B');
  await transport.start();
  let b2bua!: B2bua;
  const cdrs = new MemoryCdrStore();
  new SipElement({
    transport,
    clock,
    timers,
    users: (el) => ({ b2bua: (b2bua = new B2bua(el, { target: 'sip:{user}@10.0.0.2:5060', offer: opts.offer ?? 'delayed', copyHeaders: ['X-*'], sessionTimer: { expires: 1800, minSE: 90 } }, () => {}, cdrs, () => clock.now())) }),
    routes: [{ tu: 'b2bua' }],
  });
  const common = { clock, timers, transport: { network: net } };
  const phone = await UserAgent.start({ ...common, listen: ['udp:10.0.0.1:5060'], from: 'sip:phone@10.0.0.1', mediaPort: 7000, codecs: ['PCMU', 'G729', 'telephone-event'], onTrace: trace('P') });
  const gw = await UserAgent.start({ ...common, listen: ['udp:10.0.0.2:5060'], from: 'sip:gw@10.0.0.2', mediaPort: 6000, codecs: opts.gwCodecs, onTrace: trace('G'), ...(opts.gwSessionTimer ? { sessionTimer: opts.gwSessionTimer } : {}) });
  return { clock, phone, gw, b2bua, cdrs, wire, stop: async () => void (await Promise.all([phone.stop(), gw.stop(), transport.stop()])) };
}

/** Lets `ms` of virtual time pass (the B2BUA's leg ends with its BYE's 200, a moment after the far end's). */
const settle = (s: Setup, ms = 1000) => drive(s.clock, new Promise<void>((r) => s.clock.setTimer(ms, r)));

/** The phone calls 2000 through the B2BUA; GW-B rings and answers. */
async function call(s: Setup): Promise<{ a: Call; b: Call | undefined }> {
  let b: Call | undefined;
  s.gw.on('invite', (inv) => {
    inv.progress(180);
    b = inv.accept();
  });
  const a = await drive(s.clock, s.phone.invite('sip:2000@10.0.0.3:5060', { headers: [['X-Account', '42'], ['Subject', 'not copied']] }));
  return { a, b };
}

test('call flow 4 on virtual time: a new call to GW-B with no offer; the phone learns GW-B\'s address and the common codecs, GW-B the phone\'s; nothing of leg A leaks into leg B', async () => {
  const s = await setup({ gwCodecs: ['PCMU', 'telephone-event'] });
  try {
    const { a, b } = await call(s);
    assert.ok(a.established, `phone: ${a.finalResponse?.status}`);
    assert.ok(b?.established);
    const inviteA = s.wire.find((w) => w.who === 'P' && w.what === 'INVITE')!;
    const inviteB = s.wire.find((w) => w.who === 'B' && w.what === 'INVITE')!;
    assert.notEqual(inviteB.callId, inviteA.callId, 'leg B is a new call');
    assert.equal(inviteB.body, '', 'delayed offer toward GW-B');
    const invB = b!.invite!;
    assert.equal(invB.callId, inviteB.callId);
    assert.doesNotMatch(invB.raw.toString(), /10\.0\.0\.1/, 'no Via, Contact or From host of the phone in leg B');
    assert.equal(invB.header('X-Account'), '42', 'a configured header is copied');
    assert.equal(invB.header('Subject'), undefined, 'others are not');
    // Media passthrough: each side points at the other endpoint, with what both have.
    const toPhone = audioEndpoint(a.remoteSdp!)!;
    assert.deepEqual([toPhone.address, toPhone.port], ['10.0.0.2', 6000]);
    assert.match(a.remoteSdp!, /m=audio 6000 RTP\/AVP 0 101\r\n/, 'PCMU and telephone-event, in the phone\'s order; no G729');
    const ackB = s.wire.find((w) => w.who === 'B' && w.what === 'ACK' && w.callId === inviteB.callId)!;
    const toGw = audioEndpoint(ackB.body)!;
    assert.deepEqual([toGw.address, toGw.port], ['10.0.0.1', 7000], 'the ACK answers GW-B\'s offer with the phone\'s address');
    assert.match(ackB.body, /m=audio 7000 RTP\/AVP 0 101\r\n/);
    assert.equal(s.b2bua.activeCalls, 1);
    // BYE from the phone: 200 to it, BYE to GW-B.
    assert.equal((await drive(s.clock, a.bye()))?.status, 200);
    assert.equal(await drive(s.clock, b!.ended), 'remote-bye');
    await settle(s);
    assert.equal(s.b2bua.activeCalls, 0);
    // One call detail record: both Call-IDs, answered, ended by the caller.
    const [cdr, ...more] = await s.cdrs.list();
    assert.equal(more.length, 0);
    assert.deepEqual([cdr!.callId, cdr!.callIdB, cdr!.status, cdr!.endedBy, cdr!.reason], [inviteA.callId, inviteB.callId, 200, 'caller', 'remote-bye']);
    assert.ok(cdr!.answer !== undefined && cdr!.start <= cdr!.answer && cdr!.answer <= cdr!.end);
  } finally {
    await s.stop();
  }
});

test('hold and resume (re-INVITE) and INFO cross the B2BUA; a BYE from GW-B ends the phone\'s leg', async () => {
  const s = await setup({ gwCodecs: ['PCMU', 'telephone-event'], seed: 2 });
  try {
    const { a, b } = await call(s);
    assert.ok(a.established && b?.established);
    const infos: string[] = [];
    s.gw.on('request', (r) => {
      infos.push(`${r.request.method} ${r.request.body.toString()}`);
      r.respond(200);
    });
    const held = await drive(s.clock, a.hold());
    assert.equal(held.status, 200);
    assert.match(b!.remoteSdp!, /a=sendonly/, 'GW-B got the phone\'s hold offer');
    assert.match(a.remoteSdp!, /a=recvonly/, 'and the phone GW-B\'s answer');
    assert.equal((await drive(s.clock, a.unhold())).status, 200);
    assert.match(a.remoteSdp!, /a=sendrecv/);
    assert.equal((await drive(s.clock, a.info('Signal=5\r\nDuration=160\r\n'))).status, 200);
    assert.deepEqual(infos, ['INFO Signal=5\r\nDuration=160\r\n']);
    await drive(s.clock, b!.bye());
    assert.equal(await drive(s.clock, a.ended), 'remote-bye');
    await settle(s);
    assert.equal((await s.cdrs.list())[0]?.endedBy, 'callee', 'GW-B hung up');
  } finally {
    await s.stop();
  }
});

test('no codec in common (GW-B offers PCMA only): the phone gets 488, GW-B\'s 2xx is ACKed and ended with BYE', async () => {
  const s = await setup({ gwCodecs: ['PCMA'], seed: 3 });
  try {
    const { a, b } = await call(s);
    assert.equal(a.finalResponse?.status, 488);
    assert.equal(await drive(s.clock, b!.ended), 'remote-bye');
    const legB = s.wire.filter((w) => w.who === 'B' && w.callId === b!.invite!.callId).map((w) => w.what);
    assert.deepEqual(legB.filter((w) => w === 'ACK' || w === 'BYE'), ['ACK', 'BYE']);
    await settle(s);
    const [cdr] = await s.cdrs.list();
    assert.deepEqual([cdr!.status, cdr!.endedBy, cdr!.answer], [488, 'server', undefined]);
  } finally {
    await s.stop();
  }
});

test('forward mode: leg B\'s INVITE carries the phone\'s offer; the phone\'s answer is GW-B\'s address with the common codecs', async () => {
  const s = await setup({ gwCodecs: ['PCMU'], offer: 'forward', seed: 4 });
  try {
    const { a } = await call(s);
    assert.ok(a.established);
    const inviteB = s.wire.find((w) => w.who === 'B' && w.what === 'INVITE')!;
    assert.match(inviteB.body, /m=audio 7000 RTP\/AVP 0 18 101/);
    assert.match(a.remoteSdp!, /m=audio 6000 RTP\/AVP 0\r\n/);
    await drive(s.clock, a.bye());
  } finally {
    await s.stop();
  }
});

test('CANCEL from the phone while GW-B rings: CANCEL on leg B, 487 to the phone and from GW-B', async () => {
  const s = await setup({ gwCodecs: ['PCMU'], seed: 5 });
  try {
    let gwCall: Call | undefined;
    s.gw.on('invite', (inv) => {
      inv.progress(180);
      gwCall = inv.call;
    });
    let phoneCall: Call | undefined;
    const a = await drive(s.clock, s.phone.invite('sip:2000@10.0.0.3:5060', {
      onCall: (c) => (phoneCall = c),
      onProvisional: (res) => {
        if (res.status === 180) void phoneCall!.cancel();
      },
    }));
    assert.equal(a, phoneCall);
    assert.equal(a.finalResponse?.status, 487);
    assert.equal(await drive(s.clock, gwCall!.ended), 'cancelled');
    const legB = s.wire.filter((w) => w.who === 'B' && w.callId === gwCall!.invite!.callId).map((w) => w.what);
    assert.ok(legB.includes('CANCEL'), legB.join(' '));
    assert.ok(s.wire.some((w) => w.who === 'G' && w.what === '487 INVITE'));
    assert.ok(s.wire.some((w) => w.who === 'B' && w.what === '487 INVITE' && w.callId === a.invite!.callId));
    await settle(s);
    const [cdr] = await s.cdrs.list();
    assert.deepEqual([cdr!.status, cdr!.endedBy, cdr!.reason], [487, 'caller', 'cancelled']);
  } finally {
    await s.stop();
  }
});

test('100rel on both legs: the phone requires it, GW-B sends its 183 reliably with its offer; each leg PRACKs its own provisional with its own RSeq', async () => {
  const s = await setup({ gwCodecs: ['PCMU', 'telephone-event'], seed: 6 });
  try {
    let b: Call | undefined;
    s.gw.on('invite', (inv) => {
      assert.equal(inv.offer, undefined, 'delayed offer toward GW-B');
      inv.progress(183, createOffer({ address: '10.0.0.2', port: 6000, codecs: ['PCMU', 'telephone-event'] }), { reliable: true });
      b = inv.accept();
    });
    const a = await drive(s.clock, s.phone.invite('sip:2000@10.0.0.3:5060', { require100rel: true }));
    assert.ok(a.established, `phone: ${a.finalResponse?.status}`);
    assert.ok(b?.established);
    const legA = a.invite!.callId;
    const legB = b!.invite!.callId;
    const pracks = s.wire.filter((w) => w.what === 'PRACK');
    assert.deepEqual(pracks.map((w) => `${w.who}:${w.callId === legA ? 'A' : w.callId === legB ? 'B' : '?'}`).sort(), ['B:B', 'P:A'], 'the phone PRACKs leg A, the B2BUA leg B');
    // Leg B's PRACK answers GW-B's offer with the phone's address; the phone's 183 has GW-B's.
    const prackB = pracks.find((w) => w.who === 'B')!;
    assert.deepEqual([audioEndpoint(prackB.body)!.address, audioEndpoint(prackB.body)!.port], ['10.0.0.1', 7000]);
    assert.deepEqual([audioEndpoint(a.remoteSdp!)!.address, audioEndpoint(a.remoteSdp!)!.port], ['10.0.0.2', 6000]);
    assert.equal(s.wire.find((w) => w.who === 'B' && w.what === 'ACK' && w.callId === legB)!.body, '', 'the offer was answered in the PRACK');
    await drive(s.clock, a.bye());
  } finally {
    await s.stop();
  }
});

test('session timers per leg: the phone refreshes leg A and the B2BUA answers it itself; the B2BUA refreshes leg B; after 31 minutes both legs are up', async () => {
  const s = await setup({ gwCodecs: ['PCMU'], seed: 7 });
  try {
    const { a, b } = await call(s);
    assert.ok(a.established && b?.established);
    const legA = a.invite!.callId;
    const legB = b!.invite!.callId;
    const before = s.wire.length;
    await drive(s.clock, new Promise<void>((r) => s.clock.setTimer(1_860_000, r)), 1_900_000);
    const later = s.wire.slice(before);
    const reinvites = later.filter((w) => w.what === 'INVITE').map((w) => `${w.who}:${w.callId === legA ? 'A' : w.callId === legB ? 'B' : '?'}`);
    assert.deepEqual(reinvites.sort(), ['B:B', 'B:B', 'P:A', 'P:A'], 'each leg refreshed twice by its own UAC; nothing relayed');
    assert.ok(a.established && b!.established);
    await drive(s.clock, a.bye());
  } finally {
    await s.stop();
  }
});

test('the phone sends no offer: GW-B\'s offer (its 2xx) goes to the phone in its 200, the phone\'s answer (its ACK) to GW-B in leg B\'s ACK', async () => {
  const s = await setup({ gwCodecs: ['PCMU', 'telephone-event'], seed: 7 });
  try {
    let b: Call | undefined;
    s.gw.on('invite', (inv) => {
      inv.progress(180);
      b = inv.accept();
    });
    const a = await drive(s.clock, s.phone.invite('sip:2000@10.0.0.3:5060', { sdp: null }));
    assert.ok(a.established, `phone: ${a.finalResponse?.status} ${a.sdpFailure ?? ''}`);
    await settle(s);
    assert.ok(b?.established);
    const inviteB = s.wire.find((w) => w.who === 'B' && w.what === 'INVITE')!;
    assert.equal(inviteB.body, '');
    assert.deepEqual([audioEndpoint(a.remoteSdp!)!.address, audioEndpoint(a.remoteSdp!)!.port], ['10.0.0.2', 6000], 'the phone got GW-B\'s offer');
    const ackA = s.wire.find((w) => w.who === 'P' && w.what === 'ACK')!;
    const ackB = s.wire.find((w) => w.who === 'B' && w.what === 'ACK' && w.callId === inviteB.callId)!;
    assert.equal(audioEndpoint(ackA.body)?.port, 7000, 'the phone answered in its ACK');
    assert.equal(audioEndpoint(ackB.body)?.port, 7000, 'GW-B got the phone\'s answer in its ACK');
    assert.equal(audioEndpoint(b!.remoteSdp!)?.port, 7000);
    const order = s.wire.map((w) => `${w.who}>${w.what}`);
    assert.ok(order.indexOf('P>ACK') < order.indexOf('B>ACK'), order.join(' '));
    await drive(s.clock, a.bye());
    assert.equal(await drive(s.clock, b!.ended), 'remote-bye');
  } finally {
    await s.stop();
  }
});

test('GW-B answers 422 (its Min-SE 3600 is above our 1800): leg B\'s INVITE is sent again with Session-Expires 3600 and the call goes through', async () => {
  const s = await setup({ gwCodecs: ['PCMU'], seed: 8, gwSessionTimer: { expires: 3600, minSE: 3600 } });
  try {
    const { a, b } = await call(s);
    assert.ok(a.established, `phone: ${a.finalResponse?.status}`);
    assert.ok(b?.established);
    const invites = s.wire.filter((w) => w.who === 'B' && w.what === 'INVITE');
    assert.equal(invites.length, 2);
    assert.ok(s.wire.some((w) => w.who === 'G' && w.what === '422 INVITE'));
    assert.equal(b!.invite!.header('Session-Expires'), '3600');
    assert.equal(b!.invite!.header('Min-SE'), '3600');
    assert.equal(b!.invite!.cseq.seq, 2, 'a new transaction: CSeq + 1, same Call-ID');
    assert.equal(b!.invite!.callId, invites[0]!.callId);
    await drive(s.clock, a.bye());
  } finally {
    await s.stop();
  }
});
