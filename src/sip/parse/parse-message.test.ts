import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SipParseError } from '../errors.js';
import { parseMessage } from './parse-message.js';
import { SipRequest } from '../message/sip-request.js';
import { SipResponse } from '../message/sip-response.js';
import { REASON_PHRASES, reasonPhrase, statusClassCode, isValidStatus } from '../message/status-codes.js';
import { COMPACT_FORMS } from '../message/header-names.js';
import { KNOWN_METHODS } from '../message/methods.js';
import { SipUri, TelUri, AbsoluteUri } from '../uri/sip-uri.js';

const CRLF = '\r\n';

/** Joins header lines with CRLF, adds the empty line and the body. */
function wire(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join(CRLF) + CRLF + CRLF + body, 'utf8');
}

function baseHeaders(method = 'OPTIONS'): string[] {
  return [
    'Via: SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    'To: Bob <sip:bob@example.com>',
    'From: "Alice" <sip:alice@example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.example.com',
    `CSeq: 314159 ${method}`,
  ];
}

function req(method: string, uri: string, extra: string[] = [], body = ''): SipRequest {
  const m = parseMessage(wire([`${method} ${uri} SIP/2.0`, ...baseHeaders(method), ...extra, `Content-Length: ${Buffer.byteLength(body)}`], body));
  assert.ok(m instanceof SipRequest);
  return m;
}

function parseErr(buf: Buffer, status: number, code?: string): SipParseError {
  let err: unknown;
  try {
    parseMessage(buf);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SipParseError, `expected SipParseError, got ${String(err)}`);
  assert.equal(err.status, status);
  if (code !== undefined) assert.equal(err.code, code);
  return err;
}

function throwsParse(fn: () => unknown, status = 400, code?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SipParseError, `expected SipParseError, got ${String(e)}`);
    assert.equal(e.status, status);
    if (code !== undefined) assert.equal(e.code, code);
    return true;
  });
}

describe('requests', () => {
  test('parses an INVITE from a Buffer with every routing field', () => {
    const body = 'v=0\r\n';
    const m = req('INVITE', 'sip:bob@example.com', ['Content-Type: application/sdp'], body);
    assert.equal(m.kind, 'request');
    assert.equal(m.method, 'INVITE');
    assert.equal(m.uriText, 'sip:bob@example.com');
    assert.equal(m.topVia.transport, 'UDP');
    assert.equal(m.topVia.host, 'pc33.example.com');
    assert.equal(m.topVia.port, 5060);
    assert.equal(m.topVia.branch, 'z9hG4bK776asdhds');
    assert.equal(m.topVia.isRfc3261Branch, true);
    assert.equal(m.from.tag, '1928301774');
    assert.equal(m.from.displayName, 'Alice');
    assert.equal(m.from.uriText, 'sip:alice@example.com');
    assert.equal(m.to.tag, undefined);
    assert.equal(m.to.displayName, 'Bob');
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.com');
    assert.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
    assert.equal(m.maxForwards, 70);
    assert.equal(m.contentLength, 5);
    assert.equal(m.contentType, 'application/sdp');
    assert.equal(m.body.toString(), body);
    assert.equal(m.headerCount, 8);
    m.validate();
  });

  test('leading CRLFs before the start line are ignored (RFC 3261 §7.5)', () => {
    const m = parseMessage(Buffer.concat([Buffer.from('\r\n\r\n'), wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders(), 'Content-Length: 0'])]));
    assert.equal(m.kind, 'request');
    assert.equal((m as SipRequest).method, 'OPTIONS');
  });

  test('every known method parses and validates', () => {
    for (const method of KNOWN_METHODS) {
      const m = req(method, 'sip:bob@example.com');
      assert.equal(m.method, method);
      assert.equal(m.cseq.method, method);
      m.validate();
    }
  });

  test('extension methods are any token, kept verbatim', () => {
    for (const method of ['NEWMETHOD', 'FOO-BAR.baz', '!interesting-Method0123456789_*+`.%~', 'X']) {
      const m = req(method, 'sip:bob@example.com');
      assert.equal(m.method, method);
      m.validate();
    }
  });

  test('methods are case-sensitive: "invite" is not INVITE', () => {
    const m = parseMessage(wire(['invite sip:bob@example.com SIP/2.0', ...baseHeaders('INVITE'), 'Content-Length: 0'])) as SipRequest;
    assert.equal(m.method, 'invite');
    assert.notEqual(m.method, 'INVITE');
    // CSeq says INVITE, so the method comparison must fail.
    throwsParse(() => m.validate(), 400, 'SIP_ERR_CSEQ_METHOD_MISMATCH');
    const ok = req('invite', 'sip:bob@example.com');
    assert.equal(ok.cseq.method, 'invite');
    ok.validate();
  });

  test('a method with a non-token character is rejected', () => {
    parseErr(wire(['INV(ITE sip:bob@example.com SIP/2.0', ...baseHeaders(), 'Content-Length: 0']), 400, 'SIP_ERR_METHOD');
  });

  test('the SIP-Version token is case-insensitive; other versions get 505', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b sip/2.0', ...baseHeaders(), 'Content-Length: 0'])) as SipRequest;
    assert.equal(m.method, 'OPTIONS');
    parseErr(wire(['OPTIONS sip:a@b SIP/7.0', ...baseHeaders(), 'Content-Length: 0']), 505, 'SIP_ERR_VERSION');
    parseErr(wire(['OPTIONS sip:a@b SIP/2.00', ...baseHeaders(), 'Content-Length: 0']), 505, 'SIP_ERR_VERSION');
    parseErr(wire(['OPTIONS sip:a@b HTTP/1.1', ...baseHeaders(), 'Content-Length: 0']), 400, 'SIP_ERR_START_LINE');
  });

  test('malformed request lines are 400', () => {
    parseErr(wire(['OPTIONS  sip:a@b SIP/2.0', ...baseHeaders(), 'Content-Length: 0']), 400, 'SIP_ERR_START_LINE');
    parseErr(wire(['OPTIONS sip:a@b SIP/2.0 ', ...baseHeaders(), 'Content-Length: 0']), 400, 'SIP_ERR_START_LINE');
    parseErr(wire(['OPTIONS sip:a@b', ...baseHeaders(), 'Content-Length: 0']), 400);
    parseErr(wire(['OPTIONS <sip:a@b> SIP/2.0', ...baseHeaders(), 'Content-Length: 0']), 400, 'SIP_ERR_REQUEST_URI');
    parseErr(Buffer.from('\r\n\r\n'), 400, 'SIP_ERR_EMPTY');
    parseErr(Buffer.alloc(0), 400, 'SIP_ERR_EMPTY');
    parseErr(Buffer.from('OPTIONS sip:a@b SIP/2.0'), 400, 'SIP_ERR_NO_HEADER_END');
  });

  test('header lines without a colon or with a bad name are 400', () => {
    parseErr(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders(), 'Foobar roobar', 'Content-Length: 0']), 400, 'SIP_ERR_HEADER_LINE');
    parseErr(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders(), 'Bad@Name: x', 'Content-Length: 0']), 400, 'SIP_ERR_HEADER_LINE');
    parseErr(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders(), ': novalue', 'Content-Length: 0']), 400, 'SIP_ERR_HEADER_LINE');
    parseErr(wire(['OPTIONS sip:a@b SIP/2.0', ' continuation first', ...baseHeaders(), 'Content-Length: 0']), 400, 'SIP_ERR_HEADER_LINE');
  });

  test('too many header lines are rejected', () => {
    const many = Array.from({ length: 300 }, (_, i) => `X-H${i}: ${i}`);
    parseErr(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders(), ...many, 'Content-Length: 0']), 400, 'SIP_ERR_HEADER_COUNT');
  });
});

