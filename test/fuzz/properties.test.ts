/**
 * Property tests (fast-check) of the syntax layer:
 *  1. build ∘ parse: a request or response built with src/sip/message/build.ts from generated
 *     valid header values parses back to the same fields;
 *  2. the same message written by hand in the other legal spellings (compact names, LWS
 *     around the colon and inside sent-protocol, folded lines, LF line ends) reads the same;
 *  3. serialise ∘ parse: a parsed message written out again (toBuffer, an edit list with and
 *     without edits) parses to the same values;
 *  4. the lazy accessors give the same result (value or SipParseError) whatever the order
 *     they are read in, after compact(), and as the string parsers applied to the header
 *     text — on valid messages and on messages with a corrupted header value.
 *
 * Bounded for CI: NUM_RUNS per property (FUZZ_PROPS_RUNS to change it), a fixed seed
 * (FUZZ_PROPS_SEED to change it; fast-check prints the seed and the shrunk counterexample).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SipParseError } from '../../src/sip/errors.js';
import { parseMessage } from '../../src/sip/parse/parse-message.js';
import { buildRequest, buildResponseFrom, type HeaderList } from '../../src/sip/message/build.js';
import { EditList } from '../../src/sip/edit/edit-list.js';
import type { SipRequest } from '../../src/sip/message/sip-request.js';
import type { SipResponse } from '../../src/sip/message/sip-response.js';
import { type NameAddr, parseNameAddr, parseNameAddrList } from '../../src/sip/headers/name-addr.js';
import { type Via, parseVia, parseViaList } from '../../src/sip/headers/via.js';
import { parseCSeq } from '../../src/sip/headers/cseq.js';
import { quote, splitOutsideQuotes } from '../../src/sip/headers/params.js';

const NUM_RUNS = Number(process.env.FUZZ_PROPS_RUNS ?? 1000);
const SEED = Number(process.env.FUZZ_PROPS_SEED ?? 0x51b0a4d);
const params = (): fc.Parameters<unknown> => ({ numRuns: NUM_RUNS, seed: SEED, endOnFailure: false });

type Msg = SipRequest | SipResponse;

// ---- generators of valid values (RFC 3261 §25.1) ---------------------------------------------

const token = fc.stringMatching(/^[A-Za-z0-9\-.!%*_+`'~]{1,12}$/);
const lowerToken = fc.stringMatching(/^[a-z0-9\-.!%*_+`'~]{1,10}$/);
const hostname = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((a) => `[${a}]`), fc.constantFrom('localhost', 'example.com', 'h_1.example.net'));
const port = fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined });
/** user = 1*( unreserved / escaped / user-unreserved ) */
const user = fc
  .array(fc.oneof(fc.stringMatching(/^[A-Za-z0-9\-_.!~*'()&=+$,;?/]$/), fc.integer({ min: 0, max: 255 }).map((b) => '%' + b.toString(16).padStart(2, '0').toUpperCase())), { minLength: 1, maxLength: 10 })
  .map((a) => a.join(''));
/** A quoted-string value as written (quotes and escapes included). */
const quotedValue = fc.string({ maxLength: 12 }).filter((s) => !/[\r\n\0]/.test(s)).map(quote);
const paramValue = fc.oneof(token, fc.ipV4(), quotedValue);

interface ParamSpec {
  name: string;
  value: string | null;
}
const paramList = (value: fc.Arbitrary<string>, max = 3) =>
  fc.array(fc.record({ name: lowerToken, value: fc.option(value, { nil: null }) }), { maxLength: max });
const formatParamList = (ps: ParamSpec[]) => ps.map((p) => (p.value === null ? `;${p.name}` : `;${p.name}=${p.value}`)).join('');
/** The Map a parameter list reads as: names lower-cased, the last value of a repeated name in the first one's place. */
const expectedParams = (ps: ParamSpec[]) => {
  const m = new Map<string, string | null>();
  for (const p of ps) m.set(p.name.toLowerCase(), p.value);
  return [...m];
};

interface UriSpec {
  scheme: 'sip' | 'sips';
  user: string | undefined;
  host: string;
  port: number | undefined;
  params: ParamSpec[];
}
const sipUri: fc.Arbitrary<UriSpec> = fc.record({
  scheme: fc.constantFrom('sip' as const, 'sips' as const),
  user: fc.option(user, { nil: undefined }),
  host: hostname,
  port,
  // Unique names: a URI reads its parameters into a Map, so a repeated one is written once by toString().
  params: fc.uniqueArray(fc.record({ name: lowerToken, value: fc.option(fc.oneof(token, fc.ipV4()), { nil: null }) }), { maxLength: 2, selector: (p) => p.name }),
});
const formatUri = (u: UriSpec) => `${u.scheme}:${u.user !== undefined ? `${u.user}@` : ''}${u.host}${u.port !== undefined ? `:${u.port}` : ''}${formatParamList(u.params)}`;

interface NameAddrSpec {
  display: { kind: 'none' } | { kind: 'token'; words: string[] } | { kind: 'quoted'; text: string };
  uri: UriSpec;
  params: ParamSpec[];
  /** Written without <> (only when the URI has no ';', ',' or '?' and there is no display name). */
  addrSpec: boolean;
}
const display = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('token' as const), words: fc.array(token, { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('quoted' as const), text: fc.oneof(fc.string({ maxLength: 16 }), fc.constantFrom('Alice "A" \\ B', 'Zoë', '日本語', '')).filter((s) => !/[\r\n\0]/.test(s)) }),
);
const nameAddr = (tagged: boolean): fc.Arbitrary<NameAddrSpec> =>
  fc
    .record({
      display,
      uri: sipUri,
      params: paramList(paramValue, 2),
      tag: tagged ? token.map((t) => t as string | undefined) : fc.option(token, { nil: undefined }),
      addrSpec: fc.boolean(),
    })
    .map(({ display: d, uri, params: ps, tag, addrSpec }) => ({
      display: d,
      uri,
      params: tag === undefined ? ps.filter((p) => p.name !== 'tag') : [...ps.filter((p) => p.name !== 'tag'), { name: 'tag', value: tag }],
      addrSpec: addrSpec && d.kind === 'none' && !/[;,?]/.test(formatUri(uri)),
    }));
function formatNameAddr(n: NameAddrSpec): string {
  const dn = n.display.kind === 'token' ? `${n.display.words.join(' ')} ` : n.display.kind === 'quoted' ? `${quote(n.display.text)} ` : '';
  return n.addrSpec ? `${formatUri(n.uri)}${formatParamList(n.params)}` : `${dn}<${formatUri(n.uri)}>${formatParamList(n.params)}`;
}
const expectedNameAddr = (n: NameAddrSpec) => ({
  displayName: n.display.kind === 'token' ? n.display.words.join(' ') : n.display.kind === 'quoted' ? n.display.text : undefined,
  uri: formatUri(n.uri),
  params: expectedParams(n.params),
  tag: n.params.find((p) => p.name === 'tag')?.value ?? undefined,
});

interface ViaSpec {
  transport: string;
  host: string;
  port: number | undefined;
  params: ParamSpec[];
}
const viaSpec: fc.Arbitrary<ViaSpec> = fc.record({
  transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS', 'udp', 'Tcp'),
  host: hostname,
  port,
  branch: token.map((t) => `z9hG4bK${t}`),
  received: fc.option(fc.oneof(fc.ipV4(), fc.ipV6()), { nil: undefined }),
  rport: fc.option(fc.option(fc.integer({ min: 1, max: 65535 }).map(String), { nil: null }), { nil: undefined }),
  extra: paramList(fc.oneof(token, quotedValue), 2),
}).map(({ transport, host, port: p, branch, received, rport, extra }) => {
  const ps: ParamSpec[] = [{ name: 'branch', value: branch }];
  if (received !== undefined) ps.push({ name: 'received', value: received });
  if (rport !== undefined) ps.push({ name: 'rport', value: rport });
  for (const e of extra) if (!['branch', 'received', 'rport', 'maddr', 'ttl'].includes(e.name)) ps.push(e);
  return { transport, host, port: p, params: ps };
});
const formatVia = (v: ViaSpec, lws = false) =>
  `${lws ? 'SIP / 2.0 / ' : 'SIP/2.0/'}${v.transport} ${v.host}${v.port !== undefined ? `:${v.port}` : ''}${formatParamList(v.params)}`;

/** Call-ID = word [ "@" word ] */
const word = fc.stringMatching(/^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]{1,16}$/);
const callId = fc.tuple(word, fc.option(word, { nil: undefined })).map(([a, b]) => (b === undefined ? a : `${a}@${b}`));
const method = fc.oneof(fc.constantFrom('INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'SUBSCRIBE', 'NOTIFY', 'MESSAGE', 'PRACK', 'UPDATE', 'INFO', 'REFER', 'PUBLISH'), token.filter((t) => /^[A-Za-z]/.test(t)));
const text = fc.string({ maxLength: 30 }).map((s) => s.replace(/[\r\n\0]/g, ' ').trim()).filter((s) => s.length > 0);

interface MessageSpec {
  request: boolean;
  method: string;
  uri: UriSpec;
  status: number;
  reason: string;
  /** Via values, grouped into header lines. */
  viaLines: ViaSpec[][];
  from: NameAddrSpec;
  to: NameAddrSpec;
  callId: string;
  seq: number;
  cseqMethod: string;
  maxForwards: number | undefined;
  contact: NameAddrSpec[] | '*';
  route: NameAddrSpec[];
  recordRoute: NameAddrSpec[];
  subject: string | undefined;
  extra: Array<[string, string]>;
  body: Buffer;
}

const messageSpec: fc.Arbitrary<MessageSpec> = fc
  .record({
    request: fc.boolean(),
    method,
    uri: sipUri.map((u) => ({ ...u, params: u.params.filter((p) => p.name !== 'method') })),
    status: fc.integer({ min: 100, max: 699 }),
    reason: fc.oneof(text, fc.constantFrom('OK', 'Ringing', 'Not Found')),
    viaLines: fc.array(fc.array(viaSpec, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
    from: nameAddr(true),
    to: nameAddr(false),
    callId,
    seq: fc.integer({ min: 0, max: 0x7fffffff }), // RFC 3261 §8.1.1.5: below 2**31
    cseqMethod: method,
    maxForwards: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    contact: fc.oneof({ weight: 4, arbitrary: fc.array(nameAddr(false), { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constant('*' as const) }),
    route: fc.array(nameAddr(false), { maxLength: 3 }),
    recordRoute: fc.array(nameAddr(false), { maxLength: 2 }),
    subject: fc.option(fc.oneof(text, fc.constantFrom('Zoë ☎ 日本', 'a, b; "c"')), { nil: undefined }),
    extra: fc.uniqueArray(fc.tuple(token.map((t) => `X-${t}`), fc.oneof(token, text)), { maxLength: 3, selector: ([n]) => n.toLowerCase() }),
    body: fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a))),
  })
  .map((s) => ({ ...s, cseqMethod: s.request ? s.method : s.cseqMethod }));

/** The header list of a spec, as build.ts takes it. */
function headerList(s: MessageSpec): HeaderList {
  const h: HeaderList = [];
  for (const line of s.viaLines) h.push(['Via', line.map((v) => formatVia(v)).join(', ')]);
  if (s.maxForwards !== undefined) h.push(['Max-Forwards', String(s.maxForwards)]);
  h.push(['From', formatNameAddr(s.from)], ['To', formatNameAddr(s.to)], ['Call-ID', s.callId], ['CSeq', `${s.seq} ${s.cseqMethod}`]);
  if (s.contact === '*') h.push(['Contact', '*']);
  else if (s.contact.length > 0) h.push(['Contact', s.contact.map(formatNameAddr).join(', ')]);
  for (const r of s.route) h.push(['Route', formatNameAddr(r)]);
  if (s.recordRoute.length > 0) h.push(['Record-Route', s.recordRoute.map(formatNameAddr).join(',')]);
  if (s.subject !== undefined) h.push(['Subject', s.subject]);
  h.push(...s.extra);
  if (s.body.length > 0) h.push(['Content-Type', 'application/octet-stream']);
  return h;
}

function build(s: MessageSpec): Msg {
  return s.request
    ? buildRequest({ method: s.method, uri: formatUri(s.uri), headers: headerList(s), body: s.body })
    : buildResponseFrom({ status: s.status, reason: s.reason, headers: headerList(s), body: s.body });
}

// ---- what a message reads as ----------------------------------------------------------------

const viaShape = (v: Via) => [v.protocol, v.transport, v.host, v.port ?? null, [...v.params], v.branch ?? null, v.rport ?? null, v.received ?? null, v.sentBy];
const nameAddrShape = (a: NameAddr) => [a.star, a.displayName ?? null, a.uriText, [...a.params], a.tag ?? null];

/** Every lazy reading of a message, by name. */
const READERS: Array<[string, (m: Msg) => unknown]> = [
  ['topVia', (m) => viaShape(m.topVia)],
  ['via', (m) => m.via.map(viaShape)],
  ['viaValues', (m) => m.viaValues()],
  ['from', (m) => nameAddrShape(m.from)],
  ['from.uri', (m) => m.from.uri.toString()],
  ['to', (m) => nameAddrShape(m.to)],
  ['to.uri', (m) => m.to.uri.toString()],
  ['callId', (m) => m.callId],
  ['cseq', (m) => [m.cseq.seq, m.cseq.method]],
  ['maxForwards', (m) => m.maxForwards ?? null],
  ['contact', (m) => m.contact.map(nameAddrShape)],
  ['contact.uri', (m) => m.contact.map((c) => (c.star ? '*' : c.uri.toString()))],
  ['route', (m) => m.route.map(nameAddrShape)],
  ['recordRoute', (m) => m.recordRoute.map(nameAddrShape)],
  ['headerLines', (m) => m.headerLines()],
  ['headerCount', (m) => m.headerCount],
  ['subject', (m) => m.header('Subject') ?? null],
  ['body', (m) => m.body.toString('hex')],
  ['contentType', (m) => m.contentType ?? null],
  ['validate', (m) => (m.validate(), 'ok')],
  ['start', (m) => (m.kind === 'request' ? [m.method, m.uriText] : [m.status, m.reason])],
  ['requestUri', (m) => (m.kind === 'request' ? m.uri.toString() : null)],
];

/** A reading's value in comparable form, or the SipParseError it threw (anything else escapes). */
function outcome(fn: () => unknown): string {
  try {
    return JSON.stringify(fn());
  } catch (e) {
    if (e instanceof SipParseError) return `SipParseError ${e.code} (${e.field})`;
    throw e;
  }
}

function readAll(m: Msg, order: number[] = READERS.map((_, i) => i)): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of order) {
    const [name, fn] = READERS[i]!;
    out[name] = outcome(() => fn(m));
  }
  // Fixed key order, so two snapshots taken in different orders compare equal.
  return Object.fromEntries(READERS.map(([name]) => [name, out[name]!]));
}

function assertReadsAsSpec(m: Msg, s: MessageSpec, lwsVia = false): void {
  assert.equal(m.kind, s.request ? 'request' : 'response');
  if (m.kind === 'request') {
    assert.equal(m.method, s.method);
    assert.equal(m.uri.toString(), formatUri(s.uri));
  } else {
    assert.equal(m.status, s.status);
    assert.equal(m.reason, s.reason);
  }
  const vias = s.viaLines.flat();
  assert.deepEqual(m.via.map((v) => [v.transport, v.host, v.port, [...v.params]]), vias.map((v) => [v.transport.toUpperCase(), v.host, v.port, expectedParams(v.params)]));
  // The top Via by its own reader (the byte-level fast path), not only through the list.
  const top = vias[0]!;
  assert.deepEqual([m.topVia.transport, m.topVia.host, m.topVia.port, [...m.topVia.params], m.topVia.branch], [top.transport.toUpperCase(), top.host, top.port, expectedParams(top.params), top.params[0]!.value]);
  assert.deepEqual(m.viaValues(), vias.map((v) => formatVia(v, lwsVia)));
  for (const [got, want] of [[m.from, s.from], [m.to, s.to]] as const) {
    assert.deepEqual({ displayName: got.displayName, uri: got.uri.toString(), params: [...got.params], tag: got.tag }, expectedNameAddr(want));
  }
  assert.equal(m.callId, s.callId);
  assert.deepEqual({ ...m.cseq }, { seq: s.seq, method: s.cseqMethod });
  assert.equal(m.maxForwards, s.maxForwards);
  if (s.contact === '*') assert.deepEqual(m.contact.map((c) => c.star), [true]);
  else assert.deepEqual(m.contact.map((c) => ({ displayName: c.displayName, uri: c.uri.toString(), params: [...c.params], tag: c.tag })), s.contact.map(expectedNameAddr));
  assert.deepEqual(m.route.map((r) => r.uri.toString()), s.route.map((r) => formatUri(r.uri)));
  assert.deepEqual(m.recordRoute.map((r) => [r.uriText, [...r.params]]), s.recordRoute.map((r) => [formatUri(r.uri), expectedParams(r.params)]));
  assert.equal(m.header('Subject'), s.subject);
  for (const [name, value] of s.extra) assert.equal(m.header(name), value);
  assert.ok(m.body.equals(s.body), 'body');
  assert.equal(m.contentType, s.body.length > 0 ? 'application/octet-stream' : undefined);
  m.validate();
}

// ---- 1. build ∘ parse ---------------------------------------------------------------------------

test('build then parse: every field reads back as generated', () => {
  fc.assert(
    fc.property(messageSpec, (s) => {
      const m = build(s);
      assertReadsAsSpec(m, s);
      // The header lines are the ones given, in order, then Content-Length.
      assert.deepEqual(m.headerLines(), [...headerList(s), ['Content-Length', String(s.body.length)]]);
    }),
    params(),
  );
});

// ---- 2. the other legal spellings --------------------------------------------------------------

const COMPACT: Record<string, string> = { Via: 'v', From: 'f', To: 't', 'Call-ID': 'i', Contact: 'm', Subject: 's', 'Content-Type': 'c', 'Content-Length': 'l' };

interface Spelling {
  compact: boolean[];
  colon: string[];
  eol: '\r\n' | '\n';
  /** Fold list headers after their commas (RFC 3261 §7.3.1). */
  fold: boolean;
  lwsVia: boolean;
  upperNames: boolean;
}
const spelling: fc.Arbitrary<Spelling> = fc.record({
  compact: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
  colon: fc.array(fc.constantFrom(': ', ':', ' : ', '\t:\t', ':  '), { minLength: 40, maxLength: 40 }),
  eol: fc.constantFrom('\r\n' as const, '\n' as const),
  fold: fc.boolean(),
  lwsVia: fc.boolean(),
  upperNames: fc.boolean(),
});

function writeByHand(s: MessageSpec, w: Spelling): Buffer {
  const eol = w.eol;
  const lines: string[] = [s.request ? `${s.method} ${formatUri(s.uri)} SIP/2.0` : `SIP/2.0 ${s.status} ${s.reason}`];
  const sep = w.fold ? `,${eol} ` : ', ';
  const list: HeaderList = [];
  for (const line of s.viaLines) list.push(['Via', line.map((v) => formatVia(v, w.lwsVia)).join(sep)]);
  for (const [name, value] of headerList(s)) {
    if (name === 'Via') continue;
    list.push([name, name === 'Contact' || name === 'Record-Route' ? value.replace(/>, </g, `>${sep}<`) : value]);
  }
  list.push(['Content-Length', String(s.body.length)]);
  list.forEach(([name, value], i) => {
    let n = w.compact[i % 40] && COMPACT[name] ? COMPACT[name]! : name;
    if (w.upperNames) n = n.toUpperCase();
    lines.push(`${n}${w.colon[i % 40]}${value}`);
  });
  return Buffer.concat([Buffer.from(lines.join(eol) + eol + eol, 'utf8'), s.body]);
}

test('compact names, LWS around colons and slashes, folded lists and LF line ends read the same', () => {
  fc.assert(
    fc.property(messageSpec, spelling, (s, w) => {
      const m = parseMessage(writeByHand(s, w));
      assertReadsAsSpec(m, s, w.lwsVia);
      // Every reading but the ones that return text as written equals the built message's.
      const spelled = readAll(m);
      const built = readAll(build(s));
      for (const key of ['headerLines', 'viaValues']) delete spelled[key], delete built[key];
      assert.deepEqual(spelled, built);
    }),
    params(),
  );
});

// ---- 3. serialise ∘ parse ---------------------------------------------------------------------

/** A valid message, or one with a corrupted header value (a byte a header may not hold where it is). */
const CORRUPTIONS = ['"', ';', ',', ';;', '=', '<', '>', '\\', ';x="open', '%', '[', ']', ':', '@', ' ', '\t', '', ',,', '\u00e9'];
const maybeCorrupt = fc.tuple(messageSpec, spelling, fc.option(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...CORRUPTIONS)), { nil: undefined })).map(([s, w, c]) => {
  const bytes = writeByHand(s, w);
  if (c === undefined) return bytes;
  const text = bytes.toString('utf8');
  const headEnd = text.indexOf(w.eol + w.eol);
  const lineStarts = [...text.slice(0, headEnd).matchAll(new RegExp(w.eol, 'g'))].map((x) => x.index! + w.eol.length);
  const ls = lineStarts[c[0] % lineStarts.length]!;
  const le = text.indexOf(w.eol, ls);
  const colon = text.indexOf(':', ls);
  const at = colon + 1 + (c[1] % Math.max(1, le - colon));
  return Buffer.from(text.slice(0, at) + c[2] + text.slice(at), 'utf8');
});

test('serialise a parsed message (toBuffer, edit list) and parse again: same values', () => {
  fc.assert(
    fc.property(messageSpec, spelling, fc.array(fc.tuple(fc.constantFrom('delete', 'replace', 'prepend', 'append'), fc.nat(), fc.tuple(token.map((t) => `X-${t}`), token)), { maxLength: 4 }), (s, w, edits) => {
      const m = parseMessage(writeByHand(s, w));
      const before = readAll(m);
      assert.deepEqual(readAll(parseMessage(m.toBuffer())), before, 'toBuffer');
      assert.deepEqual(readAll(parseMessage(new EditList(m).toBuffer())), before, 'an edit list without edits');
      // Edits of lines that are not routing headers: the routing readings stay, the lines change as edited.
      const e = new EditList(m);
      const lines = m.headerLines();
      const expected: Array<[string, string] | undefined> = lines.map((l) => [...l] as [string, string]);
      const prepended: Array<[string, string]> = [];
      const appended: Array<[string, string]> = [];
      for (const [op, n, [name, value]] of edits) {
        const extra = lines.map((l, j) => [l[0], j] as const).filter(([name0]) => /^X-/i.test(name0));
        if (op === 'prepend') {
          e.prependHeader(name, value);
          prepended.push([name, value]);
        } else if (op === 'append') {
          e.appendHeader(name, value);
          appended.push([name, value]);
        } else if (extra.length > 0) {
          const j = extra[n % extra.length]![1];
          if (op === 'delete') {
            e.deleteLine(j);
            expected[j] = undefined;
          } else {
            e.replaceLine(j, name, value);
            expected[j] = [name, value];
          }
        }
      }
      const edited = parseMessage(e.toBuffer());
      const want = [...prepended, ...expected.filter((l) => l !== undefined), ...appended];
      assert.deepEqual(edited.headerLines(), want);
      const after = readAll(edited);
      for (const key of ['topVia', 'via', 'from', 'to', 'callId', 'cseq', 'maxForwards', 'contact', 'route', 'recordRoute', 'body', 'validate', 'start']) {
        assert.equal(after[key], before[key], key);
      }
    }),
    params(),
  );
});

// ---- 4. the lazy accessors ------------------------------------------------------------------

test('lazy accessors: the same result in any order, after compact(), on valid and corrupted messages', () => {
  fc.assert(
    fc.property(maybeCorrupt, fc.array(fc.nat(), { minLength: READERS.length, maxLength: READERS.length }), (bytes, keys) => {
      let canonical: Record<string, string>;
      try {
        canonical = readAll(parseMessage(bytes));
      } catch (e) {
        if (e instanceof SipParseError) return; // not a message at all
        throw e;
      }
      // A permutation of the readers from the generated keys.
      const order = READERS.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]! || a - b);
      const m = parseMessage(bytes);
      assert.deepEqual(readAll(m, order), canonical, `order ${order.map((i) => READERS[i]![0]).join(', ')}`);
      m.compact();
      assert.deepEqual(readAll(m, [...order].reverse()), canonical, 'after compact()');
      m.compact();
      assert.deepEqual(readAll(m), canonical, 'after a second compact()');
    }),
    params(),
  );
});

