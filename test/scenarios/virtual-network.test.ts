// Scenario tests on virtual time (issue 13): two user agents on a VirtualNetwork, with loss,
// duplication and reordering drawn from a seed, driven by a VirtualClock. A call that spans
// seconds of protocol time (retransmissions at T1, 2·T1 …, Timer B, Timer J) runs in
// milliseconds, and the same seed gives the same exchange every time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserAgent } from '../../src/roles/user-agent/index.js';
import { parseMessage } from '../../src/sip/index.js';
import { type LinkConditions, VirtualNetwork } from '../../src/transport/index.js';
import { VirtualClock } from '../../src/util/clock.js';
import { drive } from '../harness/virtual-time.js';


interface Outcome {
  established: boolean;
  byeStatus: number | undefined;
  ended: string | undefined;
  /** What went over the wire, in order: "A>INVITE", "B<200 INVITE" … */
  wire: string[];
  virtualMs: number;
  stats: VirtualNetwork['stats'];
}

async function call(conditions: LinkConditions, seed: number): Promise<Outcome> {
  const clock = new VirtualClock();
  const net = new VirtualNetwork(clock, conditions, seed);
  const wire: string[] = [];
  const trace = (who: string) => (ev: { direction: string; bytes: Buffer }) => {
    if (ev.direction !== 'Sent') return;
    const m = parseMessage(ev.bytes);
    wire.push(`${who}>${m.kind === 'request' ? m.method : `${m.status} ${m.cseq.method}`}`);
  };
  const opts = { clock, transport: { network: net }, timers: { T1: 500, T2: 4000, T4: 5000 } };
  const bob = await UserAgent.start({ ...opts, listen: ['udp:10.0.0.2:5060'], from: 'sip:bob@10.0.0.2', onTrace: trace('B') });
  const alice = await UserAgent.start({ ...opts, listen: ['udp:10.0.0.1:5060'], from: 'sip:alice@10.0.0.1', onTrace: trace('A') });
  let ended: string | undefined;
  bob.on('invite', (inv) => {
    const c = inv.accept();
    c.on('ended', (reason: string) => (ended = reason));
  });
  try {
    const c = await drive(clock, alice.invite('sip:bob@10.0.0.2:5060'));
    const established = c.established;
    const bye = established ? await drive(clock, c.bye()) : undefined;
    // Let the far end's Timer J run out, so that every retransmission is in the record.
    clock.advance(64 * 500 + 1000);
    return { established, byeStatus: bye?.status, ended, wire, virtualMs: clock.now(), stats: { ...net.stats } };
  } finally {
    await alice.stop();
    await bob.stop();
  }
}

test('a call over a clean virtual network: INVITE, 200, ACK, BYE, 200 — in virtual time', async () => {
  const o = await call({}, 1);
  assert.equal(o.established, true);
  assert.equal(o.byeStatus, 200);
  assert.equal(o.ended, 'remote-bye');
  assert.deepEqual(o.wire.filter((w) => !w.includes('100 ')), ['A>INVITE', 'B>200 INVITE', 'A>ACK', 'A>BYE', 'B>200 BYE']);
  assert.equal(o.stats.lost, 0);
});

test('30 % loss, 10 % duplicates, up to 300 ms of reordering: the transactions retransmit until the call is up and torn down', async () => {
  const lossy: LinkConditions = { loss: 0.3, duplicate: 0.1, delayMs: 20, jitterMs: 300 };
  let seen = 0;
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const o = await call(lossy, seed);
    assert.equal(o.established, true, `seed ${seed}: ${o.wire.join(' ')}`);
    assert.equal(o.byeStatus, 200, `seed ${seed}: ${o.wire.join(' ')}`);
    assert.equal(o.ended, 'remote-bye', `seed ${seed}`);
    seen += o.stats.lost;
  }
  assert.ok(seen > 0, 'some datagrams were lost');
});

test('the same seed gives the same exchange; another seed another one', async () => {
  const lossy: LinkConditions = { loss: 0.3, duplicate: 0.1, delayMs: 20, jitterMs: 300 };
  const a = await call(lossy, 7);
  const b = await call(lossy, 7);
  assert.deepEqual(a.wire, b.wire);
  assert.equal(a.virtualMs, b.virtualMs);
  const others = await Promise.all([8, 9, 10].map((s) => call(lossy, s)));
  assert.ok(others.some((o) => o.wire.join() !== a.wire.join()), 'the seed matters');
});

test('a dead link: the INVITE times out with a synthetic 408 after Timer B = 64·T1 of virtual time, at once', async () => {
  const started = performance.now();
  const o = await call({ loss: 1 }, 1);
  assert.equal(o.established, false);
  assert.ok(o.wire.filter((w) => w === 'A>INVITE').length >= 6, `INVITE retransmitted: ${o.wire.join(' ')}`);
  assert.ok(o.virtualMs >= 32_000, `virtual time ${o.virtualMs}`);
  assert.ok(performance.now() - started < 20_000, 'virtual time, not real time');
});
