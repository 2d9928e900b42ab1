import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthError } from './auth-error.js';
import { formatCredentials, parseChallenge } from './auth-header.js';
import { answerChallenge, computeHa1, computeResponse, formatNonceCount, selectChallenge } from './digest.js';

test('RFC 2617 §3.5 example (MD5, qop=auth)', () => {
  const ha1 = computeHa1('Mufasa', 'testrealm@host.com', 'Circle Of Life', 'MD5');
  const params = {
    method: 'GET',
    uri: '/dir/index.html',
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    nc: '00000001',
    cnonce: '0a4f113b',
    qop: 'auth',
  };
  assert.equal(computeResponse({ ha1, ...params }), '6629fae49393a05397450978507c4ef1');
  assert.equal(
    computeResponse({ username: 'Mufasa', realm: 'testrealm@host.com', password: 'Circle Of Life', ...params, nc: 1 }),
    '6629fae49393a05397450978507c4ef1',
  );
});

// RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
const RFC7616 = {
  username: 'Mufasa',
  realm: 'http-auth@example.org',
  password: 'Circle of Life',
  method: 'GET',
  uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: '00000001',
  qop: 'auth',
};

test('RFC 7616 §3.9.1 example, SHA-256 and MD5', () => {
  assert.equal(
    computeResponse({ ...RFC7616, algorithm: 'SHA-256' }),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
  assert.equal(computeResponse({ ...RFC7616, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
});

test('answerChallenge reproduces the RFC 7616 §3.9.1 Authorization', () => {
  const challenge = parseChallenge(
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, ' +
      'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  );
  const creds = answerChallenge(challenge, {
    username: 'Mufasa',
    password: 'Circle of Life',
    method: 'GET',
    uri: '/dir/index.html',
    cnonce: RFC7616.cnonce,
  });
  assert.equal(creds.qop, 'auth');
  assert.equal(creds.nc, '00000001');
  assert.equal(creds.algorithm, 'SHA-256');
  assert.equal(creds.opaque, 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS');
  assert.equal(creds.response, '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  assert.match(formatCredentials(creds), /algorithm=SHA-256, cnonce="f2\/wE4q74E6zIJEtWaHKaf5wv\/H5QzzpXusqGemxURZJ", opaque=".*", qop=auth, nc=00000001$/);
});

test('answerChallenge without qop uses RFC 2069 form', () => {
  const creds = answerChallenge(parseChallenge('Digest realm="r", nonce="n"'), {
    username: 'u',
    password: 'p',
    method: 'INVITE',
    uri: 'sip:bob@biloxi.com',
  });
  assert.equal(creds.qop, undefined);
  assert.equal(creds.nc, undefined);
  assert.equal(creds.cnonce, undefined);
  assert.equal(creds.algorithm, undefined);
  const ha1 = computeHa1('u', 'r', 'p');
  assert.equal(creds.response, computeResponse({ ha1, method: 'INVITE', uri: 'sip:bob@biloxi.com', nonce: 'n' }));
});

test('-sess and auth-int variants', () => {
  const base = { username: 'u', realm: 'r', password: 'p', method: 'MESSAGE', uri: 'sip:a@b', nonce: 'n', nc: 1, cnonce: 'c' };
  const sess = computeResponse({ ...base, qop: 'auth', algorithm: 'SHA-256-sess' });
  assert.notEqual(sess, computeResponse({ ...base, qop: 'auth', algorithm: 'SHA-256' }));
  assert.equal(sess.length, 64);
  const withBody = computeResponse({ ...base, qop: 'auth-int', body: 'hello' });
  assert.notEqual(withBody, computeResponse({ ...base, qop: 'auth-int', body: 'hellO' }));
  assert.throws(() => computeResponse({ ...base, qop: 'auth-conf' }), (e: unknown) => e instanceof AuthError && e.code === 'AUTH_ERR_QOP');
  assert.throws(() => computeResponse({ ha1: 'zz', method: 'A', uri: 'u', nonce: 'n' }), (e: unknown) => e instanceof AuthError && e.code === 'AUTH_ERR_CONFIG');
});

test('formatNonceCount and selectChallenge', () => {
  assert.equal(formatNonceCount(1), '00000001');
  assert.equal(formatNonceCount(0xabc), '00000abc');
  assert.throws(() => formatNonceCount(0), AuthError);
  const chosen = selectChallenge([
    'NoOneKnowsThisScheme opaque-data=here',
    'Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"',
    'Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"',
    'Digest realm="r", nonce="n", algorithm=MD5, qop="auth"',
  ]);
  assert.equal(chosen?.algorithm, 'SHA-256');
  assert.equal(selectChallenge(['Basic realm="x"']), undefined);
  assert.throws(
    () => answerChallenge(parseChallenge('Basic realm="x"'), { username: 'u', password: 'p', method: 'A', uri: 'u' }),
    (e: unknown) => e instanceof AuthError && e.code === 'AUTH_ERR_SCHEME',
  );
});
