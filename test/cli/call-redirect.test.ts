// `switchboard call` to something that redirects (RFC 3261 §8.1.3.4): SIPp answers the INVITE
// with `302 Moved Temporarily` and a Contact (scenarios/gw-out-302.xml). Without
// --follow-redirects the call fails and the Contact is printed; with it the Contact — a
// `switchboard answer` — is called and answers.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePortBoth, stopAll } from '../harness/processes.js';
import { SCENARIO_DIR, describeSipp, runSwitchboard, startAnswer, startSipp } from '../interop/sipp/sipp.js';

after(stopAll);

for (const follow of [false, true]) {
  test(`call to a 302${follow ? ' --follow-redirects: the Contact is called and answers (exit 0)' : ': the Contact is printed, the call fails (exit 1)'}`, { timeout: 60_000 }, async () => {
    const answerPort = await freePortBoth();
    const sippPort = await freePortBoth();
    const answer = await startAnswer({ port: answerPort, maxCalls: 1 });
    const sipp = await startSipp({ scenario: join(SCENARIO_DIR, 'gw-out-302.xml'), localPort: sippPort, calls: 1, timeoutS: 30, extra: ['-key', 'redirect_user', 'bob', '-key', 'redirect_port', String(answerPort)] });
    try {
      const r = await runSwitchboard(['call', `sip:bob@127.0.0.1:${sippPort}`, '--duration', '0', '--listen', 'udp:127.0.0.1:0', ...(follow ? ['--follow-redirects'] : [])], 30_000);
      const uas = await sipp.finish(15_000);
      const why = `${r.stdout}\n${r.stderr}\n--- sipp ---\n${describeSipp(uas)}`;
      assert.match(r.stdout, new RegExp(`^302 Moved Temporarily: redirected to sip:bob@127\\.0\\.0\\.1:${answerPort}\\b`, 'm'), why);
      if (follow) {
        assert.equal(r.code, 0, why);
        assert.match(r.stdout, new RegExp(`^following the redirection to sip:bob@127\\.0\\.0\\.1:${answerPort}`, 'm'), why);
        assert.match(r.stdout, /^call established: /m, why);
      } else {
        assert.equal(r.code, 1, why);
        assert.match(r.stdout, /^call failed: 302 Moved Temporarily$/m, why);
        assert.doesNotMatch(r.stdout, /following the redirection/);
      }
      assert.equal(uas.successful, 1, why);
    } finally {
      await sipp.stop();
      await answer.stop();
    }
  });
}
