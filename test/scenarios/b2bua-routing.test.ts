// Where the B2BUA sends leg B, on virtual time: `target: dialplan` — the dial plan's peers in
// hunt order, a new leg B (new Call-ID) for each one tried, moving on from a 503; `target:
// location` — the called user's binding; the codec policy (`codecs`) and the failure mapping
// (`failureStatus`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { B2bua, type B2buaCallConfig } from '../../src/roles/b2bua/index.js';
import { type Call, UserAgent } from '../../src/roles/user-agent/index.js';
import { DialPlan } from '../../src/dialplan/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { MemoryCdrStore, MemoryLocationStore } from '../../src/store/index.js';
import { TransportLayer, VirtualNetwork, parseListenSpec } from '../../src/transport/index.js';
import { SipElement } from '../../src/tu/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

const timers = { T1: 500, T2: 4000, T4: 5000 };

async function setup(cfg: Partial<B2buaCallConfig>, routing: { dialPlan?: DialPlan; location?: MemoryLocationStore } = {}, gwCodecs = ['PCMU', 'PCMA']) {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, 5);
  const wire: Array<{ who: string; what: string; callId: string; uri?: string; body: string }> = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({ who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, callId: m.callId, uri: m.kind === 'request' ? m.uriText : undefined, body: m.body.toString() });
  };
  const transport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.3:5060')], network: net });
  transport.onTrace = trace('B');
  await transport.start();
  const cdrs = new MemoryCdrStore();
  const logs: string[] = [];
  new SipElement({
    transport, clock, timers,
    users: (el) => ({
      b2bua: new B2bua(el, { target: 'sip:{user}@10.0.0.2:5060', offer: 'delayed', copyHeaders: [], ...cfg }, (l) => logs.push(l), cdrs, () => clock.now(), {
        domains: ['example.com'], location: routing.location, dialPlan: () => routing.dialPlan,
      }),
    }),
    routes: [{ tu: 'b2bua' }],
  });
  const common = { clock, timers, transport: { network: net } };
  const phone = await UserAgent.start({ ...common, listen: ['udp:10.0.0.1:5060'], from: 'sip:4085550100@10.0.0.1', mediaPort: 7000, codecs: ['PCMU', 'PCMA', 'telephone-event'], onTrace: trace('P') });
  const gw1 = await UserAgent.start({ ...common, listen: ['udp:10.0.0.2:5060'], mediaPort: 6000, codecs: gwCodecs, onTrace: trace('G1') });
  const gw2 = await UserAgent.start({ ...common, listen: ['udp:10.0.0.5:5060'], mediaPort: 6500, codecs: gwCodecs, onTrace: trace('G2') });
  return { clock, phone, gw1, gw2, wire, cdrs, logs, stop: async () => void (await Promise.all([phone.stop(), gw1.stop(), gw2.stop(), transport.stop()])) };
}

const port = (sdp: string | undefined) => Number(/^m=audio (\d+)/m.exec(sdp ?? '')?.[1]);

test('target: dialplan — the first peer answers 503, a new leg B (new Call-ID) goes to the next peer, which answers; one call detail record', async () => {
  const plan = new DialPlan({ dialPeers: [
    { tag: 20, destinationPattern: '2...', sessionTarget: 'ipv4:10.0.0.2:5060' },
    { tag: 21, destinationPattern: '2...', sessionTarget: 'ipv4:10.0.0.5:5060', preference: 1 },
    { tag: 30, destinationPattern: '3...', sessionTarget: 'ipv4:10.0.0.2:5060' },
  ] });
  const s = await setup({ target: 'dialplan' }, { dialPlan: plan });
  try {
    let answered: Call | undefined;
    s.gw1.on('invite', (inv) => inv.reject(503));
    s.gw2.on('invite', (inv) => {
      inv.progress(180);
      answered = inv.accept();
    });
    const a = await drive(s.clock, s.phone.invite('sip:2001@10.0.0.3:5060'));
    assert.ok(a.established, `phone: ${a.finalResponse?.status}\n${s.logs.join('\n')}`);
    const legB = s.wire.filter((w) => w.who === 'B' && w.what === 'INVITE');
    assert.deepEqual(legB.map((w) => w.uri), ['sip:2001@10.0.0.2:5060', 'sip:2001@10.0.0.5:5060'], 'peer 20, then peer 21');
    assert.notEqual(legB[0]!.callId, legB[1]!.callId, 'each try is a new call');
    assert.ok(!s.wire.some((w) => w.who === 'B' && w.what === '503 INVITE'), 'the phone never sees the 503');
    assert.equal(port(a.remoteSdp), 6500, 'the phone talks to the peer that answered');
    assert.ok(s.logs.some((l) => /dial-peer 20 failed \(503\), next dial-peer/.test(l)), s.logs.join('\n'));
    await drive(s.clock, a.bye());
    assert.equal(await drive(s.clock, answered!.ended), 'remote-bye');
    await drive(s.clock, new Promise<void>((r) => s.clock.setTimer(1000, r)));
    const [cdr, ...more] = await s.cdrs.list();
    assert.equal(more.length, 0);
    assert.deepEqual([cdr!.status, cdr!.callIdB, cdr!.endedBy], [200, legB[1]!.callId, 'caller']);
    // A number no peer matches: 404 to the phone, nothing sent on leg B.
    const none = await drive(s.clock, s.phone.invite('sip:7001@10.0.0.3:5060'));
    assert.equal(none.finalResponse?.status, 404);
  } finally {
    await s.stop();
  }
});

