// Forking (examples/forking.yaml): one user registered from two user agents (SIPp uas scenarios).
//  - parallel (server "parallel"): both contacts get the INVITE; one answers 200 after 300 ms,
//    the other rings and gets CANCEL (→ 200 CANCEL, 487, ACK); the caller's call is established.
//  - sequential (server "sequential"): contacts ring one q-value group at a time, highest q first;
//    a 486 from the first makes the next ring, and so does ringing past sequentialTimeout (5 s),
//    after which the first gets CANCEL.
// Contacts are registered with a raw REGISTER (`Contact: <…>;q=0.9`): the register CLI puts the
// --contact URI in angle brackets, so a `;q=` there would be a URI parameter, not the q-value.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SCENARIO_DIR, describeSipp, runSwitchboard, startSipp, type SippProcess } from '../sipp/sipp.js';
import {
  RawUdp, describe, describeRun, exampleConfig, freePorts, indexOf, isReq, isRes, parseTrace, rawRegister, startServe, type TempConfig, type TraceMsg, type TracedProcess,
} from './callflow-harness.js';

let server: TracedProcess;
let cfg: TempConfig;
let parallelPort: number;
let sequentialPort: number;
let reg: RawUdp;

before(async () => {
  [parallelPort, sequentialPort] = await freePorts(2) as [number, number];
  cfg = exampleConfig('forking', { 5170: parallelPort, 5171: sequentialPort });
  assert.match(cfg.text, /sequentialTimeout: 5/);
  server = await startServe(cfg.path, { udpPorts: [parallelPort, sequentialPort], maxLifetimeMs: 240_000 });
  reg = await RawUdp.open();
});

after(async () => {
  reg?.close();
  await server?.stop();
  cfg?.cleanup();
});

function uas(scenario: string, port: number): Promise<SippProcess> {
  const file = scenario.endsWith('.xml') ? join(SCENARIO_DIR, scenario) : scenario;
  return startSipp({ scenario: file, localPort: port, calls: 1, timeoutS: 60 });
}

async function register(registrarPort: number, user: string, contactPort: number, q?: number): Promise<void> {
  const res = await rawRegister(reg, registrarPort, `sip:${user}@127.0.0.1`, `sip:${user}@127.0.0.1:${contactPort}`, { q });
  assert.equal(res.status, 200, `REGISTER failed:\n${res.text}`);
  if (q !== undefined) assert.match(res.text, new RegExp(`Contact: <sip:${user}@127\\.0\\.0\\.1:${contactPort}>[^\\r\\n]*;q=${q}`), `registrar keeps q=${q}\n${res.text}`);
}

async function placeCall(user: string, proxyPort: number): Promise<{ callerTrace: TraceMsg[]; proxy: TraceMsg[]; elapsedMs: number; code: number | null; run: string }> {
  const [callerPort] = await freePorts(1) as [number];
  const t0 = Date.now();
  const r = await runSwitchboard(['call', `sip:${user}@127.0.0.1`, '--proxy', `sip:127.0.0.1:${proxyPort}`, '--duration', '1', '--listen', `udp:127.0.0.1:${callerPort}`, '--trace'], 45_000);
  const elapsedMs = Date.now() - t0;
  await new Promise((res) => setTimeout(res, 500));
  const callerTrace = parseTrace(r.stderr, 'caller');
  const callId = callerTrace.find(isReq('INVITE'))?.callId;
  const proxy = server.trace().filter((m) => m.callId === callId && m.local.endsWith(`:${proxyPort}`));
  return { callerTrace, proxy, elapsedMs, code: r.code, run: describeRun(r) };
}

async function finishAll(...procs: SippProcess[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of procs) {
    const res = await p.finish(15_000);
    out.push(describeSipp(res));
    assert.equal(res.successful, 1, `SIPp ${p.args.slice(0, 4).join(' ')}: expected 1 successful call\n${describeSipp(res)}`);
    assert.equal(res.failed, 0, describeSipp(res));
  }
  return out;
}

