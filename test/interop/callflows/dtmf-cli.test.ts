// DTMF relay out of band from the command line (the handbook §10.4): `switchboard call --dtmf
// DIGITS --dtmf-relay LIST` sends the digits after the answer by the first method both ends
// agreed on; `switchboard answer --dtmf-relay LIST` prints each digit as `DTMF <digit> <method>`.
// NOTIFY-based relay (Cisco: Call-Info offered in the INVITE and the 200) and INFO
// application/dtmf-relay, between the two commands and against SIPp scenarios that check the
// requests.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stopAll } from '../../harness/processes.js';
import { SCENARIO_DIR, describeSipp, runSwitchboard, startSipp } from '../sipp/sipp.js';
import { describeRun, freePorts, isReq, isRes, startAnswerUa } from './callflow-harness.js';

after(async () => {
  await stopAll();
});

for (const [relay, method] of [['sip-notify,sip-info', 'sip-notify'], ['sip-info', 'sip-info']] as const) {
  test(`call --dtmf 159#* --dtmf-relay ${relay} → answer --dtmf-relay sip-notify,sip-info: every digit arrives by ${method}, in order`, { timeout: 60_000 }, async () => {
    const [port] = (await freePorts(1)) as [number];
    const answer = await startAnswerUa(port, { args: ['--dtmf-relay', 'sip-notify,sip-info'] });
    try {
      const r = await runSwitchboard(['call', `sip:4000@127.0.0.1:${port}`, '--duration', '0', '--dtmf', '159#*', '--dtmf-relay', relay, '--listen', 'udp:127.0.0.1:0'], 30_000);
      assert.equal(r.code, 0, describeRun(r));
      assert.equal((r.stdout.match(new RegExp(`^DTMF sent . ${method}: 200 OK$`, 'gm')) ?? []).length, 5, r.stdout);
      await new Promise((res) => setTimeout(res, 300));
      const out = answer.output().stdout;
      assert.deepEqual([...out.matchAll(/^DTMF (\S) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`), ['1', '5', '9', '#', '*'].map((d) => `${d} ${method}`), out);
      const trace = answer.trace();
      const invite = trace.find((m) => m.dir === 'Received' && isReq('INVITE')(m))!;
      const ok = trace.find((m) => m.dir === 'Sent' && isRes(200, 'INVITE')(m))!;
      const offered = (m: typeof invite) => m.headers.some(([n, v]) => n === 'Call-Info' && /method="NOTIFY;Event=telephone-event;Duration=\d+"/.test(v));
      assert.equal(offered(invite), relay.includes('sip-notify'), 'the INVITE offers NOTIFY relay only when asked to');
      assert.equal(offered(ok), relay.includes('sip-notify'), 'the 200 offers it back only when the INVITE did');
    } finally {
      await answer.stop();
    }
  });
}

test('notify telephone-event max-duration: call --dtmf-max-duration 1500 → answer --dtmf-max-duration 800: the INVITE offers 1500, the 200 answers the lower 800, the digit goes by NOTIFY', { timeout: 60_000 }, async () => {
  const [port] = (await freePorts(1)) as [number];
  const answer = await startAnswerUa(port, { args: ['--dtmf-relay', 'sip-notify', '--dtmf-max-duration', '800'] });
  try {
    const r = await runSwitchboard(['call', `sip:4000@127.0.0.1:${port}`, '--duration', '0', '--dtmf', '3', '--dtmf-relay', 'sip-notify', '--dtmf-max-duration', '1500', '--listen', 'udp:127.0.0.1:0'], 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /^DTMF sent 3 sip-notify: 200 OK$/m);
    await new Promise((res) => setTimeout(res, 300));
    const trace = answer.trace();
    const duration = (m: (typeof trace)[number] | undefined) => m?.headers.flatMap(([n, v]) => (n === 'Call-Info' ? [/Duration=(\d+)/.exec(v)?.[1]] : []))[0];
    assert.equal(duration(trace.find((m) => m.dir === 'Received' && isReq('INVITE')(m))), '1500');
    assert.equal(duration(trace.find((m) => m.dir === 'Sent' && isRes(200, 'INVITE')(m))), '800');
    const bad = await runSwitchboard(['call', `sip:4000@127.0.0.1:${port}`, '--dtmf', '3', '--dtmf-max-duration', '100'], 10_000);
    assert.equal(bad.code, 2, describeRun(bad));
    assert.match(bad.stderr, /invalid --dtmf-max-duration "100": expected milliseconds from 500 to 3000/);
  } finally {
    await answer.stop();
  }
});

for (const [scenario, method] of [['ua-dtmf-notify.xml', 'sip-notify'], ['ua-dtmf-info.xml', 'sip-info']] as const) {
  test(`call --dtmf 5 against a SIPp UAS that ${method === 'sip-notify' ? 'offers NOTIFY relay (Duration=1000)' : 'allows INFO only'}: the digit goes by ${method}, as the scenario checks`, { timeout: 60_000 }, async () => {
    const [port] = (await freePorts(1)) as [number];
    const sipp = await startSipp({ scenario: join(SCENARIO_DIR, scenario), localPort: port, calls: 1, timeoutS: 40 });
    try {
      const r = await runSwitchboard(['call', `sip:4000@127.0.0.1:${port}`, '--duration', '0', '--dtmf', '5', '--listen', 'udp:127.0.0.1:0'], 30_000);
      const uas = await sipp.finish(15_000);
      const why = `${describeRun(r)}\n--- sipp ---\n${describeSipp(uas)}`;
      assert.equal(r.code, 0, why);
      assert.match(r.stdout, new RegExp(`^DTMF sent 5 ${method}: 200 OK$`, 'm'), why);
      assert.equal(uas.successful, 1, why);
      assert.equal(uas.failed, 0, why);
    } finally {
      await sipp.stop();
    }
  });
}

for (const relay of ['sip-notify,sip-info', 'sip-info'] as const) {
  const method = relay.split(',')[0]!;
  test(`the other way: answer --dtmf 42 --dtmf-relay ${relay} → call --dtmf-relay ${relay}: the callee's digits arrive by ${method} once the call is confirmed`, { timeout: 60_000 }, async () => {
    const [port] = (await freePorts(1)) as [number];
    const answer = await startAnswerUa(port, { args: ['--dtmf-relay', relay, '--dtmf', '42', '--max-calls', '1'] });
    try {
      const r = await runSwitchboard(['call', `sip:4000@127.0.0.1:${port}`, '--duration', '1', '--dtmf-relay', relay, '--listen', 'udp:127.0.0.1:0'], 30_000);
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual([...r.stdout.matchAll(/^DTMF (\S) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`), [`4 ${method}`, `2 ${method}`], r.stdout);
      await answer.waitExit(40_000);
      assert.equal((answer.output().stdout.match(new RegExp(`^DTMF sent . ${method}: 200 OK$`, 'gm')) ?? []).length, 2, answer.output().stdout);
    } finally {
      await answer.stop();
    }
  });
}

test('rtp-nte (RFC 4733 events in the RTP stream): call --media --dtmf 7#1 --dtmf-relay rtp-nte → answer --media --dtmf-relay rtp-nte: each digit once, in order; the events count as stream packets (no loss)', { timeout: 60_000 }, async () => {
  const [port] = (await freePorts(1)) as [number];
  const answer = await startAnswerUa(port, { args: ['--media', '--dtmf-relay', 'rtp-nte', '--max-calls', '1'] });
  try {
    const r = await runSwitchboard(['call', `sip:4000@127.0.0.1:${port}`, '--duration', '1', '--media', '--dtmf', '7#1', '--dtmf-relay', 'rtp-nte', '--listen', 'udp:127.0.0.1:0'], 30_000);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual([...r.stdout.matchAll(/^DTMF sent (\S) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`), ['7 rtp-nte', '# rtp-nte', '1 rtp-nte'], r.stdout);
    await answer.waitExit(40_000);
    const out = answer.output().stdout;
    assert.deepEqual([...out.matchAll(/^DTMF (\S) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`), ['7 rtp-nte', '# rtp-nte', '1 rtp-nte'], out);
    assert.match(out, /^RTP PCMU: sent \d+ packets, received \d+ \(lost 0,/m, out);
    const invite = answer.trace().find((m) => m.dir === 'Received' && isReq('INVITE')(m))!;
    assert.match(invite.text, /a=rtpmap:\d+ telephone-event\/8000/, 'the offer has telephone-event');
  } finally {
    await answer.stop();
  }
});