describe('responses', () => {
  function resp(statusLine: string): SipResponse {
    const m = parseMessage(wire([statusLine, ...baseHeaders('INVITE'), 'Content-Length: 0']));
    assert.ok(m instanceof SipResponse);
    return m;
  }

  test('parses status and reason phrase', () => {
    const m = resp('SIP/2.0 180 Ringing');
    assert.equal(m.kind, 'response');
    assert.equal(m.status, 180);
    assert.equal(m.reason, 'Ringing');
    assert.equal(m.isProvisional, true);
    assert.equal(m.cseq.method, 'INVITE');
    m.validate();
    const ok = resp('SIP/2.0 200 OK with spaces  inside');
    assert.equal(ok.reason, 'OK with spaces  inside');
    assert.equal(ok.isProvisional, false);
  });

  test('an empty reason phrase (with or without the SP) parses', () => {
    assert.equal(resp('SIP/2.0 100 ').reason, '');
    assert.equal(resp('SIP/2.0 100').reason, '');
  });

  test('a UTF-8 reason phrase is decoded', () => {
    assert.equal(resp('SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое').reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  });

  test('status codes outside 100-699 or not three digits are rejected', () => {
    for (const line of ['SIP/2.0 700 Nope', 'SIP/2.0 999 Nope', 'SIP/2.0 099 Nope', 'SIP/2.0 4294967301 Huge', 'SIP/2.0 20 OK', 'SIP/2.0 2x0 OK', 'SIP/2.0 200OK']) {
      parseErr(wire([line, ...baseHeaders(), 'Content-Length: 0']), 400, 'SIP_ERR_STATUS_CODE');
    }
    parseErr(wire(['SIP/3.0 200 OK', ...baseHeaders(), 'Content-Length: 0']), 505, 'SIP_ERR_VERSION');
  });

  test('unknown codes in a class are handled as x00 (RFC 3261 §8.1.3.2)', () => {
    const m = resp('SIP/2.0 499 Something Odd');
    assert.equal(m.status, 499);
    assert.equal(statusClassCode(m.status), 400);
    assert.equal(statusClassCode(resp('SIP/2.0 183 Session Progress').status), 183);
    assert.equal(statusClassCode(resp('SIP/2.0 299 Fancy').status), 200);
    assert.equal(statusClassCode(resp('SIP/2.0 699 Whatever').status), 600);
    assert.equal(statusClassCode(resp('SIP/2.0 100 Trying').status), 100);
    assert.equal(statusClassCode(resp('SIP/2.0 157 New').status), 100);
    assert.equal(reasonPhrase(499), 'Bad Request');
    assert.equal(reasonPhrase(599), 'Server Internal Error');
    assert.equal(reasonPhrase(486), 'Busy Here');
  });

  test('isValidStatus', () => {
    assert.equal(isValidStatus(100), true);
    assert.equal(isValidStatus(699), true);
    assert.equal(isValidStatus(700), false);
    assert.equal(isValidStatus(99), false);
    assert.equal(isValidStatus(200.5), false);
  });

  test('every code in REASON_PHRASES has a non-empty phrase and is a valid status', () => {
    const codes = Object.keys(REASON_PHRASES).map(Number);
    assert.ok(codes.length >= 60);
    for (const c of codes) {
      assert.ok(isValidStatus(c), `code ${c}`);
      const p = REASON_PHRASES[c]!;
      assert.equal(typeof p, 'string');
      assert.ok(p.length > 0, `phrase of ${c}`);
      assert.equal(reasonPhrase(c), p);
      assert.equal(statusClassCode(c), c);
      assert.doesNotMatch(p, /[\r\n]/);
    }
    // Every class has its x00 so unknown codes always map somewhere.
    for (const x00 of [100, 200, 300, 400, 500, 600]) assert.ok(REASON_PHRASES[x00] !== undefined, `x00 ${x00}`);
    assert.equal(REASON_PHRASES[200], 'OK');
    assert.equal(REASON_PHRASES[481], 'Call/Transaction Does Not Exist');
    assert.equal(REASON_PHRASES[513], 'Message Too Large');
  });
});

describe('header names', () => {
  test('every compact form resolves through header() to the full name', () => {
    const expected: Record<string, string> = {
      i: 'Call-ID', m: 'Contact', v: 'Via', f: 'From', t: 'To', l: 'Content-Length', k: 'Supported',
      c: 'Content-Type', s: 'Subject', e: 'Content-Encoding', o: 'Event', u: 'Allow-Events',
      r: 'Refer-To', x: 'Session-Expires', y: 'Identity', b: 'Referred-By',
    };
    for (const [c, full] of Object.entries(expected)) assert.equal(COMPACT_FORMS[c], full, c);
    const values: Record<string, string> = {
      i: 'cid-1@host', m: '<sip:alice@192.0.2.1>', v: 'SIP/2.0/TCP h.example.com;branch=z9hG4bKcmp', f: '<sip:a@example.com>;tag=ft',
      t: '<sip:b@example.com>', l: '4', k: '100rel, timer', c: 'text/plain', s: 'Hello subject', e: 'gzip',
      o: 'presence', u: 'dialog', r: '<sip:carol@example.com>', x: '1800;refresher=uac', y: '"abc"', b: '<sip:ref@example.com>',
    };
    const lines = ['MESSAGE sip:b@example.com SIP/2.0', 'Max-Forwards: 70', 'CSeq: 1 MESSAGE'];
    for (const [c, v] of Object.entries(values)) lines.push(`${c}: ${v}`);
    const m = parseMessage(wire(lines, 'body')) as SipRequest;
    for (const [c, v] of Object.entries(values)) {
      const full = expected[c]!;
      assert.equal(m.header(full), v, `${c} via ${full}`);
      assert.equal(m.header(full.toUpperCase()), v, `${c} via upper-case ${full}`);
      assert.equal(m.header(full.toLowerCase()), v, `${c} via lower-case ${full}`);
      assert.equal(m.header(c), v, `${c} via compact`);
      assert.equal(m.header(c.toUpperCase()), v, `${c} via upper compact`);
      assert.equal(m.hasHeader(full), true);
    }
    assert.equal(m.callId, 'cid-1@host');
    assert.equal(m.topVia.transport, 'TCP');
    assert.equal(m.topVia.branch, 'z9hG4bKcmp');
    assert.equal(m.from.tag, 'ft');
    assert.equal(m.contact[0]!.uriText, 'sip:alice@192.0.2.1');
    assert.equal(m.contentLength, 4);
    assert.equal(m.body.toString(), 'body');
    assert.equal(m.contentType, 'text/plain');
    assert.deepEqual(m.headerValues('Supported'), ['100rel', 'timer']);
    m.validate();
  });

  test('header names are case-insensitive and compact/long forms mix', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', 'v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1', 'VIA: SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
      'via: SIP/2.0/UDP c.example.com;branch=z9hG4bK3', 'max-FORWARDS: 1', 'TO: <sip:a@b>', 'fRoM: <sip:c@d>;tag=x', 'call-id: z', 'cseq: 1 OPTIONS', 'l: 0'])) as SipRequest;
    assert.equal(m.countHeader('Via'), 3);
    assert.deepEqual(m.via.map((v) => v.host), ['a.example.com', 'b.example.com', 'c.example.com']);
    assert.equal(m.topVia.host, 'a.example.com');
    assert.deepEqual(m.headerLines().map(([n]) => n), ['v', 'VIA', 'via', 'max-FORWARDS', 'TO', 'fRoM', 'call-id', 'cseq', 'l']);
    assert.equal(m.maxForwards, 1);
    assert.equal(m.header('X-Absent'), undefined);
    assert.deepEqual(m.headers('X-Absent'), []);
    assert.equal(m.hasHeader('X-Absent'), false);
    m.validate();
  });

  test('whitespace between the name and the colon is allowed', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', 'Subject   :   hi there  ', ...baseHeaders(), 'Content-Length: 0']));
    assert.equal(m.header('Subject'), 'hi there');
  });

  test('an empty header value is an empty string', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', 'Subject:', 'Organization:    ', ...baseHeaders(), 'Content-Length: 0']));
    assert.equal(m.header('Subject'), '');
    assert.equal(m.header('Organization'), '');
  });
});

