// Real clients: two headless baresip 1.0.0 UAs (apt baresip-core) register with digest passwords
// to `switchboard serve` and one calls the other through its proxy (auto-answer), over UDP and
// over TCP. Asserted from both sides: baresip's ctrl_tcp events (ESTABLISHED / CLOSED on both
// UAs) and the server's --trace (REGISTER 401 → 200, INVITE 407 → INVITE with
// Proxy-Authorization → 100 / 180 / 200 relayed, ACK and BYE relayed, 200 for the BYE relayed).
//
// The server runs with the default digest algorithms: its challenge offers MD5 only. That is what
// baresip 1.0.0 (libre) needs: it takes only the topmost WWW-Authenticate and gives up when its
// algorithm is SHA-256 ("Register: Function not implemented"). SHA-256 stays available by
// configuration (`auth: { algorithms: [SHA-256, MD5] }`), but such a server shuts baresip out.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { freePortBoth, freePort, stopAll } from '../../harness/processes.js';
import { BaresipUA } from '../baresip/baresip-ua.js';
import { freeSipPorts, parseTrace, sleep, startTracedServe, summarize, usersYaml, type TracedMessage, type TracedServer } from './interop-helpers.js';

after(async () => {
  await stopAll();
});

const haveBaresip = spawnSync('sh', ['-c', 'command -v baresip'], { encoding: 'utf8' }).status === 0;

