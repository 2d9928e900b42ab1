import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SipParseError } from '../errors.js';
import { AbsoluteUri, SipUri, TelUri, isIpv6Address, isIpv6Reference, isHostname, parseSipUri, parseUri, percentDecode } from './sip-uri.js';

function bad(text: string, code: string = 'SIP_ERR_URI', status = 400): void {
  assert.throws(() => parseUri(text, 'Test'), (e: unknown) => {
    assert.ok(e instanceof SipParseError, `${text}: ${String(e)}`);
    assert.equal(e.status, status, text);
    assert.equal(e.code, code, text);
    assert.equal(e.field, 'Test');
    return true;
  });
}

test('minimal sip: URI', () => {
  const u = parseUri('sip:example.com') as SipUri;
  assert.ok(u instanceof SipUri);
  assert.equal(u.kind, 'sip');
  assert.equal(u.scheme, 'sip');
  assert.equal(u.user, undefined);
  assert.equal(u.password, undefined);
  assert.equal(u.host, 'example.com');
  assert.equal(u.port, undefined);
  assert.equal(u.params.size, 0);
  assert.equal(u.headers, undefined);
  assert.equal(u.toString(), 'sip:example.com');
});

test('full sip: URI: user, password, port, params, headers', () => {
  const text = 'sip:alice:pw@atlanta.example.com:5061;transport=TLS;lr;maddr=239.255.255.1;ttl=15?subject=project%20x&priority=urgent';
  const u = parseUri(text) as SipUri;
  assert.equal(u.user, 'alice');
  assert.equal(u.password, 'pw');
  assert.equal(u.host, 'atlanta.example.com');
  assert.equal(u.port, 5061);
  assert.deepEqual([...u.params], [['transport', 'TLS'], ['lr', null], ['maddr', '239.255.255.1'], ['ttl', '15']]);
  assert.equal(u.transport, 'tls');
  assert.equal(u.param('LR'), null);
  assert.equal(u.param('absent'), undefined);
  assert.equal(u.headers, 'subject=project%20x&priority=urgent');
  assert.equal(u.toString(), text);
});

test('sips: and scheme case-insensitivity; parameter names lower-cased', () => {
  const u = parseUri('SIPS:Bob@Biloxi.Example.COM;Transport=tcp') as SipUri;
  assert.equal(u.scheme, 'sips');
  assert.equal(u.user, 'Bob');
  assert.equal(u.host, 'Biloxi.Example.COM');
  assert.equal(u.param('transport'), 'tcp');
  assert.equal(u.toString(), 'sips:Bob@Biloxi.Example.COM;transport=tcp');
});

test('IPv4 and IPv6 hosts', () => {
  const v4 = parseUri('sip:192.0.2.1:5060') as SipUri;
  assert.equal(v4.host, '192.0.2.1');
  assert.equal(v4.port, 5060);
  const v6 = parseUri('sip:user@[2001:db8::10]:5070;transport=udp') as SipUri;
  assert.equal(v6.host, '[2001:db8::10]');
  assert.equal(v6.hostname, '2001:db8::10');
  assert.equal(v6.port, 5070);
  assert.equal(v6.toString(), 'sip:user@[2001:db8::10]:5070;transport=udp');
  const amb = parseUri('sip:[2001:db8::10:5070]') as SipUri;
  assert.equal(amb.hostname, '2001:db8::10:5070');
  assert.equal(amb.port, undefined);
  const mapped = parseUri('sip:[::ffff:192.0.2.2]') as SipUri;
  assert.equal(mapped.hostname, '::ffff:192.0.2.2');
  const full = parseUri('sip:[2001:0db8:0000:0000:0000:0000:0000:0001]') as SipUri;
  assert.equal(full.port, undefined);
});

test('malformed sip: URIs', () => {
  bad('sip:2001:db8::10');
  bad('sip:[2001:db8::10');
  bad('sip:[2001:db8:::192.0.2.1]');
  bad('sip:[2001:db8::10]x');
  bad('sip:host:99999');
  bad('sip:host:port');
  bad('sip:host:');
  bad('sip:@host');
  bad('sip:');
  bad('sip:ho st');
  bad('sip:host;;x', 'SIP_ERR_HEADER_VALUE');
  bad('sip:host;=x', 'SIP_ERR_HEADER_VALUE');
  bad('sip:host;a=', 'SIP_ERR_HEADER_VALUE');
  bad('sip:h<o>st');
  bad('sip:user@ho$t');
  bad('no-scheme');
  bad(':nothing');
  bad('1sip:host');
  bad('s_p:host');
  bad('other:');
});