describe('folding, lists, quoting', () => {
  test('folded header lines are unfolded with one SP', () => {
    const m = parseMessage(wire([
      'OPTIONS sip:a@b SIP/2.0',
      'Via: SIP/2.0/UDP a.example.com;',
      '  branch=z9hG4bKfold',
      'Subject: first',
      '\tsecond  ',
      ' \t third',
      'Organization:',
      '   only-on-continuation',
      ...baseHeaders().slice(1),
      'Content-Length: 0',
    ])) as SipRequest;
    assert.equal(m.header('Subject'), 'first second third');
    assert.equal(m.header('Organization'), 'only-on-continuation');
    assert.equal(m.topVia.branch, 'z9hG4bKfold');
    assert.equal(m.header('Via'), 'SIP/2.0/UDP a.example.com; branch=z9hG4bKfold');
    m.validate();
  });

  test('comma lists: headerValues splits outside quotes and <>; multiple lines accumulate', () => {
    const m = parseMessage(wire([
      'OPTIONS sip:a@b SIP/2.0',
      ...baseHeaders(),
      'Supported: 100rel , timer,path',
      'Supported: gruu',
      'Contact: "Doe, John" <sip:j@example.com;a=1,2>;q=0.5, <sip:x@y>',
      'Contact: sip:z@example.com;expires=60',
      'Content-Length: 0',
    ])) as SipRequest;
    assert.deepEqual(m.headerValues('Supported'), ['100rel', 'timer', 'path', 'gruu']);
    assert.deepEqual(m.optionTags('supported'), ['100rel', 'timer', 'path', 'gruu']);
    assert.deepEqual(m.headers('Supported'), ['100rel , timer,path', 'gruu']);
    const c = m.contact;
    assert.equal(c.length, 3);
    assert.equal(c[0]!.displayName, 'Doe, John');
    assert.equal(c[0]!.uriText, 'sip:j@example.com;a=1,2');
    assert.equal(c[0]!.param('q'), '0.5');
    assert.equal(c[1]!.uriText, 'sip:x@y');
    assert.equal(c[2]!.uriText, 'sip:z@example.com');
    assert.equal(c[2]!.param('expires'), '60');
    assert.deepEqual(m.viaValues(), ['SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bK776asdhds']);
  });

  test('Via lists on one line and across lines', () => {
    const m = parseMessage(wire([
      'OPTIONS sip:a@b SIP/2.0',
      'Via: SIP/2.0/UDP first.example.com;branch=z9hG4bK1 , SIP/2.0/TCP second.example.com:5070;branch=z9hG4bK2',
      'v: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK3;received=192.0.2.1;rport=5062',
      ...baseHeaders().slice(1),
      'Content-Length: 0',
    ])) as SipRequest;
    assert.equal(m.topVia.host, 'first.example.com');
    assert.equal(m.topVia.branch, 'z9hG4bK1');
    const vias = m.via;
    assert.deepEqual(vias.map((v) => [v.transport, v.host, v.port, v.branch]), [
      ['UDP', 'first.example.com', undefined, 'z9hG4bK1'],
      ['TCP', 'second.example.com', 5070, 'z9hG4bK2'],
      ['TLS', '[2001:db8::1]', 5061, 'z9hG4bK3'],
    ]);
    assert.equal(vias[2]!.received, '192.0.2.1');
    assert.equal(vias[2]!.rport, 5062);
    assert.deepEqual(m.viaValues(), [
      'SIP/2.0/UDP first.example.com;branch=z9hG4bK1',
      'SIP/2.0/TCP second.example.com:5070;branch=z9hG4bK2',
      'SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK3;received=192.0.2.1;rport=5062',
    ]);
  });

  test('Via: LWS around the slashes, lower-case protocol, rport without value', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', 'Via: sip / 2.0 / udp host.example.com ; branch = z9hG4bKx ; rport', ...baseHeaders().slice(1), 'Content-Length: 0']));
    assert.equal(m.topVia.transport, 'UDP');
    assert.equal(m.topVia.protocol, 'SIP/2.0');
    assert.equal(m.topVia.branch, 'z9hG4bKx');
    assert.equal(m.topVia.rport, null);
  });

  test('malformed Via values throw SipParseError', () => {
    for (const v of ['SIP/2.0/UDP', 'SIP/3.0/UDP h', 'SIP/2.0/UDP h;;branch=z9hG4bK', 'SIP/2.0/UDP h:99999', 'SIP/2.0/UDP [2001:db8::1', 'SIP/2.0/UDP h;rport=abc', ', SIP/2.0/UDP h']) {
      const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', `Via: ${v}`, ...baseHeaders().slice(1), 'Content-Length: 0']));
      throwsParse(() => m.topVia, 400);
    }
  });

  test('quoted strings with escaped quotes and backslashes', () => {
    const m = parseMessage(wire([
      'OPTIONS sip:a@b SIP/2.0',
      'Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1',
      'Max-Forwards: 70',
      'From: "J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8',
      'To: "a;b,c<d>" <sip:b@example.com>;param="quoted;value, x"',
      'Call-ID: q@x',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
    ])) as SipRequest;
    assert.equal(m.from.displayName, 'J Rosenberg \\"');
    assert.equal(m.from.tag, '98asjd8');
    assert.equal(m.from.uriText, 'sip:jdrosen@example.com');
    assert.equal(m.to.displayName, 'a;b,c<d>');
    assert.equal(m.to.param('param'), '"quoted;value, x"');
    assert.equal(m.to.uriText, 'sip:b@example.com');
    m.validate();
  });

  test('unterminated quotes and unbracketed URIs with headers are rejected', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', 'To: "Mr. J. User <sip:j.user@example.com>', 'From: sip:a@b?Route=x;tag=1', ...baseHeaders().filter((h) => !/^(To|From):/.test(h)), 'Content-Length: 0']));
    throwsParse(() => m.to, 400, 'SIP_ERR_NAME_ADDR');
    throwsParse(() => m.from, 400, 'SIP_ERR_NAME_ADDR');
    throwsParse(() => m.validate(), 400);
  });

  test('addr-spec form: parameters after an unbracketed URI belong to the header', () => {
    const m = parseMessage(wire(['REGISTER sip:example.com SIP/2.0', ...baseHeaders('REGISTER'), 'Contact: sip:u@example.com;unknownparam;expires=30', 'Content-Length: 0'])) as SipRequest;
    const c = m.contact[0]!;
    assert.equal(c.uriText, 'sip:u@example.com');
    assert.equal(c.param('unknownparam'), null);
    assert.equal(c.param('expires'), '30');
    const u = c.uri as SipUri;
    assert.equal(u.params.size, 0);
  });

  test('Contact: * is a star', () => {
    const m = parseMessage(wire(['REGISTER sip:example.com SIP/2.0', ...baseHeaders('REGISTER'), 'Contact: *', 'Expires: 0', 'Content-Length: 0'])) as SipRequest;
    assert.equal(m.contact.length, 1);
    assert.equal(m.contact[0]!.star, true);
    assert.equal(m.contact[0]!.toString(), '*');
  });
});

