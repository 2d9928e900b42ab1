// Blind transfer from the command line, three processes: `switchboard call --transfer-to` (the
// transferor) calls one `switchboard answer` (the transferee) and REFERs it to another (the
// target); the transferee's traced NOTIFYs report the target's 200, and the transferor exits 0.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { stopAll } from '../../harness/processes.js';
import { runSwitchboard } from '../sipp/sipp.js';
import { describeRun, exampleConfig, freePorts, isReq, startAnswerUa, startServe } from './callflow-harness.js';

after(async () => {
  await stopAll();
});

test('call --transfer-to: REFER 202, the transferee calls the target with Referred-By and NOTIFYs 200; exit 0', { timeout: 90_000 }, async () => {
  const [bobPort, carolPort] = (await freePorts(2)) as [number, number];
  const bob = await startAnswerUa(bobPort);
  const carol = await startAnswerUa(carolPort);
  try {
    const r = await runSwitchboard(['call', `sip:bob@127.0.0.1:${bobPort}`, '--transfer-to', `sip:carol@127.0.0.1:${carolPort}`, '--listen', 'udp:127.0.0.1:0'], 45_000);
    assert.equal(r.code, 0, `${describeRun(r)}\n--- transferee ---\n${bob.output().stderr.slice(-4000)}`);
    assert.match(r.stdout, new RegExp(`transfer: REFER 202 Accepted; the transferee's call to sip:carol@127\\.0\\.0\\.1:${carolPort} ended 200`));
    const bobTrace = bob.trace();
    const refer = bobTrace.find((m) => m.dir === 'Received' && m.kind === 'request' && m.method === 'REFER');
    assert.ok(refer, 'the transferee got the REFER');
    const toCarol = bobTrace.find((m) => m.dir === 'Sent' && isReq('INVITE')(m))!;
    assert.ok(toCarol.headers.some(([n]) => n === 'Referred-By'), 'the INVITE to the target carries Referred-By');
    const notifies = bobTrace.filter((m) => m.dir === 'Sent' && isReq('NOTIFY')(m));
    assert.ok(notifies.some((m) => /SIP\/2\.0 200 OK/.test(m.text)), 'a NOTIFY reports the 200');
    assert.ok(carol.trace().some((m) => m.dir === 'Received' && isReq('INVITE')(m)), 'the target was called');
  } finally {
    await bob.stop();
    await carol.stop();
  }
});

test('through the B2BUA (refer: handle, the default): the B2BUA takes the REFER, calls the target with the remaining party\'s media, re-INVITEs that party with the target\'s, NOTIFYs 200', { timeout: 90_000 }, async () => {
  const [b2buaPort, bobPort, carolPort] = (await freePorts(3)) as [number, number, number];
  const cfg = exampleConfig('callflow-4-b2bua', { 5070: b2buaPort, 5090: bobPort });
  const server = await startServe(cfg.path, { udpPorts: [b2buaPort], hop: 'b2bua' });
  const bob = await startAnswerUa(bobPort);
  const carol = await startAnswerUa(carolPort);
  try {
    const r = await runSwitchboard(['call', `sip:bob@127.0.0.1:${b2buaPort}`, '--transfer-to', `sip:carol@127.0.0.1:${carolPort}`, '--listen', 'udp:127.0.0.1:0'], 45_000);
    const why = `${describeRun(r)}\n--- b2bua ---\n${server.output().stderr.slice(-6000)}`;
    assert.equal(r.code, 0, why);
    assert.match(r.stdout, new RegExp(`transfer: REFER 202 Accepted; the transferee's call to sip:carol@127\\.0\\.0\\.1:${carolPort} ended 200`), why);
    const trace = server.trace();
    assert.ok(!trace.some((m) => m.dir === 'Sent' && isReq('REFER')(m)), 'the REFER stays at the B2BUA');
    const toCarol = carol.trace().find((m) => m.dir === 'Received' && isReq('INVITE')(m));
    assert.ok(toCarol, 'the B2BUA called the target');
    const bobInvites = bob.trace().filter((m) => m.dir === 'Received' && isReq('INVITE')(m));
    assert.equal(bobInvites.length, 2, 'leg B got a re-INVITE');
    assert.equal(bobInvites[1]!.callId, bobInvites[0]!.callId, 'within the same dialog');
    const port = (text: string) => /^m=audio (\d+)/m.exec(text)?.[1];
    const carolAnswer = carol.trace().find((m) => m.dir === 'Sent' && m.kind === 'response' && m.status === 200 && m.cseqMethod === 'INVITE')!;
    assert.equal(port(bobInvites[1]!.text), port(carolAnswer.text), 'the re-INVITE carries the target\'s media port');
    assert.equal(port(toCarol.text), port(bob.trace().find((m) => m.dir === 'Sent' && m.kind === 'response' && m.status === 200 && m.cseqMethod === 'INVITE')!.text), 'the target was offered the remaining party\'s media port');
    assert.match(server.output().stdout + server.output().stderr, /REFER to sip:carol@127\.0\.0\.1:\d+: joined/);
  } finally {
    await bob.stop();
    await carol.stop();
    await server.stop();
    cfg.cleanup();
  }
});