test('parallel forking: both contacts ring; the first 200 wins, the other gets CANCEL', { timeout: 90_000 }, async () => {
  const [aPort, bPort] = await freePorts(2) as [number, number];
  const a = await uas('uas-answer-delayed.xml', aPort);
  const b = await uas('uas-ring-cancel.xml', bPort);
  try {
    await register(parallelPort, 'par', aPort);
    await register(parallelPort, 'par', bPort);
    const c = await placeCall('par', parallelPort);
    const where = `proxy:\n${describe(c.proxy)}`;
    assert.equal(c.code, 0, `call failed\n${c.run}\n${where}`);
    const toA = c.proxy.filter((m) => m.remotePort === aPort);
    const toB = c.proxy.filter((m) => m.remotePort === bPort);
    assert.ok(toA.some((m) => m.dir === 'Sent' && isReq('INVITE')(m)), `INVITE to A\n${where}`);
    assert.ok(toB.some((m) => m.dir === 'Sent' && isReq('INVITE')(m)), `INVITE to B\n${where}`);
    // Both INVITEs leave before any final response arrives (parallel, not sequential).
    const firstFinal = indexOf(c.proxy, (m) => m.dir === 'Received' && m.kind === 'response' && m.status! >= 200 && m.cseqMethod === 'INVITE');
    const lastInvite = Math.max(indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === aPort), indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === bPort));
    assert.ok(lastInvite < firstFinal, `both branches start before any final response\n${where}`);
    // A answered; B got CANCEL after A's 200, answered 200 (CANCEL) and 487, and got the ACK.
    const i200 = indexOf(c.proxy, (m) => m.dir === 'Received' && isRes(200, 'INVITE')(m) && m.remotePort === aPort);
    const iCancel = indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('CANCEL')(m) && m.remotePort === bPort);
    assert.ok(i200 >= 0 && iCancel > i200, `CANCEL to B after A's 200\n${where}`);
    assert.ok(toB.some((m) => m.dir === 'Received' && isRes(200, 'CANCEL')(m)), `200 for the CANCEL from B\n${where}`);
    assert.ok(toB.some((m) => m.dir === 'Received' && isRes(487, 'INVITE')(m)), `487 from B\n${where}`);
    assert.ok(toB.some((m) => m.dir === 'Sent' && isReq('ACK')(m)), `ACK for the 487 to B\n${where}`);
    assert.ok(!toA.some((m) => isReq('CANCEL')(m)), `A (the winner) gets no CANCEL\n${where}`);
    // The 487 is absorbed by the proxy: the caller only sees the 200.
    assert.ok(!c.callerTrace.some(isRes(487)), 'the caller never sees the 487');
    assert.ok(c.callerTrace.some((m) => m.dir === 'Received' && isRes(200, 'INVITE')(m)));
    await finishAll(a, b);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('sequential forking: highest q rings first; its 486 makes the next contact ring, which answers', { timeout: 90_000 }, async () => {
  const [aPort, bPort] = await freePorts(2) as [number, number];
  const a = await uas('uas-486.xml', aPort);
  const b = await uas('uas-answer-delayed.xml', bPort);
  try {
    // Register the lower q first so the order is not just registration order.
    await register(sequentialPort, 'seq', bPort, 0.5);
    await register(sequentialPort, 'seq', aPort, 0.9);
    const c = await placeCall('seq', sequentialPort);
    const where = `proxy:\n${describe(c.proxy)}`;
    assert.equal(c.code, 0, `call failed\n${c.run}\n${where}`);
    const iInvA = indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === aPort);
    const i486 = indexOf(c.proxy, (m) => m.dir === 'Received' && isRes(486)(m) && m.remotePort === aPort);
    const iAckA = indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('ACK')(m) && m.remotePort === aPort);
    const iInvB = indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === bPort);
    const i200 = indexOf(c.proxy, (m) => m.dir === 'Received' && isRes(200, 'INVITE')(m) && m.remotePort === bPort);
    assert.ok(iInvA >= 0 && iInvA < i486 && i486 < iInvB && iInvB < i200, `order: INVITE→A(q=0.9), 486, INVITE→B(q=0.5), 200\n${where}`);
    assert.ok(iAckA > i486, `the proxy ACKs the 486\n${where}`);
    assert.ok(!c.callerTrace.some(isRes(486)), 'the caller never sees the 486');
    await finishAll(a, b);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('sequential forking: the first contact rings past sequentialTimeout (5 s) → CANCEL, the next rings and answers', { timeout: 90_000 }, async () => {
  const [aPort, bPort] = await freePorts(2) as [number, number];
  const a = await uas('uas-ring-cancel.xml', aPort);
  const b = await uas('uas-answer-delayed.xml', bPort);
  try {
    await register(sequentialPort, 'seqto', aPort, 0.9);
    await register(sequentialPort, 'seqto', bPort, 0.5);
    const c = await placeCall('seqto', sequentialPort);
    const where = `proxy:\n${describe(c.proxy)}`;
    assert.equal(c.code, 0, `call failed\n${c.run}\n${where}`);
    const iInvA = indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === aPort);
    const i180A = indexOf(c.proxy, (m) => m.dir === 'Received' && isRes(180)(m) && m.remotePort === aPort);
    const iCancelA = indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('CANCEL')(m) && m.remotePort === aPort);
    const i487A = indexOf(c.proxy, (m) => m.dir === 'Received' && isRes(487)(m) && m.remotePort === aPort);
    const iInvB = indexOf(c.proxy, (m) => m.dir === 'Sent' && isReq('INVITE')(m) && m.remotePort === bPort);
    const i200B = indexOf(c.proxy, (m) => m.dir === 'Received' && isRes(200, 'INVITE')(m) && m.remotePort === bPort);
    assert.ok(iInvA >= 0 && iInvA < i180A && i180A < iCancelA && iCancelA < iInvB && iInvB < i200B, `order: INVITE→A, 180, CANCEL→A, INVITE→B, 200\n${where}`);
    assert.ok(i487A > iCancelA, `A answers the CANCEL with 487\n${where}`);
    // A rang for sequentialTimeout (5 s) before B was tried; the call then lasted 1 s.
    assert.ok(c.elapsedMs >= 5500, `the call took ${c.elapsedMs} ms: B must only ring after 5 s`);
    assert.ok(c.callerTrace.some((m) => m.dir === 'Received' && isRes(180)(m)), 'the caller heard ringing');
    assert.ok(!c.callerTrace.some(isRes(487)), 'the caller never sees the 487');
    await finishAll(a, b);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
