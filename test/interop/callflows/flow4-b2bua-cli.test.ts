// Call flow 4 from the command line: `switchboard serve --config examples/callflow-4-b2bua.yaml`
// (SQLite store) between `switchboard call` (the phone) and `switchboard answer` (GW-B); then
// `switchboard cdr list --json` on the same database shows the call's record. The SIPp variants
// of the flow (SDP checked in every message, 488, CANCEL, loss) are in flow4-b2bua.test.ts.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isListening, startProcess, stopAll } from '../../harness/processes.js';
import { SWITCHBOARD_CLI, describeSipp, runSipp, runSwitchboard, startSipp } from '../sipp/sipp.js';
import { describeRun, exampleConfig, freePorts, isReq, startAnswerUa, startServe } from './callflow-harness.js';

after(async () => {
  await stopAll();
});

test('call flow 4 with the CLI: the phone\'s call is answered through the B2BUA by GW-B on a new Call-ID; `cdr list` shows one record', { timeout: 90_000 }, async () => {
  const [b2buaPort, gwPort] = (await freePorts(2)) as [number, number];
  const dir = mkdtempSync(join(tmpdir(), 'sb-flow4-'));
  const db = join(dir, 'sb.db');
  const cfg = exampleConfig('callflow-4-b2bua', { 5070: b2buaPort, 5090: gwPort }, (t) => t.replace('store: memory', `store: sqlite\ndb: ${db}`));
  const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua' });
  const gw = await startAnswerUa(gwPort);
  try {
    const r = await runSwitchboard(['call', `sip:2000@127.0.0.1:${b2buaPort}`, '--duration', '1', '--listen', 'udp:127.0.0.1:0'], 30_000);
    assert.equal(r.code, 0, `${describeRun(r)}\n--- b2bua ---\n${server.output().stderr.slice(-4000)}`);
    const invites = server.trace().filter(isReq('INVITE'));
    const legA = invites.find((m) => m.dir === 'Received')!;
    const legB = invites.find((m) => m.dir === 'Sent')!;
    assert.ok(legA && legB, 'one INVITE in, one out');
    assert.notEqual(legB.callId, legA.callId, 'leg B is a new call');
    // The record is written when both legs have ended.
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    await gw.stop();
    await server.stop();
  }
  try {
    const list = await runSwitchboard(['cdr', 'list', '--json', '--store', 'sqlite', '--db', db], 15_000);
    assert.equal(list.code, 0, describeRun(list));
    const records = JSON.parse(list.stdout) as Array<{ callId: string; callIdB: string; status: number; endedBy: string; reason: string; answer?: number }>;
    assert.equal(records.length, 1, list.stdout);
    assert.equal(records[0]!.status, 200);
    assert.equal(records[0]!.endedBy, 'caller');
    assert.equal(records[0]!.reason, 'remote-bye');
    assert.ok(records[0]!.answer !== undefined && records[0]!.callIdB && records[0]!.callIdB !== records[0]!.callId);
    const text = await runSwitchboard(['cdr', 'list', '--store', 'sqlite', '--db', db], 15_000);
    assert.match(text.stdout, /\t200\t.*by=caller\tremote-bye\tcall-id=/, describeRun(text));
  } finally {
    cfg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('call flow 4 with reliable provisionals: `call --100rel` through the B2BUA to `answer --100rel`: each leg\'s 180 has an RSeq and gets its own PRACK', { timeout: 90_000 }, async () => {
  const [b2buaPort, gwPort] = (await freePorts(2)) as [number, number];
  const cfg = exampleConfig('callflow-4-b2bua', { 5070: b2buaPort, 5090: gwPort });
  const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua' });
  const gw = await startAnswerUa(gwPort, { args: ['--100rel'] });
  try {
    const r = await runSwitchboard(['call', `sip:2000@127.0.0.1:${b2buaPort}`, '--duration', '1', '--100rel', '--listen', 'udp:127.0.0.1:0'], 30_000);
    assert.equal(r.code, 0, `${describeRun(r)}\n--- b2bua ---\n${server.output().stderr.slice(-4000)}`);
    const trace = server.trace();
    const ringing = trace.filter((m) => m.kind === 'response' && m.status === 180);
    const legA = ringing.find((m) => m.dir === 'Sent')!;
    const legB = ringing.find((m) => m.dir === 'Received')!;
    const rseq = (m: typeof legA) => m.headers.find(([n]) => n.toLowerCase() === 'rseq')?.[1];
    assert.ok(legA && legB && rseq(legA) && rseq(legB), 'a reliable 180 on each leg');
    const pracks = trace.filter(isReq('PRACK'));
    assert.ok(pracks.some((m) => m.dir === 'Received' && m.callId === legA.callId), 'the phone PRACKs leg A');
    assert.ok(pracks.some((m) => m.dir === 'Sent' && m.callId === legB.callId), 'the B2BUA PRACKs leg B');
  } finally {
    await gw.stop();
    await server.stop();
    cfg.cleanup();
  }
});

test('1,000 calls held open at once through the B2BUA (SIPp -l 1000), then all ended: none lost, 1,000 call detail records, no call left', { timeout: 120_000 }, async () => {
  const [b2buaPort, gwPort, phonePort] = (await freePorts(3)) as [number, number, number];
  const dir = mkdtempSync(join(tmpdir(), 'sb-held-'));
  const db = join(dir, 'sb.db');
  const cfg = exampleConfig('callflow-4-b2bua', { 5070: b2buaPort, 5090: gwPort }, (t) => t.replace('store: memory', `store: sqlite\ndb: ${db}`));
  // No --trace here: 1,000 calls' messages would only slow the run down.
  const server = await startProcess(process.execPath, [SWITCHBOARD_CLI, 'serve', '--config', cfg.path], {
    readyPattern: /serving domains/, readyCheck: () => isListening('udp', b2buaPort), timeoutMs: 20_000, maxLifetimeMs: 110_000,
  });
  const CALLS = 1000;
  const gw = await startSipp({ scenario: 'uas', localPort: gwPort, timeoutS: 90 });
  try {
    const phone = await runSipp({ scenario: 'uac', target: `127.0.0.1:${b2buaPort}`, localPort: phonePort, calls: CALLS, rate: 200, limit: CALLS, timeoutS: 60, extra: ['-d', '8000'] });
    const msg = `${describeSipp(phone)}\n--- b2bua stderr (tail) ---\n${server.output().stderr.slice(-3000)}`;
    assert.equal(phone.successful, CALLS, msg);
    assert.equal(phone.failed, 0, msg);
    assert.equal(server.exitStatus(), null, 'the B2BUA is still running');
    await gw.finish(10_000);
  } finally {
    await gw.stop();
    await server.stop();
  }
  try {
    const list = await runSwitchboard(['cdr', 'list', '--json', '--limit', String(2 * CALLS), '--store', 'sqlite', '--db', db], 30_000);
    assert.equal(list.code, 0, describeRun(list));
    const records = JSON.parse(list.stdout) as Array<{ status: number; endedBy: string; start: number; answer?: number; end: number }>;
    assert.equal(records.length, CALLS, 'one record per call');
    assert.ok(records.every((r) => r.status === 200 && r.endedBy === 'caller' && r.answer !== undefined), 'every call answered and ended by the caller');
    // Held at once: the latest answer came before the earliest end.
    const lastAnswer = Math.max(...records.map((r) => r.answer!));
    const firstEnd = Math.min(...records.map((r) => r.end));
    assert.ok(lastAnswer < firstEnd, `all ${CALLS} calls were up together (last answer ${lastAnswer}, first end ${firstEnd})`);
  } finally {
    cfg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('call --hold-after through the B2BUA: the hold re-INVITE reaches GW-B as a=sendonly and its recvonly answer comes back', { timeout: 60_000 }, async () => {
  const [b2buaPort, gwPort] = (await freePorts(2)) as [number, number];
  const cfg = exampleConfig('callflow-4-b2bua', { 5070: b2buaPort, 5090: gwPort });
  const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua' });
  const gw = await startAnswerUa(gwPort);
  try {
    const r = await runSwitchboard(['call', `sip:2000@127.0.0.1:${b2buaPort}`, '--hold-after', '1', '--duration', '1', '--listen', 'udp:127.0.0.1:0'], 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /hold: re-INVITE 200 OK \(the other side answers recvonly\)/, describeRun(r));
    const reinvite = gw.trace().filter((m) => m.dir === 'Received' && isReq('INVITE')(m))[1];
    assert.ok(reinvite && /a=sendonly/.test(reinvite.text), 'GW-B got the hold offer');
  } finally {
    await gw.stop();
    await server.stop();
    cfg.cleanup();
  }
});