describe('routing set validation', () => {
  test('missing required headers and duplicates are 400 from validate()', () => {
    for (const drop of ['Via', 'To', 'From', 'Call-ID', 'CSeq']) {
      const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders().filter((h) => !h.startsWith(drop + ':')), 'Content-Length: 0']));
      throwsParse(() => m.validate(), 400, 'SIP_ERR_MISSING_HEADER');
    }
    for (const dup of ['Call-ID: other@x', 'To: <sip:c@d>', 'From: <sip:e@f>;tag=2', 'CSeq: 2 OPTIONS', 'Max-Forwards: 1']) {
      const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders(), dup, 'Content-Length: 0']));
      throwsParse(() => m.validate(), 400, 'SIP_ERR_MULTIPLE_VALUES');
    }
  });

  test('Max-Forwards is optional, 0-255, leading zeros allowed', () => {
    const noMf = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders().filter((h) => !h.startsWith('Max-Forwards')), 'Content-Length: 0']));
    assert.equal(noMf.maxForwards, undefined);
    noMf.validate();
    const mk = (v: string) => parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders().filter((h) => !h.startsWith('Max-Forwards')), `Max-Forwards: ${v}`, 'Content-Length: 0']));
    assert.equal(mk('0068').maxForwards, 68);
    assert.equal(mk('0').maxForwards, 0);
    assert.equal(mk('255').maxForwards, 255);
    for (const bad of ['256', '-1', 'ten', '', '1 2', '300000000000']) throwsParse(() => mk(bad).maxForwards, 400, 'SIP_ERR_MAX_FORWARDS');
  });

  test('CSeq: number below 2**31 (RFC 3261 §8.1.1.5), method token, leading zeros and LWS', () => {
    const mk = (v: string) => parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders().filter((h) => !h.startsWith('CSeq')), `CSeq: ${v}`, 'Content-Length: 0']));
    assert.deepEqual(mk('0009 OPTIONS').cseq, { seq: 9, method: 'OPTIONS' });
    assert.deepEqual(mk('2147483647   OPTIONS  ').cseq, { seq: 2147483647, method: 'OPTIONS' });
    assert.deepEqual(mk('0 OPTIONS').cseq, { seq: 0, method: 'OPTIONS' });
    // The byte fast path and the string parser (a folded value takes the latter) agree.
    assert.deepEqual(parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders().filter((h) => !h.startsWith('CSeq')), 'CSeq: 2147483647', ' OPTIONS', 'Content-Length: 0'])).cseq, { seq: 2147483647, method: 'OPTIONS' });
    throwsParse(() => parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders().filter((h) => !h.startsWith('CSeq')), 'CSeq: 2147483648', ' OPTIONS', 'Content-Length: 0'])).cseq, 400, 'SIP_ERR_CSEQ');
    for (const bad of ['2147483648 OPTIONS', '4294967295 OPTIONS', '4294967296 OPTIONS', '36893488147419103232 OPTIONS', 'OPTIONS', '1', '-1 OPTIONS', '1 OPT IONS', '1 OPT(IONS', 'x OPTIONS', '']) {
      throwsParse(() => mk(bad).cseq, 400, bad === '' ? undefined : 'SIP_ERR_CSEQ');
    }
  });

  test('Call-ID must be one non-empty word', () => {
    const mk = (v: string) => parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders().filter((h) => !h.startsWith('Call-ID')), `Call-ID: ${v}`, 'Content-Length: 0']));
    assert.equal(mk('abc@def').callId, 'abc@def');
    assert.equal(mk('0ha0isndaksdj@10.0.0.1').callId, '0ha0isndaksdj@10.0.0.1');
    throwsParse(() => mk('').callId, 400);
    throwsParse(() => mk('a b').callId, 400);
  });

  test('lazy: a broken header does not fail parseMessage, only its accessor', () => {
    const m = parseMessage(wire(['OPTIONS sip:a@b SIP/2.0', ...baseHeaders(), 'Contact: <sip:broken', 'X-Other: "open', 'Content-Length: 0'])) as SipRequest;
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.com');
    m.validate(); // neither is copied into a response or a forwarded request unparsed
    throwsParse(() => m.contact, 400);
    throwsParse(() => m.headerValues('X-Other'), 400);
  });

  test('validate() reads every header a response or a forwarded copy reuses, and names it', () => {
    const mk = (...extra: string[]) => parseMessage(wire(['INVITE sip:a@b SIP/2.0', ...baseHeaders('INVITE'), ...extra, 'Content-Length: 0']));
    const names = (extra: string[], field: string, reason: RegExp) => {
      const m = mk(...extra);
      assert.throws(() => m.validate(), (e: unknown) => e instanceof SipParseError && e.status === 400 && e.field === field && reason.test(e.message), `${extra.join(' | ')}`);
    };
    // Issue 12's packet: a second Via with an unterminated quote, on its own line or after a comma.
    names(['Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKq;x="open'], 'Via', /Unterminated quoted string in Via/);
    const v = mk().header('Via')!;
    const folded = parseMessage(wire(['INVITE sip:a@b SIP/2.0', `Via: ${v}, SIP/2.0/UDP 10.0.0.1;x="open`, ...baseHeaders('INVITE').filter((h) => !h.startsWith('Via')), 'Content-Length: 0']));
    assert.throws(() => folded.validate(), (e: unknown) => e instanceof SipParseError && e.field === 'Via');
    names(['Via: SIP/2.0/UDP'], 'Via', /./);
    names(['Route: <sip:p1.example.com;lr'], 'Route', /Route/);
    names(['Route: ,'], 'Route', /Route/);
    names(['Record-Route: "x <sip:p1.example.com;lr>'], 'Record-Route', /Unterminated quoted string in Record-Route/);
    names(['Subject: a\0b'], 'Subject', /NUL byte in Subject/);
    // A bare CR would let a lenient next hop read a header of the sender's making.
    names(['Subject: a\rInjected: x'], 'Subject', /CR without LF in Subject/);
    // A NUL escaped as a quoted-pair is in the grammar (RFC 3261 §25.1; RFC 4475 intmeth).
    mk('Subject: "a\\\0b"').validate();
    mk('Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>', 'Record-Route: <sip:p3.example.com;lr>').validate();
  });
});

