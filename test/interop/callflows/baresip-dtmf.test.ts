// RFC 4733 DTMF in the RTP stream (`--dtmf-relay rtp-nte`, src/media/rtp.ts) on the wire between
// Switchboard's CLI and an independent RTP stack, a headless baresip 1.0.0 (apt baresip-core;
// BaresipUA: audio source `ausine`, no player, PCMU,PCMA, telephone-event in its SDP by default),
// on loopback, without any server in between, both ways:
//
//   (a) `switchboard call --media --dtmf 19# --dtmf-relay rtp-nte` → baresip (auto-answer):
//       baresip reports each digit it decoded from our telephone-event packets as a ctrl_tcp
//       event CALL_DTMF_START (param = the digit), then CALL_DTMF_END (no param), and logs
//       `received event: '1' (end=0)` … `(end=1)`; asserted: exactly 1, 9, # in that order;
//   (b) baresip dials `switchboard answer --media --dtmf-relay rtp-nte --max-calls 1` and is told
//       `sndcode 1`, `sndcode 9`, `sndcode #` over ctrl_tcp (one digit per command, during the
//       call; baresip logs `audio: send DTMF digit: '1'`); asserted: `answer` prints
//       `DTMF 1 rtp-nte`, `DTMF 9 rtp-nte`, `DTMF # rtp-nte`, once each, in that order.
//
// Both ways the signalling carries no digit: neither side sent an INFO or a NOTIFY (baresip
// would also report an INFO application/dtmf-relay as CALL_DTMF_START), and both SDPs have
// telephone-event.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { freePort, freePortBoth, stopAll } from '../../harness/processes.js';
import { BaresipUA, type BaresipEvent } from '../baresip/baresip-ua.js';
import { freeSipPorts, sleep } from '../clients/interop-helpers.js';
import { runSwitchboard } from '../sipp/sipp.js';
import { describe as describeTrace, describeRun, parseTrace, startAnswerUa, type TraceMsg } from './callflow-harness.js';

after(async () => {
  await stopAll();
});

const haveBaresip = spawnSync('sh', ['-c', 'command -v baresip'], { encoding: 'utf8' }).status === 0;
const skip = !haveBaresip && 'baresip not installed (apt baresip-core; node scripts/ensure-peers.mjs)';

const DIGITS = ['1', '9', '#'];
const TELEPHONE_EVENT = /^a=rtpmap:\d+ telephone-event\/8000/m;

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function events(ua: BaresipUA | undefined): string {
  return ua?.events.map((e: BaresipEvent) => `${e.type} ${e.param ?? ''}`).join('\n') ?? '';
}

/** The digits of baresip's CALL_DTMF_START / CALL_DTMF_END events, in order. */
const dtmfEvents = (ua: BaresipUA, type: 'CALL_DTMF_START' | 'CALL_DTMF_END'): string[] =>
  ua.events.filter((e) => e.type === type).map((e) => String(e.param ?? ''));