test('percent escapes are kept as written and decoded once', () => {
  const u = parseUri('sip:%61lice%40home@example.com;name=value%2541') as SipUri;
  assert.equal(u.user, '%61lice%40home');
  assert.equal(u.decodedUser, 'alice@home');
  assert.equal(u.param('name'), 'value%2541');
  assert.equal(percentDecode('value%2541'), 'value%41');
  assert.equal(percentDecode('%E2%82%AC'), '€');
  assert.equal(percentDecode('%00a'), '\u0000a');
  assert.equal(percentDecode('100%'), '100%');
  assert.equal(percentDecode('%zz%4'), '%zz%4');
  assert.equal(percentDecode('plain'), 'plain');
  assert.equal(percentDecode('é%20x'), 'é x');
});

test('user part may contain ;, escaped @ and unreserved marks', () => {
  const u = parseUri("sip:user;par=u%40example.net@example.com") as SipUri;
  assert.equal(u.user, 'user;par=u%40example.net');
  assert.equal(u.host, 'example.com');
  assert.equal(u.params.size, 0);
  const marks = parseUri("sip:-_.!~*'()&=+$,;?/@example.com") as SipUri;
  assert.equal(marks.user, "-_.!~*'()&=+$,;?/");
  assert.equal(marks.host, 'example.com');
});

test('parseSipUri rejects other schemes with 416', () => {
  assert.equal(parseSipUri('sip:a@b').host, 'b');
  assert.throws(() => parseSipUri('tel:+15551234', 'To'), (e: unknown) => e instanceof SipParseError && e.status === 416 && e.code === 'SIP_ERR_UNSUPPORTED_URI_SCHEME' && e.field === 'To');
  assert.throws(() => parseSipUri('mailto:a@b'), (e: unknown) => e instanceof SipParseError && e.status === 416);
});

test('tel: URIs', () => {
  const g = parseUri('tel:+1-201-555-0123') as TelUri;
  assert.ok(g instanceof TelUri);
  assert.equal(g.kind, 'tel');
  assert.equal(g.number, '+1-201-555-0123');
  assert.equal(g.params.size, 0);
  const l = parseUri('tel:7042;phone-context=example.com;ext=22') as TelUri;
  assert.equal(l.number, '7042');
  assert.deepEqual([...l.params], [['phone-context', 'example.com'], ['ext', '22']]);
  assert.equal(l.toString(), 'tel:7042;phone-context=example.com;ext=22');
  assert.equal((parseUri('TEL:*21#') as TelUri).number, '*21#');
  bad('tel:');
  bad('tel:+');
  bad('tel:abc xyz');
  bad('tel:+1;;x', 'SIP_ERR_HEADER_VALUE');
});

test('absolute URIs of other schemes are opaque', () => {
  const a = parseUri('http://www.example.com/x?y=1') as AbsoluteUri;
  assert.ok(a instanceof AbsoluteUri);
  assert.equal(a.kind, 'absolute');
  assert.equal(a.scheme, 'http');
  assert.equal(a.value, '//www.example.com/x?y=1');
  assert.equal(a.toString(), 'http://www.example.com/x?y=1');
  assert.equal((parseUri('urn:isbn:0-394-4') as AbsoluteUri).value, 'isbn:0-394-4');
});

test('clone is deep for params', () => {
  const u = parseUri('sip:a@b;x=1') as SipUri;
  const c = u.clone();
  c.params.set('y', '2');
  c.host = 'c';
  assert.equal(u.toString(), 'sip:a@b;x=1');
  assert.equal(c.toString(), 'sip:a@c;x=1;y=2');
});

test('address helpers', () => {
  for (const a of ['::', '::1', '2001:db8::10', '2001:db8:0:0:0:0:0:1', '::ffff:192.0.2.2', '2001:db8::192.0.2.1', 'fe80::1:2:3:4:5:6']) {
    assert.equal(isIpv6Address(a), true, a);
  }
  for (const a of ['', ':', '2001:db8:::1', '2001:db8::1::2', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::1', 'g::1', '::1.2.3.256', '1.2.3.4']) {
    assert.equal(isIpv6Address(a), false, a);
  }
  assert.equal(isIpv6Reference('[::1]'), true);
  assert.equal(isIpv6Reference('::1'), false);
  assert.equal(isIpv6Reference('[::1'), false);
  assert.equal(isHostname('a-b.example.com'), true);
  assert.equal(isHostname('255.255.255.255'), true);
  assert.equal(isHostname(''), false);
  assert.equal(isHostname('a b'), false);
  assert.equal(isHostname('x'.repeat(256)), false);
});
