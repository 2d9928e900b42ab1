// Real clients: baresip calls baresip through `switchboard serve` with the B2BUA role (handbook
// call flow 4, docs/b2bua.md), over UDP, with a delayed offer on leg B. Asserted from both sides:
// baresip's ctrl_tcp events (ESTABLISHED, RTP established, CLOSED on both UAs) and the server's
// --trace:
//   - leg A (alice ↔ B2BUA) and leg B (B2BUA ↔ bob) are different calls (different Call-IDs,
//     neither Call-ID seen on the other leg);
//   - leg B's INVITE carries no SDP (offer: delayed); bob's 200 is the offer, our ACK the answer;
//   - the SDP alice gets in the 200 and the SDP bob gets in the ACK list exactly the codecs both
//     baresips have (alice: PCMU PCMA telephone-event; bob: PCMA telephone-event), each in the
//     payload types of the side it answers, at the OTHER endpoint's media address and port
//     (media passthrough) — and RTP does flow directly (both report CALL_RTPESTAB);
//   - alice hangs up: BYE on leg A (answered 200), then BYE on leg B (answered 200 by bob).
//
// No registration anywhere: the B2BUA sends leg B straight to `b2bua.target`
// (sip:{user}@127.0.0.1:BOBPORT), and a serve with roles [b2bua] only would answer REGISTER
// with 405. BaresipUA supports `register: false` (regint=0), so both UAs run unregistered;
// alice's account still names the B2BUA as its outbound proxy (the `registrar` option), so her
// INVITE goes there.
//
// Codec intersection: BaresipUA writes every account with audio_codecs=PCMU,PCMA, so two plain
// BaresipUAs would have the same set and the intersection would prove nothing. Bob's baresip is
// therefore started under a placeholder account (`bobbase`) and given, over ctrl_tcp, a second
// account `<sip:bob@127.0.0.1>;audio_codecs=PCMA` with baresip's own `uanew` command. baresip
// routes an incoming INVITE to the account whose AOR user is the Request-URI user (uag_find), so
// leg B (sip:bob@127.0.0.1:BOBPORT) reaches the PCMA-only account; the test checks that it did
// (the event's accountaor) and that bob's offer indeed lacks PCMU.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { freePort, freePortBoth, stopAll } from '../../harness/processes.js';
import { BaresipUA, type BaresipEvent } from '../baresip/baresip-ua.js';
import { freeSipPorts, parseTrace, sleep, startTracedServe, summarize, type TracedMessage, type TracedServer } from './interop-helpers.js';

after(async () => {
  await stopAll();
});

const haveBaresip = spawnSync('sh', ['-c', 'command -v baresip'], { encoding: 'utf8' }).status === 0;

/** The SDP of a traced message: the lines of form `x=…` after the header (log lines dropped). */
function sdpOf(m: TracedMessage): string {
  const i = m.text.search(/\n\r?\n/);
  if (i < 0) return '';
  return m.text.slice(i).split(/\r?\n/).filter((l) => /^[a-z]=/.test(l)).join('\n');
}

const STATIC_PT: Record<string, string> = { '0': 'PCMU', '3': 'GSM', '8': 'PCMA', '9': 'G722', '13': 'CN', '18': 'G729' };

interface AudioStream {
  address: string;
  port: number;
  /** Payload types of the m=audio line, in order. */
  formats: string[];
  /** Codec name (upper case) of each payload type, in the same order. */
  codecs: string[];
  /** Payload type → codec name. */
  byPt: Map<string, string>;
}