/** `DTMF <digit> <method>` lines of `call` / `answer` (received digits; not `DTMF sent …`). */
const receivedLines = (stdout: string): string[] => [...stdout.matchAll(/^DTMF (\S) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);

/** Requests that could carry a digit in the signalling instead (sip-info / sip-notify). */
const signalledDtmf = (msgs: TraceMsg[]): TraceMsg[] => msgs.filter((m) => m.kind === 'request' && (m.method === 'INFO' || m.method === 'NOTIFY'));

test('(a) switchboard call --media --dtmf 19# --dtmf-relay rtp-nte → baresip (auto-answer): baresip decodes 1, 9, # from the RTP stream', { skip, timeout: 30_000 }, async () => {
  const [bPort] = await freeSipPorts(1);
  const bCtrl = await freePort('tcp');
  let bob: BaresipUA | undefined;
  try {
    bob = await BaresipUA.start({ user: 'bob', sipPort: bPort!, ctrlPort: bCtrl, register: false, lifetimeS: 28 });
    const b = bob;
    const run = runSwitchboard(['call', `sip:bob@127.0.0.1:${bPort}`, '--media', '--dtmf', DIGITS.join(''), '--dtmf-relay', 'rtp-nte', '--duration', '1',
      '--listen', 'udp:127.0.0.1:0', '--trace'], 20_000);
    const fail = (e: Error): never => assert.fail(`${e.message}\n--- bob events ---\n${events(b)}\n--- bob log ---\n${strip(b.log())}`);
    await b.waitEvent('CALL_ESTABLISHED', () => true, 10_000).catch(fail);
    const r = await run;
    await b.waitEvent('CALL_CLOSED', () => true, 5_000).catch(fail);
    const log = strip(b.log());
    const msgs = parseTrace(r.stderr);
    const ctx = `\n--- switchboard call ---\n${describeRun(r, 3000)}\n--- trace ---\n${describeTrace(msgs)}` +
      `\n--- bob events ---\n${events(b)}\n--- bob log ---\n${log}`;
    assert.equal(r.code, 0, ctx);

    const invite = msgs.find((m) => m.dir === 'Sent' && m.method === 'INVITE');
    const ok = msgs.find((m) => m.dir === 'Received' && m.status === 200 && m.cseqMethod === 'INVITE');
    assert.ok(invite && ok, `no INVITE / 200 in the trace${ctx}`);
    assert.match(invite.text, TELEPHONE_EVENT, `our offer has no telephone-event${ctx}`);
    assert.match(ok.text, TELEPHONE_EVENT, `baresip's answer has no telephone-event${ctx}`);
    assert.deepEqual(signalledDtmf(msgs).map((m) => m.method), [], `a digit went in the signalling${ctx}`);

    // Our side: each digit sent as RFC 4733 events in the stream.
    assert.deepEqual([...r.stdout.matchAll(/^DTMF sent (\S) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`), DIGITS.map((d) => `${d} rtp-nte`), ctx);
    assert.match(r.stdout, /^RTP PCMU: sent \d+ packets, received [1-9]\d* /m, `no RTP from baresip${ctx}`);

    // baresip's side: what it decoded, its events and its log.
    assert.deepEqual(dtmfEvents(b, 'CALL_DTMF_START'), DIGITS, `baresip's CALL_DTMF_START digits${ctx}`);
    assert.equal(dtmfEvents(b, 'CALL_DTMF_END').length, DIGITS.length, `baresip's CALL_DTMF_END count${ctx}`);
    assert.deepEqual([...log.matchAll(/received event: '(.)' \(end=1\)/g)].map((m) => m[1]), DIGITS, `baresip's "received event: 'D' (end=1)" log lines${ctx}`);
    console.log(`(a) baresip: ${[...log.matchAll(/received event: .*/g)].map((m) => m[0]).join(' | ')}`);
  } finally {
    await bob?.stop(1000);
  }
});

test('(b) baresip → switchboard answer --media --dtmf-relay rtp-nte: sndcode 1, 9, # arrive as DTMF 1/9/# rtp-nte, in order', { skip, timeout: 30_000 }, async () => {
  const port = await freePortBoth();
  const [bPort] = await freeSipPorts(1);
  const bCtrl = await freePort('tcp');
  let bob: BaresipUA | undefined;
  const ans = await startAnswerUa(port, { maxLifetimeMs: 28_000, args: ['--media', '--dtmf-relay', 'rtp-nte', '--max-calls', '1'] });
  try {
    bob = await BaresipUA.start({ user: 'bob', sipPort: bPort!, ctrlPort: bCtrl, registrar: `127.0.0.1:${port}`, register: false, lifetimeS: 28 });
    const b = bob;
    const diag = () => `\n--- switchboard answer ---\n${ans.output().stdout}\n--- trace ---\n${describeTrace(ans.trace())}` +
      `\n--- bob events ---\n${events(b)}\n--- bob log ---\n${strip(b.log())}`;
    const fail = (e: Error): never => assert.fail(`${e.message}${diag()}`);
    await b.command('dial', `sip:switchboard@127.0.0.1:${port}`);
    await b.waitEvent('CALL_ESTABLISHED', () => true, 10_000).catch(fail);
    // baresip sends events in its audio stream, so let RTP run first (a digit sent right at the
    // start could go before our socket has the peer).
    await b.waitEvent('CALL_RTPESTAB', () => true, 5_000).catch(fail);
    for (const d of DIGITS) {
      await b.command('sndcode', d).catch(fail);
      await sleep(400);
    }
    // Every digit printed (at its end bit) before the hangup.
    for (let t = Date.now(); receivedLines(ans.output().stdout).length < DIGITS.length; await sleep(100)) {
      if (Date.now() - t > 3_000) break;
    }
    await b.command('hangup');
    await b.waitEvent('CALL_CLOSED', () => true, 5_000).catch(fail);
    // `answer` exits only after Timer J (32 s on UDP): wait for its `call 1 ended` line only.
    for (let t = Date.now(); !/^call 1 ended: /m.test(ans.output().stdout); await sleep(100)) {
      if (Date.now() - t > 5_000) assert.fail(`answer did not print "call 1 ended"${diag()}`);
    }
    const out = ans.output().stdout;
    const log = strip(b.log());
    const ctx = diag();
    assert.match(out, /^call 1 ended: remote-bye$/m, ctx);

    const msgs = ans.trace();
    const invite = msgs.find((m) => m.dir === 'Received' && m.method === 'INVITE');
    const ok = msgs.find((m) => m.dir === 'Sent' && m.status === 200 && m.cseqMethod === 'INVITE');
    assert.ok(invite && ok, `no INVITE / 200 in the trace${ctx}`);
    assert.match(invite.text, TELEPHONE_EVENT, `baresip's offer has no telephone-event${ctx}`);
    assert.match(ok.text, TELEPHONE_EVENT, `our answer has no telephone-event${ctx}`);
    assert.deepEqual(signalledDtmf(msgs).map((m) => m.method), [], `a digit went in the signalling${ctx}`);

    // baresip sent them (RFC 4733 in its audio stream) …
    assert.deepEqual([...log.matchAll(/audio: send DTMF digit: '(.)'/g)].map((m) => m[1]), DIGITS, `baresip's "send DTMF digit" log lines${ctx}`);
    // … and we decoded each once, in order.
    assert.deepEqual(receivedLines(out), DIGITS.map((d) => `${d} rtp-nte`), `answer's DTMF lines${ctx}`);
    assert.match(out, /^RTP PCMU: sent \d+ packets, received [1-9]\d* /m, `no RTP from baresip${ctx}`);
    console.log(`(b) answer: ${receivedLines(out).map((l) => `DTMF ${l}`).join(' | ')}`);
  } finally {
    await bob?.stop(1000);
    await ans.stop(1000);
  }
});
