import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthError } from './auth-error.js';
import { formatChallenge, formatCredentials, parseChallenge, parseCredentials } from './auth-header.js';

/** Asserts that `fn` throws an AuthError with `code`. */
function throwsAuth(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof AuthError && err.code === code);
}

test('parseChallenge: RFC 7616 §3.9.1 style challenge', () => {
  const c = parseChallenge(
    'Digest\r\n realm="http-auth@example.org",\r\n qop="auth, auth-int",\r\n algorithm=SHA-256,\r\n' +
      ' nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",\r\n opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  );
  assert.equal(c.scheme, 'Digest');
  assert.equal(c.realm, 'http-auth@example.org');
  assert.deepEqual(c.qop, ['auth', 'auth-int']);
  assert.equal(c.algorithm, 'SHA-256');
  assert.equal(c.nonce, '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v');
  assert.equal(c.opaque, 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS');
  assert.equal(c.stale, undefined);
});

test('parseChallenge: case-insensitive scheme, names, algorithm; LWS around = and ,; stale', () => {
  const c = parseChallenge('dIgEsT  REALM = "atlanta.com" ,nonce="n1", algorithm = md5-SESS , stale=true, STALE2=x');
  assert.equal(c.scheme, 'Digest');
  assert.equal(c.realm, 'atlanta.com');
  assert.equal(c.algorithm, 'MD5-sess');
  assert.equal(c.stale, true);
  assert.equal(c.params.get('stale2'), 'x', 'unknown params are kept');
  assert.equal(parseChallenge('Digest realm="r", nonce="n", stale=FALSE').stale, false);
  assert.equal(parseChallenge('Digest realm="r", nonce="n", algorithm=sha-256-sess').algorithm, 'SHA-256-sess');
});

test('parseChallenge: quoted strings with backslash escapes', () => {
  const c = parseChallenge('Digest realm="a \\"quoted\\" \\\\ realm", nonce="x,y=z"');
  assert.equal(c.realm, 'a "quoted" \\ realm');
  assert.equal(c.nonce, 'x,y=z');
});

test('parseCredentials: RFC 2617 §3.5 Authorization', () => {
  const c = parseCredentials(
    'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
      'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ' +
      'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  );
  assert.equal(c.username, 'Mufasa');
  assert.equal(c.realm, 'testrealm@host.com');
  assert.equal(c.uri, '/dir/index.html');
  assert.equal(c.qop, 'auth');
  assert.equal(c.nc, '00000001');
  assert.equal(c.cnonce, '0a4f113b');
  assert.equal(c.response, '6629fae49393a05397450978507c4ef1');
  assert.equal(c.opaque, '5ccc069c403ebaf9f0171e9517f40e41');
  assert.equal(c.algorithm, undefined);
});

test('round trip: formatChallenge / parseChallenge', () => {
  const original = parseChallenge(
    'Digest realm="biloxi.com", domain="sip:biloxi.com", nonce="abc", opaque="o\\"p", stale=TRUE, algorithm=SHA-256, qop="auth,auth-int", x-ext="a b", y=tok',
  );
  const text = formatChallenge(original);
  assert.equal(
    text,
    'Digest realm="biloxi.com", domain="sip:biloxi.com", nonce="abc", opaque="o\\"p", stale=TRUE, algorithm=SHA-256, qop="auth,auth-int", x-ext="a b", y=tok',
  );
  assert.deepEqual(parseChallenge(text), original);
});

test('round trip: formatCredentials / parseCredentials, quoting per RFC 3261 §25', () => {
  const text = formatCredentials({
    username: 'bob',
    realm: 'biloxi.com',
    nonce: 'n',
    uri: 'sip:bob@biloxi.com',
    response: '0123456789abcdef0123456789abcdef',
    algorithm: 'MD5',
    cnonce: 'c',
    opaque: '',
    qop: 'auth',
    nc: '0000000a',
  });
  assert.equal(
    text,
    'Digest username="bob", realm="biloxi.com", nonce="n", uri="sip:bob@biloxi.com", ' +
      'response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="c", opaque="", qop=auth, nc=0000000a',
  );
  const parsed = parseCredentials(text);
  assert.equal(formatCredentials(parsed), text);
  assert.equal(parsed.opaque, '');
});

test('formatters refuse values that would inject header text', () => {
  throwsAuth(() => formatChallenge({ realm: 'a\r\nVia: x', nonce: 'n' }), 'AUTH_ERR_PARAM_VALUE');
  throwsAuth(
    () => formatCredentials({ username: 'u', realm: 'r', nonce: 'n', uri: 'u', response: 'r', nc: '1' }),
    'AUTH_ERR_PARAM_VALUE',
  );
});

test('non-Digest scheme: RFC 4475 regaut01 and token68', () => {
  const c = parseCredentials('NoOneKnowsThisScheme opaque-data=here');
  assert.equal(c.scheme, 'NoOneKnowsThisScheme');
  assert.equal(c.params.get('opaque-data'), 'here');
  assert.equal(c.response, '');
  assert.equal(formatCredentials(c), 'NoOneKnowsThisScheme opaque-data=here');

  const basic = parseChallenge('Basic realm="WallyWorld"');
  assert.equal(basic.scheme, 'Basic');
  assert.equal(basic.realm, 'WallyWorld');

  const b = parseCredentials('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  assert.equal(b.scheme, 'Basic');
  assert.equal(b.token68, 'QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  assert.equal(formatCredentials(b), 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
});

test('malformed values throw AuthError with a stable code', () => {
  throwsAuth(() => parseChallenge(''), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest'), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest realm="unterminated, nonce="n"'), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest realm="r" nonce="n"'), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest realm="r",, nonce="n"'), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest realm=, nonce="n"'), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest realm="r", nonce="n\\'), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest realm="r", nonce="a\nb"'), 'AUTH_ERR_SYNTAX');
  throwsAuth(() => parseChallenge('Digest realm="r"'), 'AUTH_ERR_MISSING_PARAM');
  throwsAuth(() => parseChallenge('Digest realm="r", realm="s", nonce="n"'), 'AUTH_ERR_DUPLICATE_PARAM');
  throwsAuth(() => parseChallenge('Digest realm="r", nonce="n", algorithm=SHA-512-256'), 'AUTH_ERR_UNSUPPORTED_ALGORITHM');
  throwsAuth(() => parseChallenge('Digest realm="r", nonce="n", qop="auth,"'), 'AUTH_ERR_PARAM_VALUE');
  throwsAuth(() => parseCredentials('Digest username="u", realm="r", nonce="n", uri="x"'), 'AUTH_ERR_MISSING_PARAM');
  throwsAuth(
    () => parseCredentials('Digest username="u", realm="r", nonce="n", uri="x", response="r", qop=auth, nc=1, cnonce="c"'),
    'AUTH_ERR_PARAM_VALUE',
  );
  throwsAuth(
    () => parseCredentials('Digest username="u", realm="r", nonce="n", uri="x", response="r", qop=auth, nc=00000001'),
    'AUTH_ERR_MISSING_PARAM',
  );
  throwsAuth(() => parseChallenge(`Digest realm="${'a'.repeat(5000)}", nonce="n"`), 'AUTH_ERR_TOO_LARGE');
  assert.throws(() => parseChallenge('Digest realm'), /expected "=" after parameter "realm"/);
});