describe('URIs in the Request-URI and headers', () => {
  test('sip: URI with user, password, port, params and headers', () => {
    const m = req('OPTIONS', 'sip:alice:secret@atlanta.example.com:5070;transport=TCP;lr;maddr=239.255.255.1');
    const u = m.uri as SipUri;
    assert.ok(u instanceof SipUri);
    assert.equal(u.scheme, 'sip');
    assert.equal(u.user, 'alice');
    assert.equal(u.password, 'secret');
    assert.equal(u.host, 'atlanta.example.com');
    assert.equal(u.port, 5070);
    assert.equal(u.transport, 'tcp');
    assert.equal(u.param('lr'), null);
    assert.equal(u.param('MADDR'), '239.255.255.1');
    assert.equal(u.headers, undefined);
    m.validate();
  });

  test('sips: URI and scheme case', () => {
    const u = req('OPTIONS', 'SIPS:bob@biloxi.example.com').uri as SipUri;
    assert.equal(u.scheme, 'sips');
    assert.equal(u.user, 'bob');
    assert.equal(u.port, undefined);
  });

  test('%-escapes are decoded once, never recursively', () => {
    const m = req('INVITE', 'sip:sips%3Auser%40example.com@example.net;name=value%2541');
    const u = m.uri as SipUri;
    assert.equal(u.user, 'sips%3Auser%40example.com');
    assert.equal(u.decodedUser, 'sips:user@example.com');
    assert.equal(u.param('name'), 'value%2541');
    const semi = req('OPTIONS', 'sip:user;par=u%40example.net@example.com').uri as SipUri;
    assert.equal(semi.user, 'user;par=u%40example.net');
    assert.equal(semi.decodedUser, 'user;par=u@example.net');
    assert.equal(semi.host, 'example.com');
    const nul = req('REGISTER', 'sip:example.com', ['Contact: <sip:%00@host5.example.com>']).contact[0]!.uri as SipUri;
    assert.equal(nul.decodedUser, '\u0000');
    assert.equal(nul.decodedUser!.length, 1);
  });

  test('IPv6 references with and without a port', () => {
    const a = req('OPTIONS', 'sip:[2001:db8::10]:5070').uri as SipUri;
    assert.equal(a.host, '[2001:db8::10]');
    assert.equal(a.hostname, '2001:db8::10');
    assert.equal(a.port, 5070);
    const b = req('OPTIONS', 'sip:user@[2001:db8::10:5070]').uri as SipUri;
    assert.equal(b.host, '[2001:db8::10:5070]');
    assert.equal(b.port, undefined);
    const c = req('OPTIONS', 'sip:[::ffff:192.0.2.2];transport=udp').uri as SipUri;
    assert.equal(c.host, '[::ffff:192.0.2.2]');
    assert.equal(c.transport, 'udp');
    const bad = req('OPTIONS', 'sip:2001:db8::10');
    throwsParse(() => bad.uri, 400, 'SIP_ERR_URI');
    throwsParse(() => req('OPTIONS', 'sip:[2001:db8:::192.0.2.1]').uri, 400, 'SIP_ERR_URI');
  });

  test('escaped headers in a header URI are kept; in the Request-URI validate() rejects them', () => {
    const c = req('REGISTER', 'sip:example.com', ['Contact: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>']).contact[0]!;
    const u = c.uri as SipUri;
    assert.equal(u.headers, 'Route=%3Csip:sip.example.com%3E');
    assert.equal(u.toString(), 'sip:user@example.com?Route=%3Csip:sip.example.com%3E');
    const r = req('INVITE', 'sip:user@example.com?Route=%3Csip:example.com%3E');
    assert.equal((r.uri as SipUri).headers, 'Route=%3Csip:example.com%3E');
    throwsParse(() => r.validate(), 400, 'SIP_ERR_REQUEST_URI');
  });

  test('tel: URIs with parameters', () => {
    const u = req('INVITE', 'tel:+1-201-555-0123;phone-context=example.com').uri as TelUri;
    assert.ok(u instanceof TelUri);
    assert.equal(u.number, '+1-201-555-0123');
    assert.equal(u.params.get('phone-context'), 'example.com');
    assert.equal(u.toString(), 'tel:+1-201-555-0123;phone-context=example.com');
    const local = req('INVITE', 'tel:7042;phone-context=example.com').uri as TelUri;
    assert.equal(local.number, '7042');
    throwsParse(() => req('INVITE', 'tel:+;x').uri, 400);
  });

  test('other schemes are opaque absolute URIs', () => {
    const u = req('OPTIONS', 'soap.beep://192.0.2.103:3002').uri as AbsoluteUri;
    assert.ok(u instanceof AbsoluteUri);
    assert.equal(u.scheme, 'soap.beep');
    assert.equal(u.value, '//192.0.2.103:3002');
    const v = req('OPTIONS', 'nobodyKnowsThisScheme:totallyopaquecontent').uri as AbsoluteUri;
    assert.equal(v.scheme, 'nobodyknowsthisscheme');
    v; // parses; role-specific 416 happens elsewhere
  });
});

