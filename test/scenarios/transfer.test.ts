// Blind transfer (RFC 3515) on virtual time: Alice calls Bob and REFERs him to Carol; Bob
// accepts with 202, calls Carol with Alice's Referred-By, and reports the call's progress in
// NOTIFYs (message/sipfrag) within the first dialog; once Carol answers, Alice hangs up. The same
// through the B2BUA configured to pass the REFER and its NOTIFYs between its legs (refer: pass).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { B2bua } from '../../src/roles/b2bua/index.js';
import { type Call, UserAgent } from '../../src/roles/user-agent/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { TransportLayer, VirtualNetwork, parseListenSpec } from '../../src/transport/index.js';
import { SipElement } from '../../src/tu/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

const timers = { T1: 500, T2: 4000, T4: 5000 };

async function three(seed: number, viaB2bua = false) {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, seed);
  const wire: Array<{ who: string; what: string; callId: string; body: string; referredBy?: string; state?: string }> = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({ who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, callId: m.callId, body: m.body.toString(), referredBy: m.header('Referred-By'), state: m.header('Subscription-State') });
  };
  const common = { clock, timers, transport: { network: net } };
  const alice = await UserAgent.start({ ...common, listen: ['udp:10.0.0.1:5060'], from: 'sip:alice@10.0.0.1', onTrace: trace('A') });
  const bob = await UserAgent.start({ ...common, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@10.0.0.2', onTrace: trace('B') });
  const carol = await UserAgent.start({ ...common, listen: ['udp:10.0.0.4:5060'], from: 'sip:carol@10.0.0.4', onTrace: trace('C') });
  const stops: Array<() => Promise<void>> = [() => alice.stop(), () => bob.stop(), () => carol.stop()];
  if (viaB2bua) {
    const transport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.3:5060')], network: net });
    transport.onTrace = trace('X');
    await transport.start();
    new SipElement({ transport, clock, timers, users: (el) => ({ b2bua: new B2bua(el, { target: 'sip:{user}@10.0.0.2:5060', offer: 'delayed', copyHeaders: [], refer: 'pass' }) }), routes: [{ tu: 'b2bua' }] });
    stops.push(() => transport.stop());
  }
  return { clock, alice, bob, carol, wire, stop: async () => void (await Promise.all(stops.map((s) => s()))) };
}

for (const viaB2bua of [false, true]) {
  test(`blind transfer${viaB2bua ? ' through the B2BUA' : ''}: REFER → 202, NOTIFYs 100 … 200, the transferee talks to the target, the transferor's call ends`, async () => {
    const t = await three(viaB2bua ? 22 : 21, viaB2bua);
    try {
      let bobCall: Call | undefined;
      let carolCall: Call | undefined;
      let transferred: Call | undefined;
      t.bob.on('invite', (inv) => {
        bobCall = inv.accept();
        bobCall.on('transferred', (next) => (transferred = next));
      });
      t.carol.on('invite', (inv) => {
        inv.progress(180);
        carolCall = inv.accept();
      });
      const a = await drive(t.clock, t.alice.invite(viaB2bua ? 'sip:bob@10.0.0.3:5060' : 'sip:bob@10.0.0.2:5060'));
      assert.ok(a.established);
      const outcome = await drive(t.clock, a.transfer('sip:carol@10.0.0.4:5060'));
      assert.equal(outcome.response.status, 202);
      assert.equal(outcome.final, 200);
      assert.equal(await drive(t.clock, a.ended), 'transferred');
      assert.ok(transferred?.established && carolCall?.established, 'Bob and Carol are talking');
      assert.equal(await drive(t.clock, bobCall!.ended), 'remote-bye');
      const toCarol = t.wire.find((w) => w.who === 'B' && w.what === 'INVITE' && w.callId === transferred!.invite!.callId)!;
      assert.match(toCarol.referredBy ?? '', /sip:alice@10\.0\.0\.1/, 'Referred-By names the transferor');
      const notifies = t.wire.filter((w) => w.who === 'B' && w.what === 'NOTIFY');
      assert.deepEqual(notifies.map((w) => w.body.trim()), ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']);
      assert.match(notifies[2]!.state ?? '', /^terminated;reason=noresource/);
      await drive(t.clock, transferred!.bye());
    } finally {
      await t.stop();
    }
  });
}
