// Real client, real media: Switchboard's RTP (G.711 PCMU, src/media; `--media` / `--play` on the
// `call` and `answer` commands) against an independent RTP stack, a headless baresip 1.0.0
// (apt baresip-core; BaresipUA: audio source `ausine` 440 Hz, no player, PCMU,PCMA), on
// loopback, without any server in between:
//
//   (a) `switchboard call sip:bob@127.0.0.1:BOBPORT --duration 3 --play tone.wav` → baresip
//       (auto-answer);
//   (b) baresip dials `switchboard answer --media --max-calls 1`, and hangs up after ~2 s.
//
// Asserted, both ways:
//   - our side prints `RTP PCMU: sent N packets, received M (lost L, jitter J ms, from A:P)` with
//     N > 0, M > 0, and A:P is the address and port of baresip's SDP (symmetric RTP);
//   - baresip received RTP from us: its CALL_RTPESTAB event ("audio"), its log line
//     `stream: incoming rtp for 'audio' established, receiving from 127.0.0.1:P` with P the port
//     of OUR SDP, and its own counters, read mid-call with the menu command `audio_debug` (over
//     ctrl_tcp; `callstat` stops before the stream part), whose RTCP session part lists the
//     sender it receives from:
//         member 0x82296869: lost=0 Jitter=0.0ms RTT=0.0ms
//                        IP=127.0.0.1:31780 psent=0 rcvd=75
//         TX: packets=77, octets=12320
//     `rcvd` > 0 (packets from us) at IP = our SDP address, and `lost` = 0.
//
// (`psent` is the sender's packet count from its RTCP sender reports: 0, Switchboard sends no
// RTCP. baresip's X-RTP-Stat header at hangup needs `rtp_stats yes`, which BaresipUA's config
// does not set, so it is not used.)

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, freePortBoth, stopAll } from '../../harness/processes.js';
import { BaresipUA, type BaresipEvent } from '../baresip/baresip-ua.js';
import { freeSipPorts, sleep } from './interop-helpers.js';
import { runSwitchboard } from '../sipp/sipp.js';
import { parseTrace, startAnswerUa, describe as describeTrace } from '../callflows/callflow-harness.js';
import { tone, writeWav } from '../../../src/media/index.js';

after(async () => {
  await stopAll();
});

const haveBaresip = spawnSync('sh', ['-c', 'command -v baresip'], { encoding: 'utf8' }).status === 0;
const skip = !haveBaresip && 'baresip not installed (apt baresip-core; node scripts/ensure-peers.mjs)';

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

interface OurRtp { sent: number; received: number; lost: number; jitterMs: number; from?: string; line: string }
/** The `RTP PCMU: …` line `call` / `answer` print when the call's media stops (src/app/cli/media.ts). */
function ourRtp(stdout: string): OurRtp | undefined {
  const m = /^RTP PCMU: sent (\d+) packets, received (\d+) \(lost (-?\d+), jitter ([\d.]+) ms(?:, from ([^)]+))?\)$/m.exec(stdout);
  if (!m) return undefined;
  return { sent: Number(m[1]), received: Number(m[2]), lost: Number(m[3]), jitterMs: Number(m[4]), from: m[5], line: m[0] };
}

/** The RTP address of an SDP body: `c=` address and `m=audio` port. */
function sdpAudio(text: string): string | undefined {
  const c = /^c=IN IP4 (\S+)\s*$/m.exec(text);
  const m = /^m=audio (\d+) /m.exec(text);
  return c && m ? `${c[1]}:${m[1]}` : undefined;
}

interface BaresipRtp { ssrc: string; lost: number; from: string; rcvd: number; txPackets: number; lines: string }
/** The receive side of baresip's `audio_debug` (RTCP session: one member per sender heard). */
async function baresipRtp(ua: BaresipUA): Promise<BaresipRtp | undefined> {
  const text = strip((await ua.command('audio_debug')).data ?? '');
  const m = /member 0x([0-9a-f]+): lost=(-?\d+) Jitter=\S+ RTT=\S+\s+IP=(\S+) psent=\d+ rcvd=(\d+)/.exec(text);
  const tx = /TX: packets=(\d+)/.exec(text);
  if (!m || !tx) return undefined;
  return { ssrc: m[1]!, lost: Number(m[2]), from: m[3]!, rcvd: Number(m[4]), txPackets: Number(tx[1]), lines: `${m[0].replace(/\s+/g, ' ')} / ${tx[0]}` };
}