describe('datagram framing by Content-Length', () => {
  const head = ['MESSAGE sip:b@example.com SIP/2.0', ...baseHeaders('MESSAGE')];

  test('missing Content-Length: the body is the rest of the datagram', () => {
    const m = parseMessage(wire(head, 'hello\r\nworld'));
    assert.equal(m.body.toString(), 'hello\r\nworld');
    assert.equal(m.contentLength, 12);
  });

  test('missing Content-Length on a stream is an error', () => {
    assert.throws(() => parseMessage(wire(head, 'x'), { framing: 'stream' }), (e: unknown) => e instanceof SipParseError && e.code === 'SIP_ERR_CONTENT_LENGTH');
  });

  test('shorter Content-Length: trailing bytes are ignored', () => {
    const m = parseMessage(wire([...head, 'Content-Length: 5'], 'hellotrailing INVITE sip:x SIP/2.0\r\n'));
    assert.equal(m.body.toString(), 'hello');
    assert.equal(m.bodyEnd - m.bodyStart, 5);
    const z = parseMessage(wire([...head, 'l: 0'], 'junk'));
    assert.equal(z.body.length, 0);
  });

  test('larger Content-Length: 400', () => {
    parseErr(wire([...head, 'Content-Length: 9999'], 'short'), 400, 'SIP_ERR_BODY_TRUNCATED');
    parseErr(wire([...head, 'Content-Length: 6'], 'short'), 400, 'SIP_ERR_BODY_TRUNCATED');
  });

  test('negative, non-numeric, conflicting Content-Length: 400; equal duplicates are fine', () => {
    parseErr(wire([...head, 'Content-Length: -999'], ''), 400, 'SIP_ERR_CONTENT_LENGTH');
    parseErr(wire([...head, 'Content-Length: abc'], ''), 400, 'SIP_ERR_CONTENT_LENGTH');
    parseErr(wire([...head, 'Content-Length: '], ''), 400, 'SIP_ERR_CONTENT_LENGTH');
    parseErr(wire([...head, 'Content-Length: 99999999999999999999'], ''), 400, 'SIP_ERR_CONTENT_LENGTH');
    parseErr(wire([...head, 'Content-Length: 5', 'l: 3'], 'hello'), 400, 'SIP_ERR_CONTENT_LENGTH');
    const ok = parseMessage(wire([...head, 'Content-Length: 3', 'l: 3'], 'abcdef'));
    assert.equal(ok.body.toString(), 'abc');
  });

  test('binary body bytes are kept exactly', () => {
    const bin = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a, 0x0d, 0x0a, 0x80]);
    const m = parseMessage(Buffer.concat([wire([...head, `Content-Length: ${bin.length}`]), bin]));
    assert.deepEqual([...m.body], [...bin]);
  });

  test('no empty line: the datagram ends the header section', () => {
    const m = parseMessage(Buffer.from([...head, 'Content-Length: 0'].join(CRLF) + CRLF));
    assert.equal(m.body.length, 0);
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.com');
  });

  test('bare LF line ends are accepted', () => {
    const m = parseMessage(Buffer.from([...head, 'Content-Length: 2'].join('\n') + '\n\nhi'));
    assert.equal(m.body.toString(), 'hi');
    assert.equal(m.cseq.method, 'MESSAGE');
  });

  test('over 65535 bytes is 513; exactly 65535 is accepted', () => {
    const headLen = wire([...head, 'Content-Length: 00000']).length;
    const bodyLen = 65535 - headLen;
    const ok = parseMessage(wire([...head, `Content-Length: ${String(bodyLen).padStart(5, '0')}`], 'a'.repeat(bodyLen)));
    assert.equal(ok.raw.length, 65535);
    assert.equal(ok.body.length, bodyLen);
    const big = wire([...head, `Content-Length: ${bodyLen + 1}`], 'a'.repeat(bodyLen + 1));
    assert.equal(big.length, 65536);
    const err = parseErr(big, 513, 'SIP_ERR_TOO_LARGE');
    assert.equal(err.field, 'message');
    // A smaller configured limit applies too.
    assert.throws(() => parseMessage(wire(head), { limits: { maxMessageSize: 100, maxHeaders: 256 } }), (e: unknown) => e instanceof SipParseError && e.status === 513);
  });
});

