// Session timers (RFC 4028) between two user agents on virtual time: the interval and the
// refresher negotiated in the INVITE and its 2xx, the refresh re-INVITE at half the interval,
// BYE when no refresh comes, and 422 Session Interval Too Small with the retry it asks for.
// Thirty minutes of protocol time run in milliseconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Call, UserAgent, type UserAgentOptions } from '../../src/roles/user-agent/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { VirtualNetwork } from '../../src/transport/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';

interface Wire {
  who: string;
  what: string;
  cseq: number;
  se?: string;
  minSE?: string;
  require?: string;
  supported?: string;
  at: number;
}

async function pair(aliceOpts: Partial<UserAgentOptions> = {}, bobOpts: Partial<UserAgentOptions> = {}) {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, {}, 1);
  const wire: Wire[] = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push({
      who, what: m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`, cseq: m.cseq.seq,
      se: m.header('Session-Expires'), minSE: m.header('Min-SE'), require: m.headerValues('Require').join(', ') || undefined, supported: m.headerValues('Supported').join(', ') || undefined, at: clock.now(),
    });
  };
  const opts = { clock, transport: { network: net }, timers: { T1: 500, T2: 4000, T4: 5000 } };
  const bob = await UserAgent.start({ ...opts, ...bobOpts, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@10.0.0.2', onTrace: trace('B') });
  const alice = await UserAgent.start({ ...opts, ...aliceOpts, listen: ['udp:10.0.0.1:5060'], from: 'sip:alice@10.0.0.1', onTrace: trace('A') });
  let bobCall: Call | undefined;
  bob.on('invite', (inv) => (bobCall = inv.accept()));
  const wait = (ms: number) => drive(clock, new Promise<void>((r) => clock.setTimer(ms, r)), ms + 1000);
  return { clock, alice, bob, wire, wait, bobCall: () => bobCall!, stop: async () => void (await Promise.all([alice.stop(), bob.stop()])) };
}

test('the handbook\'s INVITE (Supported: 100rel, timer; Min-SE: 1800; no Session-Expires) is answered Session-Expires: 1800;refresher=uac with Require: timer', async () => {
  const p = await pair({ sessionTimer: false }, {});
  try {
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060', { headers: [['Supported', '100rel, timer'], ['Min-SE', '1800']] }));
    assert.ok(call.established);
    const ok = p.wire.find((w) => w.what === '200 INVITE')!;
    assert.equal(ok.se, '1800;refresher=uac');
    assert.match(ok.require ?? '', /\btimer\b/);
    await drive(p.clock, call.bye());
  } finally {
    await p.stop();
  }
});

test('default on both ends: Session-Expires 1800 and Min-SE 90 in the INVITE; the caller refreshes at 900 s with a re-INVITE, again at 1800 s, and the call stays up', async () => {
  const p = await pair();
  try {
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060'));
    assert.ok(call.established);
    const invite = p.wire.find((w) => w.what === 'INVITE')!;
    assert.equal(invite.se, '1800');
    assert.equal(invite.minSE, '90');
    assert.match(invite.supported ?? '', /\btimer\b/);
    assert.deepEqual(call.session.sessionInterval, { seconds: 1800, refresher: true });
    const start = p.clock.now();
    await p.wait(1_900_000);
    const refreshes = p.wire.filter((w) => w.who === 'A' && w.what === 'INVITE' && w.cseq > invite.cseq);
    assert.equal(refreshes.length, 2, p.wire.map((w) => `${w.who}>${w.what}@${Math.round((w.at - start) / 1000)}s`).join(' '));
    assert.ok(Math.abs(refreshes[0]!.at - start - 900_000) < 2_000, `first refresh at ${(refreshes[0]!.at - start) / 1000} s`);
    assert.equal(refreshes[0]!.se, '1800;refresher=uac');
    assert.ok(call.established && p.bobCall().established, 'refreshed, not ended');
    await drive(p.clock, call.bye());
  } finally {
    await p.stop();
  }
});

test('no refresh comes (the caller is gone): the callee ends the session with BYE at 1800 − 32 s', async () => {
  const p = await pair();
  try {
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060'));
    assert.ok(call.established);
    const start = p.clock.now();
    await p.alice.stop(); // no refresh will come
    const reason = await drive(p.clock, p.bobCall().ended, 2_000_000);
    assert.equal(reason, 'session-expired');
    const bye = p.wire.find((w) => w.who === 'B' && w.what === 'BYE')!;
    assert.ok(Math.abs(bye.at - start - 1_768_000) < 2_000, `BYE at ${(bye.at - start) / 1000} s`);
  } finally {
    await p.stop();
  }
});

test('422 Session Interval Too Small: the callee\'s Min-SE is 300, the caller asked for 120; it tries again with 300 and the call is set up', async () => {
  const p = await pair({ sessionTimer: { expires: 120, minSE: 90 } }, { sessionTimer: { expires: 1800, minSE: 300 } });
  try {
    const call = await drive(p.clock, p.alice.invite('sip:bob@10.0.0.2:5060'));
    assert.ok(call.established, `final ${call.finalResponse?.status}`);
    const answers = p.wire.filter((w) => w.who === 'B' && w.what.endsWith(' INVITE') && !w.what.startsWith('1'));
    assert.equal(answers[0]!.what, '422 INVITE');
    assert.equal(answers[0]!.minSE, '300');
    const invites = p.wire.filter((w) => w.who === 'A' && w.what === 'INVITE');
    assert.deepEqual(invites.map((w) => w.se), ['120', '300']);
    assert.equal(p.wire.find((w) => w.what === '200 INVITE')!.se, '300;refresher=uac');
    await drive(p.clock, call.bye());
  } finally {
    await p.stop();
  }
});
