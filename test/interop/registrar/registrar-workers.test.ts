// The registrar as `workers: 2` on one SQLite file (dbLocking shared): SIPp registers 300 users
// with MD5 digest, every one succeeds and `location list` shows them all. A nonce is only taken
// by the worker that issued it (its nonce counts live there, RFC 7616 §3.4): credentials sent
// under a Call-ID that belongs to the other worker get `401 … stale=true`, then a fresh nonce
// from that worker works — and a replay of the same nc there is refused.
//
// Apart from `workers: 2` / `dbLocking: shared` the configuration is the default: its challenge
// offers MD5 only, the one algorithm SIPp 3.6.1 computes (it reads only the topmost
// WWW-Authenticate), so no `auth` override is needed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePortBoth, stopAll, type Managed } from '../../harness/processes.js';
import { describeSipp, runSipp, SCENARIO_DIR } from '../sipp/sipp.js';
import { callIdOwner } from '../../../src/transport/worker-relay.js';
import { authorization, challenges, cli, locationList, newCallId, registerText, startServe, tempDir, UdpSipClient, writeConfig } from './registrar-helpers.js';

const USERS = 300;
const DOMAIN = '127.0.0.1';
const userName = (n: number) => `wuser${String(n).padStart(4, '0')}`;
const password = (n: number) => `pw-${n}`;

const dir = tempDir('registrar-workers');
let server: Managed | undefined;

after(async () => {
  await server?.stop();
  await stopAll();
  if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

/** A Call-ID that the worker `index` of 2 owns. */
function callIdFor(index: number): string {
  for (;;) {
    const c = newCallId();
    if (callIdOwner(c, 2) === index) return c;
  }
}

test(`workers: 2 on one SQLite file: SIPp registers ${USERS} users; a nonce counts only where it was issued`, { timeout: 180_000 }, async () => {
  const db = join(dir, 'switchboard.db');
  const store = ['--db', db];
  const config = writeConfig(dir, 'workers.yaml', 'workers: 2\ndbLocking: shared\n');
  const csv = join(dir, 'users.csv');
  writeFileSync(csv, Array.from({ length: USERS }, (_, n) => `${userName(n)},${password(n)}\n`).join(''));
  await cli(['user', 'import', csv, '--domain', DOMAIN, ...store], 60_000);

  const port = await freePortBoth();
  server = await startServe({ port, db, config, domain: DOMAIN });
  for (let i = 0; i < 100 && !/running 2 workers/.test(server.output().stdout); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(server.output().stdout, /running 2 workers/);

  const inf = join(dir, 'users.inf');
  writeFileSync(inf, 'SEQUENTIAL\n' + Array.from({ length: USERS }, (_, n) => `${userName(n)};${DOMAIN};[authentication username=${userName(n)} password=${password(n)}]\n`).join(''));
  const sippPort = await freePortBoth();
  const r = await runSipp({
    scenario: join(SCENARIO_DIR, 'register-digest-md5.xml'),
    target: `127.0.0.1:${port}`, localPort: sippPort, calls: USERS, rate: 150, limit: 150, timeoutS: 60, extra: ['-inf', inf],
  });
  const why = `${describeSipp(r)}\n--- server stderr ---\n${server.output().stderr.slice(-4000)}`;
  assert.equal(r.code, 0, why);
  assert.equal(r.successful, USERS, why);
  assert.equal(r.failed, 0, why);
  const listed = await locationList(store);
  assert.equal(new Set(listed.map((b) => b.aor)).size, USERS, 'one binding per user, written by either worker');

  const ua = await UdpSipClient.open();
  try {
    const aorUri = `sip:${userName(0)}@${DOMAIN}`;
    const contact = `<sip:${userName(0)}@127.0.0.1:${ua.port}>`;
    const send = (callId: string, cseq: number, auth?: string) => {
      const branch = UdpSipClient.branch();
      return ua.send(port, registerText({ ruri: `sip:${DOMAIN}`, aorUri, callId, cseq, contacts: [contact], expires: '600', authorization: auth, localPort: ua.port, branch }), branch);
    };
    const a = callIdFor(0);
    const b = callIdFor(1);
    const first = await send(a, 1);
    assert.equal(first.status, 401, first.raw);
    const [fromW0] = challenges(first);
    assert.ok(fromW0);
    // The right credentials under worker 1's Call-ID: stale, with a new nonce from worker 1.
    const cross = await send(b, 1, authorization({ username: userName(0), password: password(0), method: 'REGISTER', uri: `sip:${DOMAIN}`, challenge: fromW0, nc: 1 }));
    assert.equal(cross.status, 401, cross.raw);
    const [fromW1] = challenges(cross);
    assert.match(fromW1?.stale ?? '', /^true$/i, `stale=true expected:\n${cross.raw}`);
    const ok = await send(b, 2, authorization({ username: userName(0), password: password(0), method: 'REGISTER', uri: `sip:${DOMAIN}`, challenge: fromW1, nc: 1 }));
    assert.equal(ok.status, 200, ok.raw);
    // The same nonce count again at the worker that tracks it: a replay, not a registration.
    const replay = await send(b, 3, authorization({ username: userName(0), password: password(0), method: 'REGISTER', uri: `sip:${DOMAIN}`, challenge: fromW1, nc: 1 }));
    assert.notEqual(replay.status, 200, replay.raw);
    // Worker 0 still takes its own nonce.
    const own = await send(a, 2, authorization({ username: userName(0), password: password(0), method: 'REGISTER', uri: `sip:${DOMAIN}`, challenge: fromW0, nc: 1 }));
    assert.equal(own.status, 200, own.raw);
  } finally {
    ua.close();
  }
  const st = await server.stop(10_000);
  assert.deepEqual(st, { code: 0, signal: null }, server.output().stderr.slice(-2000));
  server = undefined;
});