describe('SipParseError', () => {
  test('carries code, status, field and a one-line reason phrase', () => {
    const e = new SipParseError('SIP_ERR_CSEQ', 400, 'CSeq', 'bad\r\nthing');
    assert.equal(e.name, 'SipParseError');
    assert.equal(e.reasonPhrase, 'bad thing');
    assert.ok(e instanceof Error);
  });
});

describe('header recognition', () => {
  test('names that only resemble routing headers are not routing headers', () => {
    const m = parseMessage(wire([
      'OPTIONS sip:bob@example.com SIP/2.0',
      'Vib: SIP/2.0/UDP wrong.example.com;branch=z9hG4bKwrong',
      'Call_ID: wrong',
      'Contacx: <sip:wrong@example.com>',
      'Max_Forwards: 1',
      'Content-Lengtx: 99',
      ...baseHeaders('OPTIONS'),
      'CONTACT: <sip:right@example.com>',
      'content-LENGTH: 0',
    ]));
    assert.equal(m.topVia.host, 'pc33.example.com');
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.com');
    assert.equal(m.maxForwards, 70);
    assert.equal(m.contact[0]!.uriText, 'sip:right@example.com');
    assert.equal(m.header('vib'), 'SIP/2.0/UDP wrong.example.com;branch=z9hG4bKwrong');
    assert.equal(m.header('CALL_id'), 'wrong');
    assert.equal(m.header('Content-Lengtx'), '99');
    assert.equal(m.countHeader('Contact'), 1);
    assert.equal(m.countHeader('m'), 1);
  });

  test('compact forms fill the routing slots and answer lookups by any name', () => {
    const m = parseMessage(wire([
      'INVITE sip:bob@example.com SIP/2.0',
      'v: SIP/2.0/TCP a.example.com;branch=z9hG4bKc1',
      'V: SIP/2.0/TCP b.example.com;branch=z9hG4bKc2',
      'f: <sip:alice@example.com>;tag=ft',
      't: <sip:bob@example.com>',
      'i: compact-id',
      'CSEQ: 7 INVITE',
      'm: <sip:alice@a.example.com>',
      'X-Custom: hello',
      'l: 0',
    ]));
    assert.equal(m.topVia.branch, 'z9hG4bKc1');
    assert.equal(m.via.length, 2);
    assert.equal(m.from.tag, 'ft');
    assert.equal(m.callId, 'compact-id');
    assert.equal(m.cseq.seq, 7);
    assert.equal(m.contact[0]!.uriText, 'sip:alice@a.example.com');
    assert.equal(m.header('Call-ID'), 'compact-id');
    assert.equal(m.header('VIA'), 'SIP/2.0/TCP a.example.com;branch=z9hG4bKc1');
    assert.deepEqual(m.headers('via'), ['SIP/2.0/TCP a.example.com;branch=z9hG4bKc1', 'SIP/2.0/TCP b.example.com;branch=z9hG4bKc2']);
    assert.equal(m.header('x-custom'), 'hello');
    assert.equal(m.header('Content-Length'), '0');
    assert.equal(m.hasHeader('X-Other'), false);
  });

  test('folded values are unfolded whichever header they belong to', () => {
    const m = parseMessage(wire([
      'OPTIONS sip:bob@example.com SIP/2.0',
      ...baseHeaders('OPTIONS'),
      'Subject: one',
      '  two',
      'Contact:',
      ' <sip:alice@example.com>',
      'Content-Length: 0',
    ]));
    assert.equal(m.header('Subject'), 'one two');
    assert.equal(m.header('s'), 'one two');
    assert.equal(m.contact[0]!.uriText, 'sip:alice@example.com');
    assert.equal(m.header('To'), 'Bob <sip:bob@example.com>');
  });

  test('routing slots and the header lines indexed on lookup agree on unusual spellings', () => {
    // Blanks before the colon, a routing value only on its continuation line, a second Via
    // folded, a compact form with blanks: the scanner's slots and the lazily built line index
    // (indexHeaderLines) must give the same values.
    const m = parseMessage(wire([
      'OPTIONS sip:bob@example.com SIP/2.0',
      'Via \t: SIP/2.0/UDP a.example.com;branch=z9hG4bKs1',
      'VIA: SIP/2.0/UDP b.example.com',
      '  ;branch=z9hG4bKs2',
      'Max-Forwards  :70',
      'To: Bob <sip:bob@example.com>',
      'f : "Alice" <sip:alice@example.com>;tag=77',
      'Call-ID:',
      '   folded-id@example.com',
      'X-Empty:',
      'CSeq:1 OPTIONS  ',
      'Content-Length : 0',
    ])) as SipRequest;
    assert.equal(m.topVia.branch, 'z9hG4bKs1');
    assert.equal(m.maxForwards, 70);
    assert.equal(m.from.tag, '77');
    assert.equal(m.callId, 'folded-id@example.com');
    assert.deepEqual(m.cseq, { seq: 1, method: 'OPTIONS' });
    assert.equal(m.headerCount, 9);
    assert.deepEqual(m.headerLines(), [
      ['Via', 'SIP/2.0/UDP a.example.com;branch=z9hG4bKs1'],
      ['VIA', 'SIP/2.0/UDP b.example.com ;branch=z9hG4bKs2'],
      ['Max-Forwards', '70'],
      ['To', 'Bob <sip:bob@example.com>'],
      ['f', '"Alice" <sip:alice@example.com>;tag=77'],
      ['Call-ID', 'folded-id@example.com'],
      ['X-Empty', ''],
      ['CSeq', '1 OPTIONS'],
      ['Content-Length', '0'],
    ]);
    assert.deepEqual(m.via.map((v) => v.branch), ['z9hG4bKs1', 'z9hG4bKs2']);
    assert.equal(m.header('from'), '"Alice" <sip:alice@example.com>;tag=77');
    m.validate();
  });

  test('a message over 4 KiB is scanned up to its empty line', () => {
    const body = 'x'.repeat(6000) + '\r\n\r\nNot: a header\r\n';
    const m = req('MESSAGE', 'sip:bob@example.com', ['X-Big: ' + 'y'.repeat(100)], body);
    assert.equal(m.header('X-Big'), 'y'.repeat(100));
    assert.equal(m.header('Not'), undefined);
    assert.equal(m.body.toString(), body);
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.com');
    const bare = Buffer.from(`MESSAGE sip:bob@example.com SIP/2.0\n${baseHeaders('MESSAGE').join('\n')}\nContent-Length: ${body.length}\n\n${body}`);
    const n = parseMessage(bare);
    assert.equal(n.body.toString(), body);
    assert.equal(n.cseq.method, 'MESSAGE');
  });
});