/** The first m=audio stream of `sdp`: its address (media-level c= or session c=), port, formats and codecs. */
function audioOf(sdp: string, what: string): AudioStream {
  const lines = sdp.split('\n');
  const mi = lines.findIndex((l) => l.startsWith('m=audio '));
  assert.ok(mi >= 0, `${what}: no m=audio line in\n${sdp}`);
  const next = lines.findIndex((l, k) => k > mi && l.startsWith('m='));
  const media = lines.slice(mi, next < 0 ? undefined : next);
  const session = lines.slice(0, mi);
  const cLine = media.find((l) => l.startsWith('c=')) ?? session.find((l) => l.startsWith('c='));
  assert.ok(cLine, `${what}: no c= line in\n${sdp}`);
  const [, port, , ...formats] = lines[mi]!.slice(2).trim().split(/\s+/);
  const byPt = new Map<string, string>();
  for (const f of formats) {
    const rtpmap = media.find((l) => l.startsWith(`a=rtpmap:${f} `));
    const name = rtpmap ? rtpmap.split(' ')[1]!.split('/')[0]! : STATIC_PT[f];
    byPt.set(f, (name ?? `PT${f}`).toUpperCase());
  }
  return { address: cLine.trim().split(/\s+/)[2]!, port: Number(port), formats, codecs: formats.map((f) => byPt.get(f)!), byPt };
}

const AUX = new Set(['TELEPHONE-EVENT', 'CN']);
const voice = (codecs: string[]) => codecs.filter((c) => !AUX.has(c));
const sorted = (xs: string[]) => [...xs].sort();

