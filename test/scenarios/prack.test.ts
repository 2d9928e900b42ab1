// Reliable provisional responses (RFC 3262) between two user agents on virtual time: RSeq and
// RAck, the PRACK within the early dialog, offer/answer in a reliable 183 and its PRACK, the 2xx
// held back until the PRACK of a provisional with SDP, and retransmission under loss.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserAgent } from '../../src/roles/user-agent/index.js';
import { createAnswer, createOffer } from '../../src/sdp/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { type LinkConditions, VirtualNetwork } from '../../src/transport/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

interface Wire {
  who: string;
  what: string;
  rseq?: string;
  rack?: string;
  require?: string;
  body: string;
  at: number;
}

async function pair(conditions: LinkConditions = {}, seed = 1) {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, conditions, seed);
  const wire: Wire[] = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({
      who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, rseq: m.header('RSeq'), rack: m.header('RAck'), require: m.header('Require'),
      body: m.body.toString(), at: clock.now(),
    });
  };
  const opts = { clock, transport: { network: net }, timers: { T1: 500, T2: 4000, T4: 5000 } };
  const bob = await UserAgent.start({ ...opts, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@10.0.0.2', mediaPort: 6000, onTrace: trace('B') });
  const alice = await UserAgent.start({ ...opts, listen: ['udp:10.0.0.1:5060'], from: 'sip:alice@10.0.0.1', mediaPort: 7000, onTrace: trace('A') });
  return { clock, alice, bob, wire, stop: async () => void (await Promise.all([alice.stop(), bob.stop()])) };
}

test('Require: 100rel: the 180 goes with RSeq, the PRACK names it in RAck within the early dialog, then 200 and ACK', async () => {
  const p = await pair();
  try {
    p.bob.on('invite', (inv) => {
      inv.progress(180);
      p.clock.setTimer(1000, () => inv.accept());
    });
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060', { require100rel: true }));
    assert.ok(call.established);
    const ringing = p.wire.find((w) => w.what === '180 INVITE')!;
    const invite = p.wire.find((w) => w.what === 'INVITE')!;
    assert.equal(invite.require, '100rel');
    assert.equal(ringing.require, '100rel');
    assert.match(ringing.rseq ?? '', /^\d+$/);
    const prack = p.wire.find((w) => w.what === 'PRACK')!;
    assert.equal(prack.who, 'A');
    assert.match(prack.rack ?? '', new RegExp(`^${ringing.rseq} \\d+ INVITE$`));
    assert.ok(p.wire.some((w) => w.who === 'B' && w.what === '200 PRACK'));
    const order = p.wire.filter((w) => w.who === 'A' || w.what.endsWith('INVITE') || w.what.endsWith('PRACK')).map((w) => `${w.who}>${w.what}`);
    assert.ok(order.indexOf('A>PRACK') < order.indexOf('B>200 INVITE'), order.join(' '));
    await drive(p.clock, call.bye());
  } finally {
    await p.stop();
  }
});

test('a reliable 183 carries the answer: the offer/answer completes before the 200, which waits for the PRACK and repeats the answer', async () => {
  const p = await pair({}, 2);
  try {
    let answer183 = '';
    p.bob.on('invite', (inv) => {
      answer183 = createAnswer(inv.offer!, { address: '10.0.0.2', port: 6000 }).sdp;
      inv.progress(183, answer183, { reliable: true });
      inv.accept(); // held back by the session until the PRACK (RFC 3262 §3)
    });
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060'));
    assert.ok(call.established);
    const p183 = p.wire.find((w) => w.what === '183 INVITE')!;
    assert.equal(p183.require, '100rel', 'the INVITE said Supported: 100rel, and the UAS asked for reliability');
    const prackAt = p.wire.findIndex((w) => w.what === 'PRACK');
    const okAt = p.wire.findIndex((w) => w.what === '200 INVITE');
    assert.ok(prackAt >= 0 && prackAt < okAt, 'no 2xx before the PRACK of a provisional with SDP');
    assert.equal(p.wire[okAt]!.body, answer183, 'the 2xx repeats the answer of the 183');
    assert.equal(p.wire[prackAt]!.body, '', 'the 183 answered our offer: nothing in the PRACK');
    assert.equal(call.remoteSdp, answer183);
    assert.equal(call.session.sdp.state, 'stable');
    await drive(p.clock, call.bye());
  } finally {
    await p.stop();
  }
});

test('delayed offer: the reliable 183 carries the offer, the PRACK the answer; the 200 and the ACK carry nothing new', async () => {
  const p = await pair({}, 3);
  try {
    let offer183 = '';
    p.bob.on('invite', (inv) => {
      assert.equal(inv.offer, undefined);
      offer183 = createOffer({ address: '10.0.0.2', port: 6000, codecs: ['PCMU'] });
      inv.progress(183, offer183, { reliable: true });
      inv.accept();
    });
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060', { sdp: null }));
    assert.ok(call.established);
    const prack = p.wire.find((w) => w.what === 'PRACK')!;
    assert.match(prack.body, /m=audio 7000 RTP\/AVP 0/, 'our answer rides in the PRACK');
    const ack = p.wire.find((w) => w.what === 'ACK')!;
    assert.equal(ack.body, '', 'nothing left to answer in the ACK');
    assert.equal(call.remoteSdp, offer183);
    await drive(p.clock, new Promise<void>((r) => p.clock.setTimer(100, r)));
    const bobCall = [...(p.bob as unknown as { dialogs: { values(): Iterable<{ call: { session: { sdp: { state: string; remoteSdp?: string } } } }> } }).dialogs.values()][0]!;
    assert.equal(bobCall.call.session.sdp.state, 'stable');
    assert.match(bobCall.call.session.sdp.remoteSdp ?? '', /m=audio 7000/);
    await drive(p.clock, call.bye());
  } finally {
    await p.stop();
  }
});

test('under 30 % loss the reliable 180 is retransmitted (T1, 2·T1 …) until its PRACK gets through, and the call completes', async () => {
  const p = await pair({ loss: 0.3 }, 11);
  try {
    p.bob.on('invite', (inv) => {
      inv.progress(180, undefined, { reliable: true });
      p.clock.setTimer(8000, () => inv.accept());
    });
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060'));
    assert.ok(call.established, `final ${call.finalResponse?.status}`);
    const sent180 = p.wire.filter((w) => w.who === 'B' && w.what === '180 INVITE');
    assert.ok(sent180.length >= 2, `the 180 went ${sent180.length} time(s): the seed must lose a copy or its PRACK`);
    assert.ok(new Set(sent180.map((w) => w.rseq)).size === 1, 'every copy has the same RSeq');
    for (let i = 1; i < sent180.length; i++) assert.ok(sent180[i]!.at - sent180[i - 1]!.at >= 500, 'no faster than T1');
    await drive(p.clock, call.bye());
  } finally {
    await p.stop();
  }
});
