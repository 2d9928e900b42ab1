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
//     of OUR SDP, and its own counters — baresip puts an `X-RTP-Stat` header
//     (`EX=BareSip;CS=…;PR=<packets received>;PS=<packets sent>;PL=<lost>,…`) in its 200 for
//     our BYE (a) and in its BYE (b) — with PR > 0, and PS close to our M.

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
import { parseTrace, startAnswerUa, describe as describeTrace, type TraceMsg } from '../callflows/callflow-harness.js';
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

/** baresip's X-RTP-Stat header (call_set_xrtpstat): PR packets received, PS packets sent, PL lost. */
function xRtpStat(msgs: TraceMsg[]): { pr: number; ps: number; raw: string } | undefined {
  for (const m of msgs) {
    const v = m.headers.find(([k]) => k.toLowerCase() === 'x-rtp-stat')?.[1];
    if (!v) continue;
    const f = Object.fromEntries(v.split(';').map((kv) => kv.split('=') as [string, string]));
    return { pr: Number(f.PR), ps: Number(f.PS), raw: v };
  }
  return undefined;
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
    const stat = xRtpStat(msgs.filter((m) => m.dir === 'Received' && m.status === 200 && m.cseqMethod === 'BYE'));
    assert.ok(stat, `no X-RTP-Stat in baresip's 200 for the BYE${ctx}`);
    assert.ok(stat.pr > 50, `baresip received only ${stat.pr} packets (${stat.raw})${ctx}`);
    assert.ok(Math.abs(stat.ps - ours.received) <= 10, `baresip sent ${stat.ps}, we received ${ours.received} (${stat.raw})${ctx}`);
    assert.ok(Math.abs(stat.pr - ours.sent) <= 10, `we sent ${ours.sent}, baresip received ${stat.pr} (${stat.raw})${ctx}`);
    console.log(`# (a) ours: ${ours.line}\n# (a) baresip: ${RTP_ESTAB.exec(log)?.[0]}\n# (a) baresip X-RTP-Stat: ${stat.raw}`);
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
    await sleep(2000);
    await b.command('hangup');
    await b.waitEvent('CALL_CLOSED', () => true, 5_000).catch(fail);
    const st = await ans.waitExit(10_000).catch(fail); // --max-calls 1: exits once the call ended
    const log = strip(b.log());
    const ctx = diag();
    assert.equal(st.code, 0, ctx);
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
    const stat = xRtpStat(msgs.filter((m) => m.dir === 'Received' && m.method === 'BYE'));
    assert.ok(stat, `no X-RTP-Stat in baresip's BYE${ctx}`);
    assert.ok(stat.pr > 30, `baresip received only ${stat.pr} packets (${stat.raw})${ctx}`);
    assert.ok(Math.abs(stat.ps - ours.received) <= 10, `baresip sent ${stat.ps}, we received ${ours.received} (${stat.raw})${ctx}`);
    assert.ok(Math.abs(stat.pr - ours.sent) <= 10, `we sent ${ours.sent}, baresip received ${stat.pr} (${stat.raw})${ctx}`);
    console.log(`# (b) ours: ${ours.line}\n# (b) baresip: ${RTP_ESTAB.exec(log)?.[0]}\n# (b) baresip X-RTP-Stat: ${stat.raw}`);
  } finally {
    await bob?.stop(1000);
    await ans.stop(1000);
  }
});
