// The shared real-client matrix (shared/interop/check-all.sh, 13 cases: baresip, linphone-daemon,
// twinkle-console, SIP.js and JsSIP over WebSocket, npm `sip`, sipsak) against our own server:
// `switchboard serve` as registrar + proxy on UDP+TCP 127.0.0.1:5060 and ws://127.0.0.1:5066,
// with the users the script uses (NAME / NAMEpw, domain 127.0.0.1) and digest auth on, with the
// default digest algorithms (MD5 only; SHA-256 is available by configuration but not offered).
//
// The script's ports are fixed (5060, 5066 and the clients' 5262-5281, 4462/4464), so the test
// checks they are free first and fails with a message naming what is taken.
// Needs: apt baresip-core linphone-cli twinkle-console sipsak (scripts/ensure-peers.mjs) and the
// npm registry (node/run.sh installs sip.js, jssip, sip, ws into /tmp/interop-node on first use).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runProcess, stopAll } from '../../harness/processes.js';
import { busyPorts, interopDir, MATRIX_USERS, parseTrace, startTracedServe, summarize, usersYaml } from './interop-helpers.js';

after(async () => {
  await stopAll();
});

const dir = interopDir();
const missing = ['baresip', 'linphone-daemon', 'twinkle-console', 'sipsak', 'npm'].filter(
  (b) => spawnSync('sh', ['-c', `command -v ${b}`], { encoding: 'utf8' }).status !== 0,
);
const skip = !dir ? 'shared/interop/check-all.sh not found (set INTEROP_DIR)' : missing.length > 0 ? `missing ${missing.join(', ')} (node scripts/ensure-peers.mjs)` : false;

test('check-all.sh --no-kamailio --auth against serve: 13 passed, 0 failed', { skip, timeout: 300_000 }, async (t) => {
  const SIP = 5060;
  const WS = 5066;
  const ours = [{ kind: 'udp' as const, port: SIP }, { kind: 'tcp' as const, port: SIP }, { kind: 'tcp' as const, port: WS }];
  // The clients' fixed ports (baresip binds UDP+TCP on N and TLS on N+1).
  const clients = [5262, 5263, 5264, 5265, 5266, 5270, 5280].flatMap((p) => [{ kind: 'udp' as const, port: p }, { kind: 'tcp' as const, port: p }]);
  const taken = await busyPorts([...ours, ...clients, { kind: 'tcp', port: 4462 }, { kind: 'tcp', port: 4464 }]);
  assert.deepEqual(taken, [], `check-all.sh needs these ports on 127.0.0.1 free, but they are in use: ${taken.join(', ')} ` +
    `(see \`ss -lntup\`; another registrar, a running check-all.sh or left-over clients?)`);

  const srv = await startTracedServe(
    [
      `listen: [udp:127.0.0.1:${SIP}, tcp:127.0.0.1:${SIP}, ws:127.0.0.1:${WS}]`,
      'domains: [127.0.0.1]',
      'roles: [registrar, proxy]',
      'store: memory',
      'registrar: { authenticate: true }',
      'proxy: { authenticate: true, recordRoute: true }',
      // No `auth` key: the default challenge offers MD5 only, which every client here answers
      // (baresip 1.0.0 takes only the topmost WWW-Authenticate and gives up when it is SHA-256).
      usersYaml(MATRIX_USERS),
    ].join('\n'),
    [{ kind: 'udp', port: SIP }, { kind: 'tcp', port: SIP }, { kind: 'tcp', port: WS }],
  );
  try {
    const r = await runProcess('bash', [join(dir!, 'check-all.sh'), '--no-kamailio', '--auth', '--port', String(SIP), '--ws-port', String(WS)], { timeoutMs: 240_000 });
    const lines = r.stdout.split('\n').filter((l) => /^(PASS|FAIL) /.test(l));
    for (const l of lines) t.diagnostic(l);
    const msgs = parseTrace(srv.trace());
    const errs = msgs.filter((m) => m.dir === 'Sent' && m.status !== undefined && m.status >= 400 && m.status !== 401 && m.status !== 407);
    const detail = `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n--- check-all.sh stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr.slice(-4000)}` +
      `\n--- error responses the server sent ---\n${summarize(errs)}\n--- full server trace: ${srv.traceFile} ---`;
    assert.equal(r.timedOut, false, detail);
    assert.match(r.stdout, /^13 passed, 0 failed$/m, detail);
    assert.equal(lines.length, 13, detail);
    assert.equal(r.code, 0, detail);
  } finally {
    await srv.stop();
  }
});