const RTP_ESTAB = /stream: incoming rtp for 'audio' established, receiving from (\S+)/;

function events(ua: BaresipUA | undefined): string {
  return ua?.events.map((e: BaresipEvent) => `${e.type} ${e.param ?? ''}`).join('\n') ?? '';
}

test('(a) switchboard call --play tone.wav → baresip (auto-answer): PCMU RTP both ways', { skip, timeout: 60_000 }, async () => {
  const [bPort] = await freeSipPorts(1);
  const bCtrl = await freePort('tcp');
  const dir = mkdtempSync(join(tmpdir(), 'sb-rtp-'));
  const wav = join(dir, 'tone.wav');
  writeFileSync(wav, writeWav(tone(440)(24000))); // 3 s at 8 kHz
  let bob: BaresipUA | undefined;
  try {
    bob = await BaresipUA.start({ user: 'bob', sipPort: bPort!, ctrlPort: bCtrl, register: false, lifetimeS: 50 });
    const b = bob;
    const run = runSwitchboard(['call', `sip:bob@127.0.0.1:${bPort}`, '--duration', '3', '--play', wav, '--listen', 'udp:127.0.0.1:0', '--trace'], 25_000);
    const fail = (e: Error): never => assert.fail(`${e.message}\n--- bob events ---\n${events(b)}\n--- bob log ---\n${strip(b.log())}`);
    await b.waitEvent('CALL_ESTABLISHED', () => true, 10_000).catch(fail);
    const estab = await b.waitEvent('CALL_RTPESTAB', () => true, 5_000).catch(fail);
    await sleep(1500);
    const bs = await baresipRtp(b);
    const r = await run;
    await b.waitEvent('CALL_CLOSED', () => true, 5_000).catch(fail);
    const log = strip(b.log());
    const msgs = parseTrace(r.stderr);
    const ctx = `\n--- switchboard call: exit ${r.code} ---\n${r.stdout}\n--- trace ---\n${describeTrace(msgs)}` +
      `\n--- bob events ---\n${events(b)}\n--- bob log ---\n${log}`;
    assert.equal(r.code, 0, ctx);
    assert.equal(estab.param, 'audio', ctx);

    const invite = msgs.find((m) => m.dir === 'Sent' && m.method === 'INVITE');
    const ok = msgs.find((m) => m.dir === 'Received' && m.status === 200 && m.cseqMethod === 'INVITE');
    assert.ok(invite && ok, `no INVITE / 200 in the trace${ctx}`);
    const ourAddr = sdpAudio(invite.text);
    const theirAddr = sdpAudio(ok.text);
    assert.ok(ourAddr && theirAddr, `no audio in the SDPs${ctx}`);

    // Our counts: we sent (the tone, 3 s at 20 ms ≈ 150 packets) and received baresip's sine.
    const ours = ourRtp(r.stdout);
    assert.ok(ours, `no "RTP PCMU: …" line in call's output${ctx}`);
    assert.ok(ours.sent > 50, `we sent only ${ours.sent} packets in 3 s${ctx}`);
    assert.ok(ours.received > 50, `we received only ${ours.received} packets in 3 s${ctx}`);
    assert.equal(ours.from, theirAddr, `RTP came from elsewhere than baresip's SDP address${ctx}`);

    // baresip's side: RTP from our SDP's address, and its own counters in the 200 for our BYE.
    assert.equal(RTP_ESTAB.exec(log)?.[1], ourAddr, `baresip did not receive RTP from our SDP address ${ourAddr}${ctx}`);
    assert.ok(bs, `no RTCP member / TX line in baresip's audio_debug${ctx}`);
    assert.equal(bs.from, ourAddr, `baresip's receive counters are for another sender than our SDP address (${bs.lines})${ctx}`);
    assert.ok(bs.rcvd > 25, `baresip received only ${bs.rcvd} packets from us in ~1.5 s (${bs.lines})${ctx}`);
    assert.equal(bs.lost, 0, `baresip counts lost packets from us (${bs.lines})${ctx}`);
    assert.ok(bs.txPackets > 25, `baresip sent only ${bs.txPackets} packets in ~1.5 s (${bs.lines})${ctx}`);
    console.log(`(a) ours: ${ours.line}\n(a) baresip log: ${RTP_ESTAB.exec(log)?.[0]}\n(a) baresip audio_debug: ${bs.lines}`);
  } finally {
    await bob?.stop(1000);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('(b) baresip → switchboard answer --media --max-calls 1: PCMU RTP both ways', { skip, timeout: 60_000 }, async () => {
  const port = await freePortBoth();
  const [bPort] = await freeSipPorts(1);
  const bCtrl = await freePort('tcp');
  let bob: BaresipUA | undefined;
  const ans = await startAnswerUa(port, { maxLifetimeMs: 50_000, args: ['--media', '--max-calls', '1'] });
  try {
    bob = await BaresipUA.start({ user: 'bob', sipPort: bPort!, ctrlPort: bCtrl, registrar: `127.0.0.1:${port}`, register: false, lifetimeS: 50 });
    const b = bob;
    const diag = () => `\n--- switchboard answer ---\n${ans.output().stdout}\n--- trace ---\n${describeTrace(ans.trace())}` +
      `\n--- bob events ---\n${events(b)}\n--- bob log ---\n${strip(b.log())}`;
    const fail = (e: Error): never => assert.fail(`${e.message}${diag()}`);
    await b.command('dial', `sip:switchboard@127.0.0.1:${port}`);
    await b.waitEvent('CALL_ESTABLISHED', () => true, 10_000).catch(fail);
    const estab = await b.waitEvent('CALL_RTPESTAB', () => true, 5_000).catch(fail);
    await sleep(1500);
    const bs = await baresipRtp(b);
    await sleep(500);
    await b.command('hangup');
    await b.waitEvent('CALL_CLOSED', () => true, 5_000).catch(fail);
    // `answer` prints the RTP line, then `call 1 ended: …` (it only exits after Timer J, 32 s on
    // UDP, so it is not waited for).
    for (let t = Date.now(); !/^call 1 ended: /m.test(ans.output().stdout); await sleep(100)) {
      if (Date.now() - t > 5_000) assert.fail(`answer did not print "call 1 ended"${diag()}`);
    }
    const log = strip(b.log());
    const ctx = diag();
    assert.match(ans.output().stdout, /^call 1 ended: remote-bye$/m, ctx);
    assert.equal(estab.param, 'audio', ctx);

    const msgs = ans.trace();
    const invite = msgs.find((m) => m.dir === 'Received' && m.method === 'INVITE');
    const ok = msgs.find((m) => m.dir === 'Sent' && m.status === 200 && m.cseqMethod === 'INVITE');
    assert.ok(invite && ok, `no INVITE / 200 in the trace${ctx}`);
    const theirAddr = sdpAudio(invite.text);
    const ourAddr = sdpAudio(ok.text);
    assert.ok(ourAddr && theirAddr, `no audio in the SDPs${ctx}`);

    const ours = ourRtp(ans.output().stdout);
    assert.ok(ours, `no "RTP PCMU: …" line in answer's output${ctx}`);
    assert.ok(ours.sent > 30, `we sent only ${ours.sent} packets in ~2 s${ctx}`);
    assert.ok(ours.received > 30, `we received only ${ours.received} packets in ~2 s${ctx}`);
    assert.equal(ours.from, theirAddr, `RTP came from elsewhere than baresip's SDP address${ctx}`);

    assert.equal(RTP_ESTAB.exec(log)?.[1], ourAddr, `baresip did not receive RTP from our SDP address ${ourAddr}${ctx}`);
    assert.ok(bs, `no RTCP member / TX line in baresip's audio_debug${ctx}`);
    assert.equal(bs.from, ourAddr, `baresip's receive counters are for another sender than our SDP address (${bs.lines})${ctx}`);
    assert.ok(bs.rcvd > 25, `baresip received only ${bs.rcvd} packets from us in ~1.5 s (${bs.lines})${ctx}`);
    assert.equal(bs.lost, 0, `baresip counts lost packets from us (${bs.lines})${ctx}`);
    assert.ok(bs.txPackets > 25, `baresip sent only ${bs.txPackets} packets in ~1.5 s (${bs.lines})${ctx}`);
    console.log(`(b) ours: ${ours.line}\n(b) baresip log: ${RTP_ESTAB.exec(log)?.[0]}\n(b) baresip audio_debug: ${bs.lines}`);
  } finally {
    await bob?.stop(1000);
    await ans.stop(1000);
  }
});
