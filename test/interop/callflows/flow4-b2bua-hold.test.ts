// Handbook call flow 4 through the B2BUA (examples/callflow-4-b2bua.yaml, delayed offer) with
// hold and resume: the phone (SIPp uac, sipp/scenarios/b2bua-phone-hold.xml) sets up the call,
// then re-INVITEs with a=sendonly (hold) and a=sendrecv (resume), then hangs up; GW-B (SIPp uas,
// b2bua-gw-hold.xml) gets each changed re-offer relayed by the B2BUA (b2bua-call.ts
// relayReoffer) and answers recvonly, then sendrecv; the phone gets GW-B's answer back.
// Every SDP is checked in the scenarios (SIPp ereg check_it / check_it_inverse: a mismatch fails
// the call). Here: both SIPps 1 successful call, 0 failed; from the server's --trace, leg B (the
// GW-B side Call-ID) carries exactly two re-INVITEs sent by the B2BUA, the first with a=sendonly,
// the second without; `serve` is still running at the end.
// The flow() helper is a copy of flow4-b2bua.test.ts's (that file exports nothing).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SCENARIO_DIR, describeSipp, runSipp, startSipp, type SippProcess, type SippResult } from '../sipp/sipp.js';
import { describe, exampleConfig, freePorts, headerValues, isReq, isRes, startServe, type TraceMsg } from './callflow-harness.js';