test('lazy accessors agree with the string parsers applied to the header text', () => {
  fc.assert(
    fc.property(maybeCorrupt, (bytes) => {
      let m: Msg;
      try {
        m = parseMessage(bytes);
      } catch (e) {
        if (e instanceof SipParseError) return;
        throw e;
      }
      const text = (name: string) => {
        const v = m.header(name);
        if (v === undefined) throw new SipParseError('SIP_ERR_MISSING_HEADER', 400, name, `Missing ${name} header`);
        return v;
      };
      const fresh = parseMessage(bytes);
      const pairs: Array<[string, string, string]> = [
        ['via', outcome(() => fresh.via.map(viaShape)), outcome(() => parseViaList(m.headers('Via')).map(viaShape))],
        ['from', outcome(() => nameAddrShape(fresh.from)), outcome(() => nameAddrShape(parseNameAddr(text('From'), 'From')))],
        ['to', outcome(() => nameAddrShape(fresh.to)), outcome(() => nameAddrShape(parseNameAddr(text('To'), 'To')))],
        ['contact', outcome(() => fresh.contact.map(nameAddrShape)), outcome(() => parseNameAddrList(m.headers('Contact'), 'Contact').map(nameAddrShape))],
        ['route', outcome(() => fresh.route.map(nameAddrShape)), outcome(() => parseNameAddrList(m.headers('Route'), 'Route').map(nameAddrShape))],
        ['cseq', outcome(() => ({ ...fresh.cseq })), outcome(() => ({ ...parseCSeq(text('CSeq')) }))],
      ];
      // The top Via: the first value of the first line; an empty one is the message's own error.
      const top = outcome(() => viaShape(fresh.topVia));
      if (!top.startsWith('SipParseError')) pairs.push(['topVia', top, outcome(() => viaShape(parseVia(splitOutsideQuotes(text('Via'), ',')[0]!)))]);
      const id = outcome(() => fresh.callId);
      if (!id.startsWith('SipParseError')) pairs.push(['callId', id, outcome(() => text('Call-ID').trim())]);
      for (const [field, got, want] of pairs) assert.equal(got, want, field);
    }),
    params(),
  );
});