test('compact() drops every decoded value and the next access decodes the same values again', () => {
  const m = req('INVITE', 'sip:bob@example.com', ['Contact: <sip:alice@192.0.2.1>', 'Route: <sip:p1.example.com;lr>', 'X-Extra: kept']);
  const before = { from: m.from, to: m.to, via: m.topVia, uri: m.uri, contact: m.contact, route: m.route };
  const values = () => [m.from.tag, m.to.uri.toString(), m.topVia.branch, m.uri.toString(), m.contact[0]!.uriText, m.route[0]!.uriText, m.callId, m.cseq.seq, m.header('X-Extra'), m.headerCount];
  const expected = values();
  m.compact();
  assert.notEqual(m.from, before.from, 'From decoded again, not the cached object');
  assert.notEqual(m.to, before.to);
  assert.notEqual(m.topVia, before.via);
  assert.notEqual(m.uri, before.uri);
  assert.notEqual(m.contact, before.contact);
  assert.notEqual(m.route, before.route);
  assert.deepEqual(values(), expected);
});

describe('scanner: lines other than the routing headers', () => {
  // The scanner works out the value of a non-routing line only when a continuation line
  // follows it (RFC 3261 §7.3.1); these pin the results and the errors of those paths.
  const start = 'OPTIONS sip:bob@example.com SIP/2.0';

  test('continuations after empty, blank-only and LF-ended values', () => {
    const m = parseMessage(Buffer.from([
      start, ...baseHeaders('OPTIONS'),
      'X-Blank: \t', ' \tlater',
      'X-Plain:one ', '\ttwo',
      'Subject :', ' s1', '  s2',
      'Contact: <sip:a@example.com>', ' ;expires=5',
      'Content-Length: 0',
    ].join('\n') + '\n\n'));
    assert.deepEqual(m.headerLines().slice(6), [
      ['X-Blank', 'later'], ['X-Plain', 'one two'], ['Subject', 's1 s2'],
      ['Contact', '<sip:a@example.com> ;expires=5'], ['Content-Length', '0'],
    ]);
    assert.equal(m.contact[0]!.uriText, 'sip:a@example.com');
    assert.equal(m.contact[0]!.param('expires'), '5');
    assert.equal(m.callId, 'a84b4c76e66710@pc33.example.com');
  });

  test('bad names still fail with the same error, also on a last line without a line break', () => {
    const lines = (...extra: string[]) => [start, ...baseHeaders('OPTIONS'), ...extra];
    parseErr(wire(lines('X-Bad@: v', 'Content-Length: 0')), 400, 'SIP_ERR_HEADER_LINE');
    parseErr(wire(lines(': v', 'Content-Length: 0')), 400, 'SIP_ERR_HEADER_LINE');
    parseErr(wire(lines('\rX: v', 'Content-Length: 0')), 400, 'SIP_ERR_HEADER_LINE');
    parseErr(wire(lines('\x01X: v', 'Content-Length: 0')), 400, 'SIP_ERR_HEADER_LINE');
    for (const last of ['X-Last', 'X-Last\r', 'X-Last  ']) {
      assert.throws(() => parseMessage(Buffer.from(lines(last).join(CRLF))), (e: unknown) =>
        e instanceof SipParseError && e.code === 'SIP_ERR_HEADER_LINE' && e.message === "Header line without a colon: 'X-Last'");
    }
    const m = parseMessage(Buffer.from(lines('X-Last :').join(CRLF)));
    assert.equal(m.header('X-Last'), '');
  });
});

describe('byte fast paths of the routing values', () => {
  const withVia = (via: string, cseq = 'CSeq: 1 OPTIONS') => parseMessage(wire([
    'OPTIONS sip:bob@example.com SIP/2.0', `Via: ${via}`, 'Max-Forwards: 70', 'To: <sip:bob@example.com>',
    'From: <sip:alice@example.com>;tag=1', 'Call-ID: x@y', cseq, 'Content-Length: 0',
  ]));

  test('Via transport tokens in any case come out upper-cased, others as the slow path gives them', () => {
    // RFC 3261 §20.42: the transport is a token, compared case-insensitively.
    const cases: Array<[string, string]> = [
      ['udp', 'UDP'], ['Tcp', 'TCP'], ['tLs', 'TLS'], ['sctp', 'SCTP'], ['ws', 'WS'], ['Wss', 'WSS'],
      ['TCX', 'TCX'], ['TLX', 'TLX'], ['UDX', 'UDX'], ['WSX', 'WSX'], ['WX', 'WX'], ['SCTX', 'SCTX'], ['DTLS', 'DTLS'],
    ];
    for (const [written, expected] of cases) {
      const v = withVia(`SIP/2.0/${written} host.example.com;branch=z9hG4bKt`).topVia;
      assert.equal(v.transport, expected, written);
      assert.equal(v.branch, 'z9hG4bKt');
    }
  });

  test('CSeq methods: known ones interned, others (case, longer, extension) decoded as written', () => {
    assert.equal(withVia('SIP/2.0/UDP h;branch=z9hG4bKc', 'CSeq: 7 INVITE').cseq.method, 'INVITE');
    assert.equal(withVia('SIP/2.0/UDP h;branch=z9hG4bKc', 'CSeq: 7 invite').cseq.method, 'invite');
    assert.equal(withVia('SIP/2.0/UDP h;branch=z9hG4bKc', 'CSeq: 7 INVITEX').cseq.method, 'INVITEX');
    assert.equal(withVia('SIP/2.0/UDP h;branch=z9hG4bKc', 'CSeq: 7 \tFOO').cseq.method, 'FOO');
    assert.equal(withVia('SIP/2.0/UDP h;branch=z9hG4bKc', 'CSeq: 7 REGISTER').cseq.seq, 7);
    assert.throws(() => withVia('SIP/2.0/UDP h;branch=z9hG4bKc', 'CSeq: 7 INV@TE').cseq, SipParseError);
  });
});
