// 1,000 digest-authenticated registrations from SIPp against `switchboard serve` on a SQLite
// database; then a restart on the same database keeps every binding and the nonce secret.
//
// The server runs on the DEFAULT configuration (no config file). SIPp 3.6.1 only computes MD5
// digests and only looks at the FIRST WWW-Authenticate header of a 401 (a SHA-256-first challenge
// makes it abort: "createAuthHeader: authentication must use MD5 or AKAv1-MD5"); the default
// challenge offers MD5 only, so SIPp answers it as is. SHA-256 stays available by configuration
// (`auth: {algorithms: [SHA-256, MD5]}`), exercised by registrar-rules.test.ts with digests
// computed by the test.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePortBoth, stopAll, type Managed } from '../../harness/processes.js';
import { describeSipp, runSipp, SCENARIO_DIR } from '../sipp/sipp.js';
import {
  challenges,
  cli,
  locationList,
  newCallId,
  registerText,
  responseContacts,
  startServe,
  tempDir,
  UdpSipClient,
  authorization,
  type ListedBinding,
} from './registrar-helpers.js';

const USERS = 1000;
const DOMAIN = '127.0.0.1';
const userName = (n: number) => `user${String(n).padStart(4, '0')}`;
const password = (n: number) => `pw-${n}`;

const dir = tempDir('registrar-sipp');
let server: Managed | undefined;

