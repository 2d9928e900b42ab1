// Attended transfer (RFC 5589 §7, Replaces RFC 3891) on real loopback sockets: three user agents
// — directly, and through `createServer` with the B2BUA role routing leg B by a dial plan (Bob
// is 2001, Carol 3001). Alice talks to Bob and to Carol, then REFERs Bob to Carol with a Replaces
// naming her call with Carol; at the end Bob and Carol talk (each sends to the other's media
// port) and both of Alice's calls are over.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from '../../../src/index.js';
import { type Call, UserAgent } from '../../../src/roles/user-agent/index.js';
import { freePorts } from './callflow-harness.js';

const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
});

const port = (sdp: string | undefined) => Number(/^m=audio (\d+)/m.exec(sdp ?? '')?.[1]);

async function party(name: string, sipPort: number, mediaPort: number): Promise<{ ua: UserAgent; calls: Call[] }> {
  const ua = await UserAgent.start({ listen: [`udp:127.0.0.1:${sipPort}`], from: `sip:${name}@127.0.0.1`, mediaPort, timers: { T1: 100 } });
  stops.push(() => ua.stop());
  const calls: Call[] = [];
  // Every answered call — ours, and one the UA took for a Replaces on its own — comes as 'call'.
  ua.on('invite', (inv) => void inv.accept());
  ua.on('call', (c) => {
    if (c.direction !== 'incoming') return;
    calls.push(c);
    // As transferee the UA places the new call itself (RFC 3515): that one is kept too.
    c.on('transferred', (next) => calls.push(next));
  });
  return { ua, calls };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const viaB2bua of [false, true]) {
  test(`attended transfer ${viaB2bua ? 'through the B2BUA (refer: handle, leg B by the dial plan)' : 'between user agents'}: Bob and Carol end up talking, Alice's two calls end`, { timeout: 60_000 }, async () => {
    const [a, b, c, x] = (await freePorts(4)) as [number, number, number, number];
    const alice = await party('alice', a, 30000);
    const bob = await party('bob', b, 32000);
    const carol = await party('carol', c, 34000);
    let bobUri = `sip:bob@127.0.0.1:${b}`;
    let carolUri = `sip:carol@127.0.0.1:${c}`;
    const logs: string[] = [];
    if (viaB2bua) {
      const server = await createServer({
        listen: [`udp:127.0.0.1:${x}`], domains: ['127.0.0.1'], roles: ['b2bua'], store: 'memory',
        b2bua: { target: 'dialplan', offer: 'delayed' },
        dialPlan: { dialPeers: [{ tag: 2, destinationPattern: '2001', sessionTarget: `ipv4:127.0.0.1:${b}` }, { tag: 3, destinationPattern: '3001', sessionTarget: `ipv4:127.0.0.1:${c}` }] },
      }, { log: (l) => logs.push(l) });
      stops.push(() => server.stop());
      bobUri = `sip:2001@127.0.0.1:${x}`;
      carolUri = `sip:3001@127.0.0.1:${x}`;
    }
    const toBob = await alice.ua.invite(bobUri);
    const toCarol = await alice.ua.invite(carolUri);
    assert.ok(toBob.established && toCarol.established, `${toBob.finalResponse?.status} ${toCarol.finalResponse?.status}\n${logs.join('\n')}`);
    await until('both answered calls', () => bob.calls.length === 1 && carol.calls.length === 1);
    const outcome = await toBob.transfer(toCarol);
    assert.equal(outcome.response.status, 202);
    assert.equal(outcome.final, 200, logs.join('\n'));
    assert.equal(await toBob.ended, 'transferred');
    assert.equal(await toCarol.ended, 'remote-bye');
    // Bob's call and Carol's: the ones that remain talk to each other.
    const bobCall = bob.calls.find((k) => k.established)!;
    const carolCall = carol.calls.find((k) => k.established)!;
    assert.ok(bobCall && carolCall, 'Bob and Carol each have a call up');
    assert.equal(port(bobCall.remoteSdp), 34000, 'Bob sends to Carol');
    assert.equal(port(carolCall.remoteSdp), 32000, 'Carol sends to Bob');
    if (viaB2bua) assert.ok(logs.some((l) => /REFER to .*: replaced/.test(l)), logs.join('\n'));
    else assert.equal(carol.calls.length, 2, 'Carol took a new call (Replaces) in place of Alice\'s');
    await bobCall.bye();
    await until('Carol\'s call ends with Bob\'s', () => !carolCall.established);
  });
}