test('baresip → B2BUA (serve, roles [b2bua], delayed offer) → baresip: new Call-ID on leg B, intersected codec, media passthrough, BYE on both legs', { skip: !haveBaresip && 'baresip not installed (apt baresip-core; node scripts/ensure-peers.mjs)', timeout: 90_000 }, async () => {
  const port = await freePortBoth();
  const [aPort, bPort] = await freeSipPorts(2);
  const [aCtrl, bCtrl] = [await freePort('tcp'), await freePort('tcp')];
  const srv: TracedServer = await startTracedServe(
    [
      `listen: [udp:127.0.0.1:${port}]`,
      'domains: [127.0.0.1]',
      'roles: [b2bua]',
      'store: memory',
      `b2bua: { target: 'sip:{user}@127.0.0.1:${bPort}', offer: delayed }`,
    ].join('\n'),
    [{ kind: 'udp', port }],
    120_000,
  );
  let alice: BaresipUA | undefined;
  let bob: BaresipUA | undefined;
  const b2bua = `127.0.0.1:${port}`;
  const aHost = `127.0.0.1:${aPort}`;
  const bHost = `127.0.0.1:${bPort}`;
  const ev = (e: BaresipEvent) => `${e.type} ${e.accountaor ?? ''} ${e.id ?? ''} ${e.param ?? ''}`;
  const diag = () => `--- server trace (${srv.traceFile}) ---\n${summarize(parseTrace(srv.trace()))}` +
    `\n--- alice events ---\n${alice?.events.map(ev).join('\n') ?? ''}` +
    `\n--- bob events ---\n${bob?.events.map(ev).join('\n') ?? ''}`;
  const fail = (e: Error): never => assert.fail(`${e.message}\n${diag()}`);
  try {
    bob = await BaresipUA.start({ user: 'bobbase', sipPort: bPort!, ctrlPort: bCtrl, registrar: b2bua, register: false, lifetimeS: 120 });
    await bob.command('uanew', '<sip:bob@127.0.0.1;transport=udp>;regint=0;answermode=auto;audio_codecs=PCMA').catch(fail);
    alice = await BaresipUA.start({ user: 'alice', sipPort: aPort!, ctrlPort: aCtrl, registrar: b2bua, register: false, lifetimeS: 120 });

    await alice.command('dial', `sip:bob@${b2bua}`);
    const out = await alice.waitEvent('CALL_ESTABLISHED', () => true, 15_000).catch(fail);
    const inc = await bob.waitEvent('CALL_ESTABLISHED', () => true, 5_000).catch(fail);
    assert.equal(out.direction, 'outgoing', diag());
    assert.equal(inc.direction, 'incoming', diag());
    // Leg B reached bob's PCMA-only account, from alice's user at the B2BUA's host.
    assert.match(String(inc.accountaor ?? ''), /^sip:bob@127\.0\.0\.1/, diag());
    assert.match(String(inc.peeruri ?? ''), /^sip:alice@127\.0\.0\.1/, diag());
    // Media passthrough: each baresip receives RTP straight from the other.
    await alice.waitEvent('CALL_RTPESTAB', () => true, 10_000).catch(fail);
    await bob.waitEvent('CALL_RTPESTAB', () => true, 10_000).catch(fail);

    await alice.command('hangup');
    const closedB = await bob.waitEvent('CALL_CLOSED', () => true, 10_000).catch(fail);
    await alice.waitEvent('CALL_CLOSED', () => true, 5_000).catch(fail);
    // bob was hung up on by the peer (a BYE reached him), not by a timeout or an error response.
    assert.match(String(closedB.param ?? ''), /reset by peer|Connection reset|^$/i, diag());
    await sleep(300); // bob's 200 for the BYE reaches the B2BUA

    const msgs = parseTrace(srv.trace());
    const ctx = `\n${diag()}`;
    const legA = out.id!;
    const legB = inc.id!;
    // Two calls: leg B has its own Call-ID, and no message of one leg carries the other's.
    assert.ok(legA && legB, `missing call ids in the events${ctx}`);
    assert.notEqual(legB, legA, `leg B reuses leg A's Call-ID${ctx}`);
    const fromA = (m: TracedMessage) => (m.dir === 'Received' ? m.from : m.to) === aHost;
    const fromB = (m: TracedMessage) => (m.dir === 'Received' ? m.from : m.to) === bHost;
    const onA = msgs.filter(fromA);
    const onB = msgs.filter(fromB);
    assert.deepEqual([...new Set(onA.map((m) => m.callId))], [legA], `leg A (${aHost}) messages with another Call-ID than ${legA}${ctx}`);
    assert.deepEqual([...new Set(onB.map((m) => m.callId))], [legB], `leg B (${bHost}) messages with another Call-ID than ${legB}${ctx}`);
    const head = (m: TracedMessage) => m.text.split(/\n\r?\n/, 1)[0]!;
    assert.ok(onA.every((m) => !head(m).includes(legB)) && onB.every((m) => !head(m).includes(legA)), `a Call-ID crossed to the other leg${ctx}`);

    // The call, in order as the B2BUA saw it.
    const recvA = (re: RegExp) => (m: TracedMessage) => m.dir === 'Received' && fromA(m) && re.test(m.start);
    const sentA = (re: RegExp) => (m: TracedMessage) => m.dir === 'Sent' && fromA(m) && re.test(m.start);
    const recvB = (re: RegExp) => (m: TracedMessage) => m.dir === 'Received' && fromB(m) && re.test(m.start);
    const sentB = (re: RegExp) => (m: TracedMessage) => m.dir === 'Sent' && fromB(m) && re.test(m.start);
    const is200 = (method: string) => (m: TracedMessage) => m.status === 200 && m.cseqMethod === method;
    const find = (what: string, pred: (m: TracedMessage) => boolean, from = -1): number => {
      const j = msgs.findIndex((m, k) => k > from && pred(m));
      assert.ok(j >= 0, `missing "${what}" (after message ${from}) in the trace:\n${summarize(msgs)}${ctx}`);
      return j;
    };
    const iInviteA = find('INVITE from alice (leg A)', recvA(new RegExp(`^INVITE sip:bob@127\\.0\\.0\\.1:${port}[;> ]`)));
    const iInviteB = find('INVITE to bob (leg B)', sentB(new RegExp(`^INVITE sip:bob@127\\.0\\.0\\.1:${bPort}[;> ]`)), iInviteA);
    const i200B = find('200 for the INVITE from bob', (m) => recvB(/^SIP\/2\.0 200 /)(m) && is200('INVITE')(m), iInviteB);
    const iAckB = find('ACK to bob', sentB(/^ACK /), i200B);
    const i200A = find('200 for the INVITE to alice', (m) => sentA(/^SIP\/2\.0 200 /)(m) && is200('INVITE')(m), i200B);
    const iAckA = find('ACK from alice', recvA(/^ACK /), i200A);
    const iByeA = find('BYE from alice (leg A)', recvA(/^BYE /), Math.max(iAckA, iAckB));
    find('200 for the BYE to alice', (m) => sentA(/^SIP\/2\.0 200 /)(m) && is200('BYE')(m), iByeA);
    const iByeB = find('BYE to bob (leg B), after the BYE on leg A', sentB(/^BYE /), iByeA);
    find('200 for the BYE from bob', (m) => recvB(/^SIP\/2\.0 200 /)(m) && is200('BYE')(m), iByeB);
    const inviteA = msgs[iInviteA]!;
    const inviteB = msgs[iInviteB]!;

    // Delayed offer: leg B's INVITE has no body.
    assert.match(head(inviteB), /^(Content-Length|l):\s*0\s*$/im, `leg B's INVITE has a body (offer: delayed)${ctx}`);
    assert.doesNotMatch(head(inviteB), /^(Content-Type|c):\s*application\/sdp/im, `leg B's INVITE has a body (offer: delayed)${ctx}`);
    assert.equal(sdpOf(inviteB), '', `leg B's INVITE carries SDP (offer: delayed)${ctx}`);

    // Offer/answer across the bridge.
    const offerA = audioOf(sdpOf(inviteA), "alice's INVITE");
    const offerB = audioOf(sdpOf(msgs[i200B]!), "bob's 200 (leg B's offer)");
    const answerA = audioOf(sdpOf(msgs[i200A]!), "the 200 to alice");
    const answerB = audioOf(sdpOf(msgs[iAckB]!), 'the ACK to bob');
    const sdps = `\nalice's offer: ${offerA.codecs.join(' ')} at ${offerA.address}:${offerA.port}` +
      `\nbob's offer:   ${offerB.codecs.join(' ')} at ${offerB.address}:${offerB.port}` +
      `\n200 to alice:  ${answerA.codecs.join(' ')} at ${answerA.address}:${answerA.port}` +
      `\nACK to bob:    ${answerB.codecs.join(' ')} at ${answerB.address}:${answerB.port}${ctx}`;
    // The two baresips have different sets (what this test is about).
    assert.ok(offerA.codecs.includes('PCMU') && offerA.codecs.includes('PCMA'), `alice should offer PCMU and PCMA${sdps}`);
    assert.deepEqual(voice(offerB.codecs), ['PCMA'], `bob's PCMA-only account should offer PCMA alone${sdps}`);
    const common = offerA.codecs.filter((c) => offerB.codecs.includes(c));
    // Alice is answered with the codecs both have, in her order and her payload types.
    assert.deepEqual(answerA.codecs, common, `the 200 to alice: not the intersection, in alice's order${sdps}`);
    assert.deepEqual(voice(answerA.codecs), ['PCMA'], `the 200 to alice: not the common voice codec${sdps}`);
    for (const pt of answerA.formats) assert.equal(offerA.byPt.get(pt), answerA.byPt.get(pt), `the 200 to alice: payload type ${pt} is not alice's${sdps}`);
    // Bob is answered (in the ACK) with the same codecs, in his payload types.
    assert.deepEqual(sorted(answerB.codecs), sorted(common), `the ACK to bob: not the intersection${sdps}`);
    for (const pt of answerB.formats) assert.equal(offerB.byPt.get(pt), answerB.byPt.get(pt), `the ACK to bob: payload type ${pt} is not bob's${sdps}`);
    // Media passthrough: each side is told the other endpoint's RTP address.
    assert.deepEqual([answerA.address, answerA.port], [offerB.address, offerB.port], `the 200 to alice should carry bob's media address${sdps}`);
    assert.deepEqual([answerB.address, answerB.port], [offerA.address, offerA.port], `the ACK to bob should carry alice's media address${sdps}`);

    // No error response on either leg.
    const errors = [...onA, ...onB].filter((m) => m.status !== undefined && m.status >= 400);
    assert.deepEqual(errors.map((m) => `${m.dir} ${m.start}`), [], ctx);
  } finally {
    await alice?.stop();
    await bob?.stop();
    await srv.stop();
  }
});