after(async () => {
  await server?.stop();
  await stopAll();
  if (process.env.KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
});

function byAor(list: ListedBinding[]): Map<string, ListedBinding> {
  return new Map(list.map((b) => [b.aor, b]));
}

test('SIPp registers 1,000 users with digest; bindings and nonce secret survive a restart', { timeout: 180_000 }, async () => {
  const db = join(dir, 'switchboard.db');
  const store = ['--db', db];

  // Provision 1,000 users with `user import` (lines user,password).
  const csv = join(dir, 'users.csv');
  writeFileSync(csv, Array.from({ length: USERS }, (_, n) => `${userName(n)},${password(n)}\n`).join(''));
  const imp = await cli(['user', 'import', csv, '--domain', DOMAIN, ...store], 60_000);
  assert.match(imp.stdout, new RegExp(`imported ${USERS} users`));

  const port = await freePortBoth();
  server = await startServe({ port, db, domain: DOMAIN });

  // SIPp: REGISTER → 401 → REGISTER with MD5 credentials → 200, for every user of the injection file.
  const inf = join(dir, 'users.inf');
  writeFileSync(
    inf,
    'SEQUENTIAL\n' + Array.from({ length: USERS }, (_, n) => `${userName(n)};${DOMAIN};[authentication username=${userName(n)} password=${password(n)}]\n`).join(''),
  );
  const sippPort = await freePortBoth();
  const started = Date.now();
  const r = await runSipp({
    scenario: join(SCENARIO_DIR, 'register-digest-md5.xml'),
    target: `127.0.0.1:${port}`,
    localPort: sippPort,
    calls: USERS,
    rate: 200,
    limit: 200,
    timeoutS: 60,
    extra: ['-inf', inf],
  });
  const why = `${describeSipp(r)}\n--- server stderr ---\n${server.output().stderr.slice(-4000)}`;
  assert.equal(r.code, 0, why);
  assert.equal(r.successful, USERS, why);
  assert.equal(r.failed, 0, why);
  assert.equal(r.killed, false, why);
  const sippMs = Date.now() - started;

  // The location service has exactly one binding per user.
  const before = await locationList(store);
  const aors = new Set(before.map((b) => b.aor));
  assert.equal(aors.size, USERS, `distinct AORs after SIPp (${sippMs} ms)`);
  assert.equal(before.length, USERS);
  for (let n = 0; n < USERS; n++) assert.ok(aors.has(`sip:${userName(n)}@${DOMAIN}`), `AOR of ${userName(n)}`);
  for (const b of before) {
    assert.equal(b.contact, `sip:${b.aor.slice(4, b.aor.indexOf('@'))}@127.0.0.1:${sippPort}`);
    assert.ok(b.expires > 3500 && b.expires <= 3600, `expires ${b.expires} of ${b.aor}`);
  }

  // A nonce issued by the first server process (raw socket, no credentials → 401).
  const ua = await UdpSipClient.open();
  try {
    const callId = newCallId();
    const aorUri = `sip:${userName(0)}@${DOMAIN}`;
    const contact = `sip:${userName(0)}@127.0.0.1:${sippPort}`;
    let branch = UdpSipClient.branch();
    const first = await ua.send(port, registerText({ ruri: `sip:${DOMAIN}`, aorUri, callId, cseq: 1, contacts: [`<${contact}>`], expires: '1800', localPort: ua.port, branch }), branch);
    assert.equal(first.status, 401, first.raw);
    const [oldChallenge] = challenges(first);
    assert.ok(oldChallenge, first.raw);
    assert.equal(oldChallenge.algorithm, 'MD5');

    // SIGTERM: clean shutdown, exit code 0.
    const listedAt = Date.now();
    const st = await server.stop(10_000);
    assert.deepEqual(st, { code: 0, signal: null }, `serve exit status\n${server.output().stdout}\n${server.output().stderr}`);

    // Restart on the same database: every binding is still there, with the same absolute expiry.
    server = await startServe({ port, db, domain: DOMAIN });
    const afterRestart = await locationList(store);
    const elapsedS = (Date.now() - listedAt) / 1000;
    assert.equal(afterRestart.length, USERS, 'bindings after restart');
    const old = byAor(before);
    for (const b of afterRestart) {
      const o = old.get(b.aor);
      assert.ok(o, `unexpected AOR ${b.aor} after restart`);
      assert.equal(b.contact, o.contact);
      assert.equal(b.callId, o.callId);
      assert.ok(o.expires - b.expires >= -1 && o.expires - b.expires <= elapsedS + 2, `${b.aor}: expires ${o.expires} before, ${b.expires} after ${elapsedS.toFixed(1)} s`);
    }

    // The nonce from before the restart is still accepted (the secret is kept in the database).
    branch = UdpSipClient.branch();
    const auth = authorization({ username: userName(0), password: password(0), method: 'REGISTER', uri: `sip:${DOMAIN}`, challenge: oldChallenge, nc: 1 });
    const refreshed = await ua.send(
      port,
      registerText({ ruri: `sip:${DOMAIN}`, aorUri, callId, cseq: 2, contacts: [`<${contact}>`], expires: '1800', authorization: auth, localPort: ua.port, branch }),
      branch,
    );
    assert.equal(refreshed.status, 200, `REGISTER with a pre-restart nonce:\n${refreshed.raw}`);
    const c = responseContacts(refreshed);
    assert.equal(c.length, 1, refreshed.raw);
    assert.equal(c[0]!.uri, contact);
    const exp = Number(c[0]!.params.get('expires'));
    assert.ok(exp > 1795 && exp <= 1800, `refreshed expires ${exp}`);
    const [listed] = await locationList(store, aorUri);
    assert.ok(listed && listed.expires > 1795 && listed.expires <= 1800, JSON.stringify(listed));

    // OPTIONS to the restarted server.
    branch = UdpSipClient.branch();
    const options = await ua.send(
      port,
      [
        `OPTIONS sip:${DOMAIN}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${ua.port};branch=${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@${DOMAIN}>;tag=p1`,
        `To: <sip:${DOMAIN}:${port}>`,
        `Call-ID: ${newCallId()}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      branch,
    );
    assert.equal(options.status, 200, options.raw);
  } finally {
    ua.close();
  }

  const st = await server.stop(10_000);
  assert.deepEqual(st, { code: 0, signal: null });
  server = undefined;
});
