import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthError } from './auth-error.js';
import { NcTracker, NonceService } from './nonce-service.js';

const SECRET = 'a-test-secret-of-32-bytes-length';

test('issued nonce is valid, a token, bound to its realm', () => {
  const svc = new NonceService({ secret: SECRET });
  const nonce = svc.issue('atlanta.com');
  assert.match(nonce, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(svc.check(nonce, 'atlanta.com'), 'valid');
  assert.equal(svc.check(nonce, 'biloxi.com'), 'invalid');
  assert.notEqual(svc.issue('atlanta.com'), nonce);
});

test('another process sharing the secret accepts the nonce; another secret does not', () => {
  const nonce = new NonceService({ secret: Buffer.from(SECRET) }).issue('r');
  assert.equal(new NonceService({ secret: SECRET }).check(nonce, 'r'), 'valid');
  assert.equal(new NonceService({ secret: SECRET + 'x' }).check(nonce, 'r'), 'invalid');
});

test('expired nonce is stale', () => {
  let now = 1_700_000_000_000;
  const svc = new NonceService({ secret: SECRET, lifetimeSeconds: 60, clock: () => now });
  const nonce = svc.issue('r');
  now += 60_000;
  assert.equal(svc.check(nonce, 'r'), 'valid');
  now += 1;
  assert.equal(svc.check(nonce, 'r'), 'stale');
});

test('forged nonce (any byte flipped) is invalid', () => {
  const svc = new NonceService({ secret: SECRET });
  const raw = Buffer.from(svc.issue('r'), 'base64url');
  for (const i of [0, 7, 8, 15, 16, 31]) {
    const forged = Buffer.from(raw);
    forged[i]! ^= 0x01;
    assert.equal(svc.check(forged.toString('base64url'), 'r'), 'invalid', `byte ${i}`);
  }
  assert.equal(svc.check('', 'r'), 'invalid');
  assert.equal(svc.check('not a nonce', 'r'), 'invalid');
  assert.equal(svc.check(raw.toString('base64url') + 'A', 'r'), 'invalid');
});

test('constructor refuses weak configuration', () => {
  assert.throws(() => new NonceService({ secret: 'short' }), AuthError);
  assert.throws(() => new NonceService({ secret: SECRET, lifetimeSeconds: 0 }), AuthError);
});

test('NcTracker refuses nc ≤ the last seen and stays bounded', () => {
  const t = new NcTracker({ maxEntries: 2 });
  assert.equal(t.accept('n1', '00000001'), true);
  assert.equal(t.accept('n1', '00000001'), false, 'replay');
  assert.equal(t.accept('n1', 3), true);
  assert.equal(t.accept('n1', 2), false, 'older nc');
  assert.equal(t.accept('n1', 0), false);
  assert.equal(t.accept('n1', 'zz'), false);
  assert.equal(t.accept('n2', 1), true);
  assert.equal(t.accept('n1', 4), true); // n1 is now most recently used
  assert.equal(t.accept('n3', 1), true); // evicts n2
  assert.equal(t.size, 2);
  assert.equal(t.accept('n1', 4), false, 'n1 survived eviction');
  assert.equal(t.accept('n2', 1), true, 'n2 was forgotten');
});

test('with issuers (workers): a nonce is valid only at the worker that issued it, stale at the others', () => {
  const w0 = new NonceService({ secret: 'k'.repeat(32), issuer: 0 });
  const w1 = new NonceService({ secret: 'k'.repeat(32), issuer: 1 });
  const n0 = w0.issue('example.com');
  assert.equal(w0.check(n0, 'example.com'), 'valid');
  assert.equal(w1.check(n0, 'example.com'), 'stale');
  assert.equal(w1.check(w1.issue('example.com'), 'example.com'), 'valid');
  // The issuer byte is under the MAC: changing it makes the nonce invalid, not another worker's.
  const raw = Buffer.from(n0, 'base64url');
  raw[8] = 1;
  assert.equal(w1.check(raw.toString('base64url'), 'example.com'), 'invalid');
  assert.throws(() => new NonceService({ secret: 'k'.repeat(32), issuer: 256 }), /issuer 256/);
});