interface FlowRun {
  phone: SippResult;
  gw: SippResult;
  /** The server's trace (both legs, all calls). */
  trace: TraceMsg[];
  ports: { b2bua: number; gw: number; phone: number };
  /** null while `serve` runs; its exit status once it ended (a crash). */
  serverExit: { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Everything worth showing when an assertion fails. */
  ctx: string;
}

interface FlowOptions {
  phone: string;
  gw: string;
  calls: number;
  rate?: number;
  lost?: number;
  timeoutS?: number;
  /** Extra SIPp arguments for GW-B. */
  gwExtra?: string[];
}

function clip(s: string, max: number): string {
  return s.length > max ? `[…]${s.slice(-max)}` : s;
}

/** `serve` with the example config (ports substituted), GW-B's SIPp started, the phone's SIPp run to completion. */
async function flow(opts: FlowOptions): Promise<FlowRun> {
  const [b2buaPort, gwPort, phonePort] = (await freePorts(3)) as [number, number, number];
  const cfg = exampleConfig('callflow-4-b2bua', { 5070: b2buaPort, 5090: gwPort });
  assert.match(cfg.text, new RegExp(`listen: \\[udp:127\\.0\\.0\\.1:${b2buaPort}\\]`));
  assert.match(cfg.text, new RegExp(`target: 'sip:\\{user\\}@127\\.0\\.0\\.1:${gwPort}'`));
  assert.match(cfg.text, /offer: delayed/);
  const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua', maxLifetimeMs: 90_000 });
  let gw: SippProcess | undefined;
  try {
    const timeoutS = opts.timeoutS ?? 20;
    // Without loss GW-B stops by itself after as many calls as the phone makes (-m); with loss a
    // call whose last message was dropped may never end there, so it is stopped after the phone.
    gw = await startSipp({
      scenario: join(SCENARIO_DIR, opts.gw),
      localPort: gwPort,
      calls: opts.lost ? undefined : opts.calls,
      lost: opts.lost,
      timeoutS: 30,
      extra: opts.gwExtra,
    });
    const phone = await runSipp({
      scenario: join(SCENARIO_DIR, opts.phone),
      target: `127.0.0.1:${b2buaPort}`,
      localPort: phonePort,
      calls: opts.calls,
      rate: opts.rate ?? 10,
      lost: opts.lost,
      timeoutS,
    });
    const gwResult = await gw.finish(opts.lost ? 6_000 : 10_000);
    // The last messages (a 200 to a BYE, an ACK) are traced by now; a moment for the pipe.
    await new Promise((r) => setTimeout(r, 200));
    const status = server.exitStatus();
    const trace = server.trace();
    const ctx = [
      `--- phone (SIPp uac, ${opts.phone}) ---\n${describeSipp(phone)}`,
      `--- GW-B (SIPp uas, ${opts.gw}) ---\n${describeSipp(gwResult)}`,
      `--- b2bua: ${status ? `EXITED code ${status.code} signal ${status.signal}` : 'running'}; trace (${trace.length} messages, tail) ---\n${clip(describe(trace), 4000)}`,
      `--- b2bua stdout (tail) ---\n${clip(server.output().stdout, 2000)}`,
      `--- b2bua errors and log lines (stderr, tail) ---\n${clip(server.output().stderr.split('\n').filter((l) => /^\s+at |Error|error|nhandled|^b2bua: /.test(l)).join('\n'), 3000)}`,
    ].join('\n');
    return {
      phone,
      gw: gwResult,
      trace,
      ports: { b2bua: b2buaPort, gw: gwPort, phone: phonePort },
      serverExit: status ? { code: status.code, signal: status.signal } : null,
      ctx,
    };
  } finally {
    await gw?.stop();
    await server.stop();
    cfg.cleanup();
  }
}

function body(m: TraceMsg): string {
  const i = m.text.search(/\r?\n\r?\n/);
  return i < 0 ? '' : m.text.slice(i).trim();
}

test('flow 4 (B2BUA): hold (re-INVITE a=sendonly) and resume (a=sendrecv) from the phone, relayed to GW-B, answers relayed back', { timeout: 60_000 }, async () => {
  const r = await flow({ phone: 'b2bua-phone-hold.xml', gw: 'b2bua-gw-hold.xml', calls: 1, timeoutS: 20 });
  assert.equal(r.serverExit, null, `the B2BUA must still be running\n${r.ctx}`);
  // SIPp checked every SDP: the 183/200 and both re-INVITE answers at the phone, the INVITE,
  // ACK and both relayed re-offers at GW-B.
  assert.equal(r.phone.code, 0, `phone: SIPp exit code\n${r.ctx}`);
  assert.equal(r.phone.successful, 1, `phone: successful calls\n${r.ctx}`);
  assert.equal(r.phone.failed, 0, `phone: failed calls\n${r.ctx}`);
  assert.equal(r.gw.code, 0, `GW-B: SIPp exit code\n${r.ctx}`);
  assert.equal(r.gw.successful, 1, `GW-B: successful calls\n${r.ctx}`);
  assert.equal(r.gw.failed, 0, `GW-B: failed calls\n${r.ctx}`);

  const legA = r.trace.filter((m) => m.remotePort === r.ports.phone);
  const legB = r.trace.filter((m) => m.remotePort === r.ports.gw);
  const where = `leg A:\n${describe(legA)}\nleg B:\n${describe(legB)}\n${r.ctx}`;
  const idsB = [...new Set(legB.filter((m) => m.dir === 'Sent' && isReq('INVITE')(m)).map((m) => m.callId))];
  assert.equal(idsB.length, 1, `one leg B Call-ID\n${where}`);
  const idsA = [...new Set(legA.filter((m) => m.dir === 'Received' && isReq('INVITE')(m)).map((m) => m.callId))];
  assert.ok(!idsA.includes(idsB[0]!), `leg B has its own Call-ID\n${where}`);

  // The INVITEs the B2BUA sent on leg B, one per CSeq (retransmissions collapsed).
  const invitesB = legB.filter((m) => m.dir === 'Sent' && m.callId === idsB[0] && isReq('INVITE')(m));
  const byCseq = new Map<string, TraceMsg>();
  for (const m of invitesB) {
    const cseq = headerValues(m, 'CSeq')[0] ?? '';
    if (!byCseq.has(cseq)) byCseq.set(cseq, m);
  }
  const reinvites = [...byCseq.entries()].filter(([cseq]) => cseq !== '1 INVITE').map(([, m]) => m);
  assert.equal(reinvites.length, 2, `two re-INVITEs on leg B\n${where}`);
  const [hold, resume] = reinvites as [TraceMsg, TraceMsg];
  assert.match(body(hold), /^a=sendonly\s*$/m, `leg B's first re-INVITE is the hold\n${hold.text}`);
  assert.doesNotMatch(body(resume), /^a=(sendonly|recvonly|inactive)\s*$/m, `leg B's second re-INVITE is the resume\n${resume.text}`);
  assert.match(body(resume), /^m=audio /m, `leg B's second re-INVITE has an SDP offer\n${resume.text}`);
  // RFC 3264 §8: on leg B the B2BUA's o= keeps its username and session id (those of its answer
  // in the ACK), one version higher each time — the phone's o= line does not leak across.
  const ack = legB.find((m) => m.dir === 'Sent' && m.callId === idsB[0] && isReq('ACK')(m) && /^o=/m.test(body(m)))!;
  const origin = (m: TraceMsg) => /^o=(\S+) (\d+) (\d+) /m.exec(body(m))!;
  const [, user, id, version] = origin(ack);
  assert.deepEqual([hold, resume].map((m) => origin(m).slice(1)), [[user, id, String(Number(version) + 1)], [user, id, String(Number(version) + 2)]], `o= lines on leg B\n${ack.text}\n${hold.text}\n${resume.text}`);
  // And the phone, on leg A, sees the B2BUA's origin of its 200 in both answers.
  const okA = legA.filter((m) => m.dir === 'Sent' && isRes(200, 'INVITE')(m));
  const ids = [...new Set(okA.map((m) => `${origin(m)[1]} ${origin(m)[2]}`))];
  assert.equal(ids.length, 1, `one origin on leg A: ${ids.join(' | ')}`);
});
