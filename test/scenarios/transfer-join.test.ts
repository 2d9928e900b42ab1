// Transfers that join two parties, on virtual time:
// - attended transfer between user agents (RFC 5589 §7, RFC 3891): Alice talks to Bob and to
//   Carol, REFERs Bob to Carol with a Replaces naming her call with Carol; Bob's INVITE carries
//   the Replaces, Carol takes it in place of Alice's call (BYE to Alice), Alice hangs up on Bob;
// - the B2BUA handling a REFER itself (refer: handle, the default): blind — it calls the target
//   with the remaining party's media and re-INVITEs the remaining party with the target's;
//   attended — the Replaces names one of its own legs, and the two far ends are joined.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { B2bua } from '../../src/roles/b2bua/index.js';
import { type Call, UserAgent } from '../../src/roles/user-agent/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { Resolver, TransportLayer, VirtualNetwork, parseListenSpec } from '../../src/transport/index.js';
import { SipElement } from '../../src/tu/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

const timers = { T1: 500, T2: 4000, T4: 5000 };

interface Sent { who: string; what: string; callId: string; body: string; replaces?: string; referTo?: string; state?: string }

async function parties(seed: number, b2bua: boolean) {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, seed);
  const wire: Sent[] = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({
      who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, callId: m.callId, body: m.body.toString(),
      replaces: m.header('Replaces'), referTo: m.header('Refer-To'), state: m.header('Subscription-State'),
    });
  };
  const common = { clock, timers, transport: { network: net } };
  // Distinct media ports, so that who talks to whom shows in the SDP.
  const alice = await UserAgent.start({ ...common, listen: ['udp:10.0.0.1:5060'], from: 'sip:alice@10.0.0.1', mediaPort: 10000, onTrace: trace('A') });
  const bob = await UserAgent.start({ ...common, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@10.0.0.2', mediaPort: 20000, onTrace: trace('B') });
  const carol = await UserAgent.start({ ...common, listen: ['udp:10.0.0.4:5060'], from: 'sip:carol@10.0.0.4', mediaPort: 40000, onTrace: trace('C') });
  const stops: Array<() => Promise<void>> = [() => alice.stop(), () => bob.stop(), () => carol.stop()];
  const logs: string[] = [];
  if (b2bua) {
    const transport = new TransportLayer({ listen: [parseListenSpec('udp:10.0.0.3:5060')], network: net });
    transport.onTrace = trace('X');
    await transport.start();
    new SipElement({
      transport, clock, timers,
      resolver: new Resolver({ hosts: { 'bob.test': '10.0.0.2', 'carol.test': '10.0.0.4' } }),
      users: (el) => ({ b2bua: new B2bua(el, { target: 'sip:{user}@{user}.test:5060', offer: 'delayed', copyHeaders: [] }, (l) => logs.push(l)) }),
      routes: [{ tu: 'b2bua' }],
    });
    stops.push(() => transport.stop());
  }
  return { clock, alice, bob, carol, wire, logs, stop: async () => void (await Promise.all(stops.map((s) => s()))) };
}

/** The media port a session description sends to. */
const port = (sdp: string | undefined): number | undefined => {
  const m = /^m=audio (\d+)/m.exec(sdp ?? '');
  return m ? Number(m[1]) : undefined;
};

function answerAll(ua: UserAgent, calls: Call[]): void {
  ua.on('invite', (inv) => calls.push(inv.accept()));
  ua.on('call', (c) => {
    if (!calls.includes(c) && c.direction === 'incoming') calls.push(c);
  });
}

test('attended transfer between user agents: REFER with Replaces, the target takes the new call in place of the old, all three dialogs end right', async () => {
  const t = await parties(31, false);
  try {
    const bobCalls: Call[] = [];
    const carolCalls: Call[] = [];
    answerAll(t.bob, bobCalls);
    answerAll(t.carol, carolCalls);
    const toBob = await drive(t.clock, t.alice.invite('sip:bob@10.0.0.2:5060'));
    const toCarol = await drive(t.clock, t.alice.invite('sip:carol@10.0.0.4:5060'));
    assert.ok(toBob.established && toCarol.established);
    let replacedBy: Call | undefined;
    carolCalls[0]!.on('replaced', (c) => (replacedBy = c));
    const outcome = await drive(t.clock, toBob.transfer(toCarol));
    assert.equal(outcome.response.status, 202);
    assert.equal(outcome.final, 200);
    const refer = t.wire.find((w) => w.who === 'A' && w.what === 'REFER')!;
    assert.match(refer.referTo ?? '', /^<sip:[^@>]+@10\.0\.0\.4:5060\?Replaces=[^>]*%3Bto-tag%3D[^>]*%3Bfrom-tag%3D/, 'Refer-To carries the escaped Replaces');
    const invite = t.wire.find((w) => w.who === 'B' && w.what === 'INVITE')!;
    const d = toCarol.dialog!;
    assert.equal(invite.replaces, `${d.callId};to-tag=${d.remoteTag};from-tag=${d.localTag}`, 'the INVITE names Alice\'s dialog with Carol, tags as Carol sees them');
    assert.equal(await drive(t.clock, toBob.ended), 'transferred');
    assert.equal(await drive(t.clock, toCarol.ended), 'remote-bye', 'Carol ended the replaced call');
    assert.equal(await drive(t.clock, carolCalls[0]!.ended), 'replaced');
    assert.ok(replacedBy?.established, 'Carol is in the new call');
    assert.equal(port(replacedBy!.remoteSdp), 20000, 'Carol talks to Bob\'s media');
    await drive(t.clock, replacedBy!.bye());
  } finally {
    await t.stop();
  }
});

test('a Replaces that names no dialog is refused 481, and the call it was meant for goes on', async () => {
  const t = await parties(32, false);
  try {
    const carolCalls: Call[] = [];
    answerAll(t.carol, carolCalls);
    const toCarol = await drive(t.clock, t.alice.invite('sip:carol@10.0.0.4:5060'));
    const other = await drive(t.clock, t.bob.invite('sip:carol@10.0.0.4:5060', { headers: [['Replaces', `${toCarol.dialog!.callId};to-tag=nope;from-tag=${toCarol.dialog!.localTag}`]] }));
    assert.equal(other.finalResponse?.status, 481);
    assert.ok(toCarol.established);
    await drive(t.clock, toCarol.bye());
  } finally {
    await t.stop();
  }
});

test('B2BUA handles a blind REFER: calls the target with the remaining party\'s media, re-INVITEs that party with the target\'s, NOTIFYs 100 … 200', async () => {
  const t = await parties(33, true);
  try {
    const bobCalls: Call[] = [];
    const carolCalls: Call[] = [];
    answerAll(t.bob, bobCalls);
    t.carol.on('invite', (inv) => {
      inv.progress(180);
      carolCalls.push(inv.accept());
    });
    const a = await drive(t.clock, t.alice.invite('sip:bob@10.0.0.3:5060'));
    assert.ok(a.established);
    assert.equal(port(bobCalls[0]!.remoteSdp), 10000, 'Bob sends to Alice');
    const outcome = await drive(t.clock, a.transfer('sip:carol@carol.test:5060'));
    assert.equal(outcome.response.status, 202);
    assert.equal(outcome.final, 200);
    assert.equal(await drive(t.clock, a.ended), 'transferred');
    const notifies = t.wire.filter((w) => w.who === 'X' && w.what === 'NOTIFY');
    assert.deepEqual(notifies.map((w) => w.body.trim()), ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']);
    assert.ok(!t.wire.some((w) => w.who === 'X' && w.what === 'REFER'), 'the REFER is not passed to Bob');
    assert.ok(carolCalls[0]?.established);
    assert.equal(port(carolCalls[0]!.remoteSdp), 20000, 'Carol was offered Bob\'s media');
    assert.equal(port(bobCalls[0]!.remoteSdp), 40000, 'Bob was re-INVITEd with Carol\'s media');
    assert.ok(bobCalls[0]!.established, 'Bob\'s call goes on');
    // The joined legs end together.
    await drive(t.clock, bobCalls[0]!.bye());
    assert.equal(await drive(t.clock, carolCalls[0]!.ended), 'remote-bye');
    assert.ok(t.logs.some((l) => /REFER to sip:carol@carol\.test:5060: joined/.test(l)), t.logs.join('\n'));
  } finally {
    await t.stop();
  }
});

test('B2BUA handles a blind REFER whose target refuses: NOTIFY 486, and the original call goes on', async () => {
  const t = await parties(34, true);
  try {
    const bobCalls: Call[] = [];
    answerAll(t.bob, bobCalls);
    t.carol.on('invite', (inv) => inv.reject(486));
    const a = await drive(t.clock, t.alice.invite('sip:bob@10.0.0.3:5060'));
    const outcome = await drive(t.clock, a.transfer('sip:carol@carol.test:5060'));
    assert.equal(outcome.final, 486);
    assert.ok(a.established && bobCalls[0]!.established, 'Alice and Bob still talk');
    assert.equal(port(bobCalls[0]!.remoteSdp), 10000);
    await drive(t.clock, a.bye());
    assert.equal(await drive(t.clock, bobCalls[0]!.ended), 'remote-bye');
  } finally {
    await t.stop();
  }
});

test('B2BUA handles an attended REFER whose Replaces names its own leg: the two far ends are joined, both of Alice\'s legs end', async () => {
  const t = await parties(35, true);
  try {
    const bobCalls: Call[] = [];
    const carolCalls: Call[] = [];
    answerAll(t.bob, bobCalls);
    answerAll(t.carol, carolCalls);
    const toBob = await drive(t.clock, t.alice.invite('sip:bob@10.0.0.3:5060'));
    const toCarol = await drive(t.clock, t.alice.invite('sip:carol@10.0.0.3:5060'));
    assert.ok(toBob.established && toCarol.established);
    const outcome = await drive(t.clock, toBob.transfer(toCarol));
    assert.equal(outcome.response.status, 202);
    assert.equal(outcome.final, 200);
    assert.equal(await drive(t.clock, toBob.ended), 'transferred');
    assert.equal(await drive(t.clock, toCarol.ended), 'remote-bye', 'the B2BUA ended the replaced leg');
    assert.ok(bobCalls[0]!.established && carolCalls[0]!.established, 'Bob and Carol still in their calls');
    assert.equal(port(bobCalls[0]!.remoteSdp), 40000, 'Bob now sends to Carol');
    assert.equal(port(carolCalls[0]!.remoteSdp), 20000, 'Carol now sends to Bob');
    assert.ok(!t.wire.some((w) => w.who === 'X' && w.what === 'INVITE' && w.replaces !== undefined), 'no new call was placed');
    await drive(t.clock, carolCalls[0]!.bye());
    assert.equal(await drive(t.clock, bobCalls[0]!.ended), 'remote-bye', 'the joined legs end together');
  } finally {
    await t.stop();
  }
});