async function runCall(transport: 'udp' | 'tcp'): Promise<void> {
  const port = await freePortBoth();
  const [aPort, bPort] = await freeSipPorts(2);
  const [aCtrl, bCtrl] = [await freePort('tcp'), await freePort('tcp')];
  const srv: TracedServer = await startTracedServe(
    [
      `listen: [udp:127.0.0.1:${port}, tcp:127.0.0.1:${port}]`,
      'domains: [127.0.0.1]',
      'roles: [registrar, proxy]',
      'store: memory',
      'registrar: { authenticate: true }',
      'proxy: { authenticate: true, recordRoute: true }',
      usersYaml(['alice', 'bob']),
    ].join('\n'),
    [{ kind: 'udp', port }, { kind: 'tcp', port }],
  );
  let alice: BaresipUA | undefined;
  let bob: BaresipUA | undefined;
  const registrar = `127.0.0.1:${port}`;
  const diag = () => `--- server trace (${srv.traceFile}) ---\n${summarize(parseTrace(srv.trace()))}` +
    `\n--- alice events ---\n${alice?.events.map((e) => `${e.type} ${e.param ?? ''}`).join('\n') ?? ''}` +
    `\n--- bob events ---\n${bob?.events.map((e) => `${e.type} ${e.param ?? ''}`).join('\n') ?? ''}`;
  try {
    bob = await BaresipUA.start({ user: 'bob', sipPort: bPort!, ctrlPort: bCtrl, registrar, transport, lifetimeS: 120 });
    alice = await BaresipUA.start({ user: 'alice', sipPort: aPort!, ctrlPort: aCtrl, registrar, transport, lifetimeS: 120 });

    await alice.command('dial', 'sip:bob@127.0.0.1');
    const out = await alice.waitEvent('CALL_ESTABLISHED', () => true, 15_000).catch((e: Error) => assert.fail(`${e.message}\n${diag()}`));
    const inc = await bob.waitEvent('CALL_ESTABLISHED', () => true, 5_000).catch((e: Error) => assert.fail(`${e.message}\n${diag()}`));
    assert.equal(out.direction, 'outgoing');
    assert.equal(inc.direction, 'incoming');
    assert.equal(inc.peeruri, 'sip:alice@127.0.0.1');
    await sleep(1000);
    await alice.command('hangup');
    const closedB = await bob.waitEvent('CALL_CLOSED', () => true, 10_000).catch((e: Error) => assert.fail(`${e.message}\n${diag()}`));
    await alice.waitEvent('CALL_CLOSED', () => true, 5_000);
    // bob was hung up on by the peer (a BYE reached it), not by a timeout or an error response.
    assert.match(String(closedB.param ?? ''), /reset by peer|Connection reset|^$/i, diag());
    await sleep(300); // the 200 for the BYE travels back through the proxy

    const msgs = parseTrace(srv.trace());
    const kind = transport.toUpperCase();
    const callId = out.id!;
    const inCall = msgs.filter((m) => m.callId === callId);
    const ctx = `\n${diag()}`;
    const aHost = `127.0.0.1:${aPort}`;
    const bHost = `127.0.0.1:${bPort}`;
    const is = (m: TracedMessage, dir: 'Sent' | 'Received', peer: string, start: RegExp) =>
      m.dir === dir && m.kind === kind && (dir === 'Sent' ? m.to : m.from).startsWith('127.0.0.1:') && start.test(m.start) && (transport === 'tcp' || (dir === 'Sent' ? m.to : m.from) === peer);

    // REGISTER: challenged, then accepted, for both users.
    for (const u of ['alice', 'bob']) {
      const regs = msgs.filter((m) => m.cseqMethod === 'REGISTER' && m.text.includes(`From: <sip:${u}@127.0.0.1>`));
      assert.ok(regs.some((m) => m.status === 401), `REGISTER of ${u} not challenged${ctx}`);
      assert.ok(regs.some((m) => m.status === 200), `REGISTER of ${u} not accepted${ctx}`);
    }
    // The call, in order as the proxy saw it.
    const seq: Array<[string, (m: TracedMessage) => boolean]> = [
      ['INVITE from alice without credentials', (m) => is(m, 'Received', aHost, /^INVITE sip:bob@127\.0\.0\.1/) && !/^Proxy-Authorization:/im.test(m.text)],
      ['407 to alice', (m) => is(m, 'Sent', aHost, /^SIP\/2\.0 407 /)],
      ['ACK for the 407', (m) => is(m, 'Received', aHost, /^ACK /)],
      ['INVITE from alice with Proxy-Authorization', (m) => is(m, 'Received', aHost, /^INVITE sip:bob@127\.0\.0\.1/) && /^Proxy-Authorization: Digest username="alice"/im.test(m.text)],
      ['100 Trying to alice', (m) => is(m, 'Sent', aHost, /^SIP\/2\.0 100 /)],
      ['INVITE relayed to bob (Record-Route)', (m) => is(m, 'Sent', bHost, /^INVITE sip:bob/) && /^Record-Route: <sip:127\.0\.0\.1:\d+[;>]/im.test(m.text)],
      ['180 from bob', (m) => is(m, 'Received', bHost, /^SIP\/2\.0 180 /)],
      ['180 relayed to alice', (m) => is(m, 'Sent', aHost, /^SIP\/2\.0 180 /)],
      ['200 from bob', (m) => is(m, 'Received', bHost, /^SIP\/2\.0 200 /) && m.cseqMethod === 'INVITE'],
      ['200 relayed to alice', (m) => is(m, 'Sent', aHost, /^SIP\/2\.0 200 /) && m.cseqMethod === 'INVITE'],
      ['ACK from alice', (m) => is(m, 'Received', aHost, /^ACK sip:bob/)],
      ['ACK relayed to bob', (m) => is(m, 'Sent', bHost, /^ACK sip:bob/)],
      ['BYE from alice', (m) => is(m, 'Received', aHost, /^BYE sip:bob/)],
      ['BYE relayed to bob', (m) => is(m, 'Sent', bHost, /^BYE sip:bob/)],
      ['200 BYE from bob', (m) => is(m, 'Received', bHost, /^SIP\/2\.0 200 /) && m.cseqMethod === 'BYE'],
      ['200 BYE relayed to alice', (m) => is(m, 'Sent', aHost, /^SIP\/2\.0 200 /) && m.cseqMethod === 'BYE'],
    ];
    let i = 0;
    for (const [what, pred] of seq) {
      const j = inCall.findIndex((m, k) => k >= i && pred(m));
      assert.ok(j >= 0, `${transport}: missing "${what}" (after message ${i}) in the trace of call ${callId}:\n${summarize(inCall)}${ctx}`);
      i = j + 1;
    }
    // No error response anywhere in the dialog after the 407 round.
    const errors = inCall.filter((m) => m.status !== undefined && m.status >= 400 && m.status !== 407);
    assert.deepEqual(errors.map((m) => m.start), [], ctx);
  } finally {
    await alice?.stop();
    await bob?.stop();
    await srv.stop();
  }
}

test('baresip ↔ baresip through serve over UDP: register (401), call (407), auto-answer, BYE 200', { skip: !haveBaresip && 'baresip not installed (apt baresip-core; node scripts/ensure-peers.mjs)', timeout: 90_000 }, async () => {
  await runCall('udp');
});

test('baresip ↔ baresip through serve over TCP: register (401), call (407), auto-answer, BYE 200', { skip: !haveBaresip && 'baresip not installed (apt baresip-core; node scripts/ensure-peers.mjs)', timeout: 90_000 }, async () => {
  await runCall('tcp');
});
