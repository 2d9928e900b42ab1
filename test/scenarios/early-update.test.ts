// UPDATE in an early dialog (RFC 3311 §5.1), on virtual time: once a reliable 183 and its PRACK
// completed the first offer/answer (RFC 3262), either side may send a new offer in UPDATE
// before the call is answered; it is answered in the UPDATE's 200. Between two user agents, and
// through the B2BUA, which relays the UPDATE in the other leg's early dialog.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { B2bua } from '../../src/roles/b2bua/index.js';
import { type Call, UserAgent } from '../../src/roles/user-agent/index.js';
import { createAnswer, createOffer } from '../../src/sdp/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { TransportLayer, VirtualNetwork, parseListenSpec } from '../../src/transport/index.js';
import { SipElement } from '../../src/tu/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

const timers = { T1: 500, T2: 4000, T4: 5000 };
const port = (sdp: string | undefined): number | undefined => Number(/^m=audio (\d+)/m.exec(sdp ?? '')?.[1]) || undefined;

async function setup(seed: number, viaB2bua: boolean) {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, seed);
  const wire: Array<{ who: string; what: string; toTag?: string; at: number }> = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({ who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, toTag: m.to.tag, at: clock.now() });
  };
  const common = { clock, timers, transport: { network: net } };
  const alice = await UserAgent.start({ ...common, listen: ['udp:10.0.0.1:5060'], from: 'sip:alice@10.0.0.1', mediaPort: 7000, onTrace: trace('A') });
  const bob = await UserAgent.start({ ...common, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@10.0.0.2', mediaPort: 6000, onTrace: trace('B') });
  const stops: Array<() => Promise<void>> = [() => alice.stop(), () => bob.stop()];
  if (viaB2bua) {
    const transport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.3:5060')], network: net });
    transport.onTrace = trace('X');
    await transport.start();
    new SipElement({ transport, clock, timers, users: (el) => ({ b2bua: new B2bua(el, { target: 'sip:{user}@10.0.0.2:5060', offer: 'forward', copyHeaders: [] }) }), routes: [{ tu: 'b2bua' }] });
    stops.push(() => transport.stop());
  }
  return { clock, alice, bob, wire, stop: async () => void (await Promise.all(stops.map((s) => s()))) };
}

for (const viaB2bua of [false, true]) {
  test(`UPDATE in the early dialog${viaB2bua ? ' through the B2BUA' : ''}: after the reliable 183 and its PRACK, the callee and then the caller re-offer before the 200`, async () => {
    const t = await setup(viaB2bua ? 42 : 41, viaB2bua);
    try {
      let calleeUpdate: Promise<number> | undefined;
      let bobCall: Call | undefined;
      let aliceCall: Call | undefined;
      let callerSawAfterCalleeUpdate: number | undefined;
      t.bob.on('invite', (inv) => {
        bobCall = inv.call;
        inv.progress(183, createAnswer(inv.offer!, { address: '10.0.0.2', port: 6000 }).sdp, { reliable: true });
        // The callee moves its media while it still rings.
        t.clock.setTimer(1000, () => {
          calleeUpdate = inv.call.request('UPDATE', { body: createOffer({ address: '10.0.0.2', port: 6100, codecs: ['PCMU'] }) }).then((r) => {
            callerSawAfterCalleeUpdate = port(aliceCall?.remoteSdp);
            return r.status;
          });
        });
        t.clock.setTimer(6000, () => void inv.accept());
      });
      let callerUpdate: Promise<number> | undefined;
      const calling = t.alice.invite(`sip:bob@${viaB2bua ? '10.0.0.3' : '10.0.0.2'}:5060`, {
        onCall: (c) => {
          aliceCall = c;
          t.clock.setTimer(3000, () => {
            assert.equal(c.state, 'early');
            callerUpdate = c.request('UPDATE', { body: createOffer({ address: '10.0.0.1', port: 7100, codecs: ['PCMU'] }) }).then((r) => r.status);
          });
        },
      });
      const call = await drive(t.clock, calling);
      assert.ok(call.established);
      assert.equal(await calleeUpdate, 200);
      assert.equal(await callerUpdate, 200);
      const updates = t.wire.filter((w) => w.what === 'UPDATE' || w.what === '200 UPDATE');
      const answeredAt = t.wire.find((w) => w.what === '200 INVITE' && w.who === (viaB2bua ? 'X' : 'B'))!.at;
      assert.ok(updates.length >= (viaB2bua ? 8 : 4), updates.map((w) => `${w.who}>${w.what}`).join(' '));
      assert.ok(updates.every((w) => w.at < answeredAt), 'every UPDATE was before the 200 to the INVITE');
      assert.equal(callerSawAfterCalleeUpdate, 6100, 'the caller sends to the callee\'s new port');
      assert.equal(port(bobCall!.remoteSdp), 7100, 'the callee sends to the caller\'s new port');
      await drive(t.clock, call.bye());
      assert.equal(await drive(t.clock, bobCall!.ended), 'remote-bye');
    } finally {
      await t.stop();
    }
  });
}
