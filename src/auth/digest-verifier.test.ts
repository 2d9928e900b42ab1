import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCredentials, parseChallenge, parseCredentials } from './auth-header.js';
import { answerChallenge, computeHa1 } from './digest.js';
import { DigestVerifier } from './digest-verifier.js';
import type { DigestAlgorithm } from './auth-header.js';
import { NcTracker, NonceService } from './nonce-service.js';

const REALM = 'biloxi.com';
const URI = 'sip:bob@biloxi.com';
const SECRET = 'verifier-test-secret-0123456789';

/** HA1 store keyed by user and hash function, as a registrar would keep it. */
const users = new Map<string, string>([
  [`bob:MD5`, computeHa1('bob', REALM, 'zanzibar', 'MD5')],
  [`bob:SHA-256`, computeHa1('bob', REALM, 'zanzibar', 'SHA-256')],
]);

function setup(now = { t: 1_700_000_000_000 }, algorithms?: DigestAlgorithm[]) {
  const nonces = new NonceService({ secret: SECRET, lifetimeSeconds: 30, clock: () => now.t });
  const verifier = new DigestVerifier({
    nonces,
    ncTracker: new NcTracker(),
    ...(algorithms ? { algorithms } : {}),
    lookupHa1: async (user, realm, algorithm) => (realm === REALM ? users.get(`${user}:${algorithm}`) : undefined),
  });
  return { verifier, nonces, now };
}

/** Plays the UAC: answers the challenge for `algorithm` from the verifier's list. */
function answer(values: string[], algorithm: DigestAlgorithm, opts: { password?: string; nc?: number; uri?: string; username?: string } = {}): string {
  const challenge = values.map(parseChallenge).find((c) => c.algorithm === algorithm);
  assert.ok(challenge, `challenge for ${algorithm}`);
  return formatCredentials(
    answerChallenge(challenge, {
      username: opts.username ?? 'bob',
      password: opts.password ?? 'zanzibar',
      method: 'REGISTER',
      uri: opts.uri ?? URI,
      ...(opts.nc !== undefined ? { nc: opts.nc } : {}),
    }),
  );
}

const ctx = { method: 'REGISTER', realm: REALM, requestUri: URI };

test('challenge(): SHA-256 first then MD5, qop="auth", stale flag (RFC 8760 §2.4)', () => {
  const { verifier } = setup();
  const values = verifier.challenge(REALM);
  assert.equal(values.length, 2);
  assert.match(values[0]!, /^Digest realm="biloxi\.com", nonce="[A-Za-z0-9_-]{43}", algorithm=SHA-256, qop="auth"$/);
  assert.match(values[1]!, /algorithm=MD5, qop="auth"$/);
  assert.match(verifier.challenge(REALM, { stale: true })[0]!, /stale=TRUE/);
});

test('end to end: answerChallenge output verifies with SHA-256 and with MD5', async () => {
  const { verifier } = setup();
  for (const algorithm of ['SHA-256', 'MD5'] as const) {
    const result = await verifier.verify(answer(verifier.challenge(REALM), algorithm), ctx);
    assert.deepEqual(result, { ok: true, username: 'bob', algorithm });
  }
});

test('-sess algorithms verify with the plain stored HA1', async () => {
  const { verifier } = setup(undefined, ['SHA-256-sess', 'MD5-sess']);
  for (const algorithm of ['SHA-256-sess', 'MD5-sess'] as const) {
    const result = await verifier.verify(answer(verifier.challenge(REALM), algorithm), ctx);
    assert.equal(result.ok, true, algorithm);
  }
});

test('wrong password → bad-response; unknown user → unknown-user', async () => {
  const { verifier } = setup();
  const values = verifier.challenge(REALM);
  const bad = await verifier.verify(answer(values, 'SHA-256', { password: 'wrong' }), ctx);
  assert.equal(bad.ok === false && bad.reason, 'bad-response');
  const unknown = await verifier.verify(answer(values, 'MD5', { username: 'mallory' }), ctx);
  assert.equal(unknown.ok === false && unknown.reason, 'unknown-user');
});

test('nc replay is refused; a higher nc is accepted', async () => {
  const { verifier } = setup();
  const values = verifier.challenge(REALM);
  const first = answer(values, 'SHA-256', { nc: 1 });
  assert.equal((await verifier.verify(first, ctx)).ok, true);
  const replay = await verifier.verify(first, ctx);
  assert.equal(replay.ok === false && replay.reason, 'replay');
  assert.equal((await verifier.verify(answer(values, 'SHA-256', { nc: 2 }), ctx)).ok, true);
});

test('expired nonce with right password → stale; with wrong password → bad-response', async () => {
  const { verifier, now } = setup();
  const values = verifier.challenge(REALM);
  now.t += 31_000;
  const stale = await verifier.verify(answer(values, 'MD5'), ctx);
  assert.equal(stale.ok === false && stale.reason, 'stale');
  const bad = await verifier.verify(answer(values, 'MD5', { password: 'x' }), ctx);
  assert.equal(bad.ok === false && bad.reason, 'bad-response');
});

test('forged nonce, other realm, uri mismatch', async () => {
  const { verifier } = setup();
  const creds = parseCredentials(answer(verifier.challenge(REALM), 'SHA-256'));
  const raw = Buffer.from(creds.nonce, 'base64url');
  raw[20]! ^= 0xff;
  const forged = await verifier.verify(formatCredentials({ ...creds, nonce: raw.toString('base64url') }), ctx);
  assert.equal(forged.ok === false && forged.reason, 'invalid-nonce');

  const foreign = await verifier.verify(formatCredentials({ ...creds, realm: 'atlanta.com' }), ctx);
  assert.equal(foreign.ok === false && foreign.reason, 'wrong-realm');

  const moved = await verifier.verify(answer(verifier.challenge(REALM), 'SHA-256', { uri: 'sip:alice@biloxi.com' }), ctx);
  assert.equal(moved.ok === false && moved.reason, 'uri-mismatch');
  // Without a requestUri the uri is only hashed, not compared.
  const { requestUri: _omit, ...noUri } = ctx;
  assert.equal((await verifier.verify(answer(verifier.challenge(REALM), 'SHA-256', { uri: 'sip:alice@biloxi.com' }), noUri)).ok, true);
});

test('missing, non-Digest (RFC 4475 regaut01) and malformed credentials', async () => {
  const { verifier } = setup();
  const missing = await verifier.verify(undefined, ctx);
  assert.equal(missing.ok === false && missing.reason, 'missing');
  const other = await verifier.verify('NoOneKnowsThisScheme opaque-data=here', ctx);
  assert.equal(other.ok === false && other.reason, 'missing');
  const malformed = await verifier.verify('Digest username="bob", realm="biloxi.com"', ctx);
  assert.equal(malformed.ok === false && malformed.reason, 'malformed');
  assert.match(malformed.ok === false ? malformed.detail : '', /nonce/);
  // An algorithm the server did not offer.
  const { verifier: md5Only } = setup(undefined, ['MD5']);
  const notOffered = await md5Only.verify(answer(verifier.challenge(REALM), 'SHA-256'), ctx);
  assert.equal(notOffered.ok === false && notOffered.reason, 'malformed');
});
