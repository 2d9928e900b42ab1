// Invite sessions (usage/invite) on virtual time: re-INVITE glare from both sides with the
// RFC 3261 §14.1 retry intervals, a re-offer answered later by its owner (the way a B2BUA must
// ask its other leg first), and a delayed offer answered in the ACK — each exchange seconds of
// protocol time, run in milliseconds on a VirtualNetwork.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Call, UserAgent } from '../../src/roles/user-agent/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { VirtualNetwork } from '../../src/transport/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';


interface Pair {
  clock: VirtualClock;
  alice: UserAgent;
  bob: UserAgent;
  /** Messages sent, in order, with their virtual time: "A>INVITE@0" … */
  wire: Array<{ who: string; what: string; cseq: number; at: number; body: string }>;
  stop(): Promise<void>;
}

async function pair(seed = 1): Promise<Pair> {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, seed);
  const wire: Pair['wire'] = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({ who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, cseq: m.cseq.seq, at: clock.now(), body: m.body.toString() });
  };
  const opts = { clock, transport: { network: net }, timers: { T1: 500, T2: 4000, T4: 5000 } };
  const bob = await UserAgent.start({ ...opts, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@10.0.0.2', onTrace: trace('B') });
  const alice = await UserAgent.start({ ...opts, listen: ['udp:10.0.0.1:5060'], from: 'sip:alice@10.0.0.1', onTrace: trace('A') });
  return { clock, alice, bob, wire, stop: async () => void (await Promise.all([alice.stop(), bob.stop()])) };
}

/** Alice calls Bob, who answers; resolves with both ends' calls once Bob has the ACK. */
async function established(p: Pair, sdp?: string | null): Promise<{ a: Call; b: Call }> {
  let b: Call | undefined;
  p.bob.on('invite', (inv) => (b = inv.accept()));
  const a = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060', sdp === undefined ? {} : { sdp }));
  assert.ok(a.established);
  await drive(p.clock, new Promise<void>((r) => (b!.session.state === 'Confirmed' ? r() : b!.session.once('confirmed', () => r()))));
  return { a, b: b! };
}

test('glare: both ends re-INVITE at once, both get 491, each retries after its §14.1 interval (Call-ID owner 2.1–4 s, the other 0–2 s), both holds end 200', async () => {
  const p = await pair(3);
  try {
    const { a, b } = await established(p);
    const start = p.clock.now();
    const holdA = a.hold();
    const holdB = b.hold('inactive');
    const [ra, rb] = await drive(p.clock, Promise.all([holdA, holdB]));
    assert.equal(ra.status, 200);
    assert.equal(rb.status, 200);
    const reinvites = p.wire.filter((w) => w.what === 'INVITE' && w.at >= start);
    const refused = p.wire.filter((w) => w.what === '491 INVITE');
    assert.equal(refused.length, 2, `each end refused the other's first re-INVITE: ${JSON.stringify(p.wire.map((w) => `${w.who}>${w.what}@${w.at}`))}`);
    const retryA = reinvites.filter((w) => w.who === 'A')[1]!;
    const retryB = reinvites.filter((w) => w.who === 'B')[1]!;
    const firstA = reinvites.find((w) => w.who === 'A')!;
    const firstB = reinvites.find((w) => w.who === 'B')!;
    // The retry waits from the 491; the 491 came within a round trip of the first re-INVITE.
    assert.ok(retryA.at - firstA.at >= 2100 && retryA.at - firstA.at <= 4100, `alice (owns the Call-ID) retried after ${retryA.at - firstA.at} ms`);
    assert.ok(retryB.at - firstB.at <= 2100, `bob retried after ${retryB.at - firstB.at} ms`);
    assert.ok(retryA.cseq > firstA.cseq && retryB.cseq > firstB.cseq, 'a retry is a new transaction');
    // Bob retried first, so his inactive offer was answered first and Alice's sendonly came last:
    // each side's description in force is the last exchange's.
    assert.match(a.localSdp ?? '', /a=sendonly/);
    assert.match(a.remoteSdp ?? '', /a=recvonly|a=inactive/);
    assert.equal(a.session.sdp.state, 'stable');
    assert.equal(b.session.sdp.state, 'stable');
  } finally {
    await p.stop();
  }
});

test('a re-offer answered later by its owner: the re-INVITE waits (no 2xx) until accept(), then 200 with the owner\'s answer; a second re-INVITE of ours queues behind it', async () => {
  const p = await pair(4);
  try {
    const { a, b } = await established(p);
    let pending: { accept(sdp?: string): void; offer: string | undefined } | undefined;
    b.on('reoffer', (r) => (pending = r));
    const start = p.clock.now();
    const first = a.hold();
    const second = a.unhold(); // queued: RFC 3261 §14.1, one INVITE transaction at a time
    await drive(p.clock, new Promise<void>((r) => p.clock.setTimer(3000, r)));
    assert.ok(pending, 'the owner was asked');
    assert.match(pending.offer ?? '', /a=sendonly/);
    assert.equal(b.session.sdp.state, 'have-remote-offer', 'the offer is open while the owner decides');
    assert.equal(p.wire.filter((w) => w.what === '200 INVITE' && w.at >= start).length, 0, 'no answer before the owner gives one');
    assert.equal(p.wire.filter((w) => w.who === 'A' && w.what === 'INVITE' && w.at >= start).length, 1, 'the second re-INVITE has not been sent');
    const owner = pending;
    pending = undefined;
    owner.accept();
    assert.equal((await drive(p.clock, first)).status, 200);
    await drive(p.clock, new Promise<void>((r) => p.clock.setTimer(100, r)));
    assert.ok(pending, 'the second re-INVITE went out after the first completed');
    (pending as { accept(): void }).accept();
    assert.equal((await drive(p.clock, second)).status, 200);
    assert.match(a.localSdp ?? '', /a=sendrecv/);
  } finally {
    await p.stop();
  }
});

test('delayed offer: an INVITE without SDP, the offer in the 200, the answer in the ACK; both sessions end stable with each other\'s descriptions', async () => {
  const p = await pair(5);
  try {
    const { a, b } = await established(p, null);
    const invite = p.wire.find((w) => w.who === 'A' && w.what === 'INVITE')!;
    const ack = p.wire.find((w) => w.who === 'A' && w.what === 'ACK')!;
    assert.equal(invite.body, '', 'no offer in the INVITE');
    assert.match(ack.body, /^v=0/, 'the answer rides in the ACK (RFC 3261 §13.2.1)');
    assert.equal(a.session.sdp.state, 'stable');
    assert.equal(b.session.sdp.state, 'stable');
    assert.equal(a.remoteSdp, b.localSdp);
    assert.equal(b.remoteSdp, a.localSdp);
  } finally {
    await p.stop();
  }
});