test('target: dialplan — a 486 ends the hunt (it is no cause to hunt on) and the phone gets 486; failureStatus maps it to 603', async () => {
  const plan = new DialPlan({ dialPeers: [
    { tag: 20, destinationPattern: '2...', sessionTarget: 'ipv4:10.0.0.2:5060' },
    { tag: 21, destinationPattern: '2...', sessionTarget: 'ipv4:10.0.0.5:5060', preference: 1 },
  ] });
  const s = await setup({ target: 'dialplan', failureStatus: { '486': 603 } }, { dialPlan: plan });
  try {
    s.gw1.on('invite', (inv) => inv.reject(486));
    s.gw2.on('invite', () => assert.fail('the hunt went on after a 486'));
    const a = await drive(s.clock, s.phone.invite('sip:2001@10.0.0.3:5060'));
    assert.equal(a.finalResponse?.status, 603);
    assert.ok(s.logs.some((l) => /failed with 486: 603 to leg A \(failureStatus maps 486\)/.test(l)), s.logs.join('\n'));
  } finally {
    await s.stop();
  }
});

test('target: location — leg B goes to the called user\'s binding', async () => {
  const location = new MemoryLocationStore();
  await location.save({ aor: 'sip:bob@example.com', contact: 'sip:bob@10.0.0.5:5060', expires: Date.now() + 3_600_000, q: 1, callId: 'r1', cseq: 1, updated: Date.now() });
  const s = await setup({ target: 'location' }, { location });
  try {
    s.gw2.on('invite', (inv) => inv.accept());
    const a = await drive(s.clock, s.phone.invite('sip:bob@10.0.0.3:5060'));
    assert.ok(a.established);
    assert.deepEqual(s.wire.filter((w) => w.who === 'B' && w.what === 'INVITE').map((w) => w.uri), ['sip:bob@10.0.0.5:5060']);
    const nobody = await drive(s.clock, s.phone.invite('sip:carol@10.0.0.3:5060'));
    assert.equal(nobody.finalResponse?.status, 404);
    await drive(s.clock, a.bye());
  } finally {
    await s.stop();
  }
});

test('codec policy: with codecs [PCMA, telephone-event] only PCMA crosses, though both ends have PCMU first; forward mode filters the offer leg B gets', async () => {
  for (const offer of ['delayed', 'forward'] as const) {
    const s = await setup({ codecs: ['PCMA', 'telephone-event'], offer });
    try {
      let b: Call | undefined;
      s.gw1.on('invite', (inv) => {
        b = inv.accept();
      });
      const a = await drive(s.clock, s.phone.invite('sip:2001@10.0.0.3:5060'));
      assert.ok(a.established, `${offer}: ${a.finalResponse?.status}`);
      assert.match(a.remoteSdp!, /^m=audio 6000 RTP\/AVP 8\r?$/m, `${offer}: the phone is answered with PCMA only`);
      if (offer === 'forward') assert.match(b!.remoteSdp!, /^m=audio 7000 RTP\/AVP 8 101\r?$/m, 'leg B is offered PCMA and telephone-event only');
      await drive(s.clock, a.bye());
    } finally {
      await s.stop();
    }
  }
});
