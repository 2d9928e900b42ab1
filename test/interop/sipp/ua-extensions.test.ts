// The user agent's call-control extensions against SIPp scenarios that require them:
// reliable provisionals (RFC 3262: the UA must PRACK a 183 that says Require: 100rel) and
// session timers (RFC 4028: a 422 Session Interval Too Small must be retried with its Min-SE).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePortBoth, stopAll, type RunResult } from '../../harness/processes.js';
import { SCENARIO_DIR, describeSipp, runSwitchboard, startSipp } from './sipp.js';

after(async () => {
  await stopAll();
});

const describeRun = (r: RunResult): string => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr.slice(-5000)}`;

async function against(scenario: string, args: string[]): Promise<{ r: RunResult; uas: Awaited<ReturnType<Awaited<ReturnType<typeof startSipp>>['finish']>> }> {
  const port = await freePortBoth();
  const sipp = await startSipp({ scenario: join(SCENARIO_DIR, scenario), localPort: port, calls: 1, timeoutS: 40 });
  try {
    const r = await runSwitchboard(['call', `sip:service@127.0.0.1:${port}`, '--duration', '1', '--trace', '--listen', 'udp:127.0.0.1:0', ...args], 30_000);
    const uas = await sipp.finish(15_000);
    return { r, uas };
  } finally {
    await sipp.stop();
  }
}

test('call --100rel → a UAS that requires reliable provisionals: the 183 (RSeq 1) is PRACKed with the INVITE\'s CSeq in RAck, then 200, ACK, BYE', { timeout: 60_000 }, async () => {
  const { r, uas } = await against('uas-require-100rel.xml', ['--100rel']);
  const msg = `${describeRun(r)}\n--- sipp ---\n${describeSipp(uas)}`;
  assert.equal(r.code, 0, msg);
  assert.equal(uas.successful, 1, msg);
  assert.equal(uas.failed, 0, msg);
  const inviteCSeq = /^Sent: [\s\S]*?\nINVITE [^\n]*\n(?:[^\n]+\n)*?CSeq: (\d+) INVITE/m.exec(r.stderr)?.[1];
  const rack = /^RAck: (\d+) (\d+) INVITE$/m.exec(r.stderr);
  assert.ok(inviteCSeq && rack, msg);
  assert.deepEqual([rack[1], rack[2]], ['1', inviteCSeq], 'RAck: the RSeq of the 183 and the INVITE\'s CSeq');
});

test('call --session-timer 120 → a UAS with Min-SE 1000: 422, then the INVITE again with Session-Expires 1000, answered 200', { timeout: 60_000 }, async () => {
  const { r, uas } = await against('uas-422.xml', ['--session-timer', '120']);
  const msg = `${describeRun(r)}\n--- sipp ---\n${describeSipp(uas)}`;
  assert.equal(r.code, 0, msg);
  assert.equal(uas.successful, 1, msg);
  assert.match(r.stdout, /^call established: /m, msg);
  assert.match(r.stderr, /^SIP\/2\.0 422 Session Interval Too Small$/m, msg);
});
