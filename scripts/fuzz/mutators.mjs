// Mutators of scripts/fuzz/coverage-fuzz.mjs: byte-level ones (libFuzzer's classics) and
// SIP-aware ones that work on the header lines of a message (RFC 3261 §7). Every mutator takes
// the input as a latin1 string (one char per byte, so any bytes survive) and returns a new one.

/** mulberry32: small, seeded, deterministic. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING_BYTES = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x25, 0x2c, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xc3, 0xff];

/** Numbers at the edges of what the parsers accept (CSeq 2^32-1, Max-Forwards 255, ports 65535 …). */
const NUMBERS = [
  '0', '1', '-1', '00', '007', '255', '256', '65535', '65536', '70', '2147483647', '2147483648', '4294967295', '4294967296',
  '9007199254740993', '99999999999999999999', '1e3', '0x10', '1.5', '+1', ' 1', '1 ', '', '١',
];

/** Pieces of SIP syntax: separators, quoting, escapes, parameters, URIs, line breaks. */
const TOKENS = [
  '\r\n', '\r\n ', '\r\n\t', '\n', '\r', '\r\n\r\n', '\0', ' ', '\t', '"', '\\"', '\\', '""', ',', ',,', ', ', ';', ';;', '; ', '=', '==',
  ':', '::', '@', '@@', '<', '>', '<>', '<sip:', 'sip:', 'sips:', 'tel:', '%', '%00', '%2', '%zz', '%25', '[', ']', '[::1]', '[::ffff:127.0.0.1]',
  '?', '?Subject=x', '&', ';x="open', ';x="a,b"', ';branch=', ';branch=z9hG4bK', ';branch=z9hG4bKsl', ';branch=z9hG4bKsb', ';tag=', ';rport', ';rport=',
  ';received=', ';received=[::1]', ';maddr=', ';maddr=127.0.0.1', ';lr', ';transport=tcp', ';transport=ws', ';expires=', ';q=', ';q=1.5', ';ob', ';gr',
  'SIP/2.0', 'SIP/2.0/UDP ', 'SIP/2.0/TCP ', 'SIP/3.0', 'z9hG4bK', '127.0.0.1', '127.0.0.1:0', 'example.com', '*', 'Digest ', 'username=', 'nonce=',
  'realm=', 'response=', 'uri=', 'algorithm=SHA-256', 'qop=auth', 'nc=00000001', 'cnonce=', 'opaque=', '\u00e9', '\xc3\xa9', '\xff\xfe', 'a'.repeat(300),
];

/** Whole header lines a message may gain (they reach code a seed message would not). */
const LINES = [
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfz1;rport', 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKfz2;x="open', 'Via: SIP/2.0/TCP [::1]:5070;branch=z9hG4bKfz3;received=::1',
  'v: SIP/2.0/UDP h;branch=z9hG4bKsl0, SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1', 'Via: ,', 'Via: SIP/2.0/UDP 127.0.0.1;maddr=127.0.0.1;ttl=1',
  'Route: <sip:127.0.0.1;lr>', 'Route: <sip:127.0.0.1:5060;lr>, <sip:example.net;lr>', 'Route: <sip:example.com>', 'Route: <sip:sbf-dWRwfDEyNy4wLjAuMXw1MDYw@127.0.0.1;lr>',
  'Record-Route: <sip:127.0.0.1;lr>', 'Record-Route: <sip:p1.example.net;lr>,<sip:p2.example.net;lr>', 'Path: <sip:127.0.0.1;lr>',
  'Contact: *', 'Contact: <sip:alice@127.0.0.1:5070>;expires=0', 'Contact: <sip:alice@127.0.0.1;transport=tcp>;q=0.5;+sip.instance="<urn:uuid:1>";reg-id=1',
  'm: sip:alice@10.0.0.1;expires=3600, <sip:alice@[::1]>', 'Contact: "A \\"B\\"" <sip:a@b>;expires=1', 'Expires: 0', 'Expires: 4294967296', 'Max-Forwards: 0',
  'Max-Forwards: 1', 'Max-Forwards: 256', 'Content-Length: 99999', 'l: -1', 'Content-Length: 0', 'Content-Type: application/sdp', 'c: multipart/mixed;boundary=x',
  'Proxy-Require: foo', 'Require: 100rel, path', 'Supported: path, outbound, gruu', 'Supported: ', 'Unsupported: x', 'Allow: INVITE, ACK',
  'Authorization: Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="00000000000000000000000000000000"',
  'Authorization: Digest username="alice", realm="example.com", nonce="", uri="sip:example.com", response="x", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c"',
  'Proxy-Authorization: Digest username="alice", realm="example.com", nonce="abc", uri="sip:bob@example.com", response="0"', 'Authorization: Basic YWxpY2U6c2VjcmV0',
  'Authorization: Digest ,,,', 'Authorization: Digest username="a\\', 'CSeq: 1 INVITE', 'CSeq: 4294967296 INVITE', 'CSeq: 2 ACK', 'CSeq: 1 CANCEL', 'Call-ID: fuzz@127.0.0.1',
  'i: x', 'To: <sip:bob@127.0.0.1>;tag=1', 'From: <sip:alice@example.com>;tag=f', 't: sip:bob@example.com', 'f: "x <sip:a@b>', 'Event: presence', 'Event: reg',
  'Subscription-State: active;expires=60', 'Refer-To: <sip:carol@example.com>', 'Replaces: abc;to-tag=1;from-tag=2', 'Timestamp: 1 0.5', 'RAck: 1 1 INVITE', 'RSeq: 1',
  'Session-Expires: 90;refresher=uac', 'Min-SE: 90', 'Privacy: id', 'P-Asserted-Identity: <sip:alice@example.com>', 'Reason: SIP;cause=200;text="x"',
  'Accept: application/sdp', 'Accept-Encoding: gzip', 'Content-Encoding: gzip', 'Retry-After: 5', 'Warning: 399 h "w"', 'X-Long: ' + 'x'.repeat(1200),
];

const METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'SUBSCRIBE', 'NOTIFY', 'PRACK', 'UPDATE', 'MESSAGE', 'INFO', 'REFER', 'PUBLISH', 'FOO', 'invite', 'INV ITE'];
const STATUS_LINES = ['SIP/2.0 100 Trying', 'SIP/2.0 180 Ringing', 'SIP/2.0 183 Session Progress', 'SIP/2.0 200 OK', 'SIP/2.0 202 Accepted', 'SIP/2.0 302 Moved', 'SIP/2.0 401 Unauthorized', 'SIP/2.0 407 Proxy Authentication Required', 'SIP/2.0 408 Request Timeout', 'SIP/2.0 486 Busy Here', 'SIP/2.0 487 Request Terminated', 'SIP/2.0 503 Service Unavailable', 'SIP/2.0 699 x', 'SIP/2.0 099 x', 'SIP/2.0 200', 'SIP/2.0 200 ', 'SIP/2.1 200 OK'];
const URIS = ['sip:bob@127.0.0.1', 'sip:127.0.0.1', 'sip:127.0.0.1;lr', 'sip:alice@example.com', 'sip:bob@example.com;transport=tcp', 'sips:bob@example.com', 'sip:bob@[::1]:5060', 'sip:%61lice@example.com', 'sip:bob@example.net', 'sip:bob@10.0.0.1:5060;maddr=127.0.0.1', 'sip:bob@example.com?Subject=x', 'tel:+15555550100', 'urn:service:sos', '*', 'sip:', 'sip:@', 'sip:a@b:99999', 'sip:user;par=1@example.com', 'sip:sbf-dWRwfDEyNy4wLjAuMXw1MDYw@127.0.0.1'];
const NAMES = [['Via', 'v'], ['From', 'f'], ['To', 't'], ['Call-ID', 'i'], ['Contact', 'm'], ['Content-Length', 'l'], ['Content-Type', 'c'], ['Supported', 'k'], ['Subject', 's'], ['Event', 'o'], ['Refer-To', 'r']];

/** Header lines and values seen in the corpus, by lower-cased name (grown as the corpus grows). */
export class Dictionary {
  constructor() {
    this.lines = [];
    this.values = new Map();
    this.seen = new Set();
  }
  learn(text) {
    const { ls } = splitLines(splitHead(text).head);
    for (let k = 1; k < ls.length && k < 64; k++) {
      const line = ls[k];
      if (line.length > 2000 || this.seen.has(line) || this.seen.size > 20000) continue;
      this.seen.add(line);
      this.lines.push(line);
      const c = line.indexOf(':');
      if (c > 0) {
        const name = line.slice(0, c).trim().toLowerCase();
        let list = this.values.get(name);
        if (!list) this.values.set(name, (list = []));
        list.push(line.slice(c + 1).trim());
      }
    }
  }
}

/** The head (start line and header lines) and the rest (the empty line and the body). */
export function splitHead(s) {
  let i = s.indexOf('\r\n\r\n');
  const j = s.indexOf('\n\n');
  if (i < 0 || (j >= 0 && j < i)) i = j;
  return i < 0 ? { head: s, tail: '' } : { head: s.slice(0, i), tail: s.slice(i) };
}

function splitLines(head) {
  const eol = head.includes('\r\n') ? '\r\n' : '\n';
  return { eol, ls: head.split(eol) };
}

/**
 * Builds the mutator set around a PRNG and a dictionary. `others()` gives another corpus entry
 * (latin1) for the crossovers.
 */
export function makeMutator(rnd, dict, others) {
  const int = (n) => Math.floor(rnd() * n);
  const pick = (list) => list[int(list.length)];
  const pos = (s) => int(s.length + 1);
  const randomToken = () => {
    const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let t = '';
    for (let i = 0, n = 4 + int(12); i < n; i++) t += chars[int(chars.length)];
    return t;
  };
  /** Applies `fn` to the header lines (index ≥ 1); the start line and the body stay. */
  const onLines = (s, fn) => {
    const { head, tail } = splitHead(s);
    const { eol, ls } = splitLines(head);
    const out = fn(ls);
    return (out ?? ls).join(eol) + tail;
  };
  const headerIndex = (ls) => (ls.length > 1 ? 1 + int(ls.length - 1) : -1);

  const byte = [
    function flipBit(s) {
      if (s.length === 0) return s;
      const i = int(s.length);
      return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << int(8))) + s.slice(i + 1);
    },
    function setByte(s) {
      if (s.length === 0) return s;
      const i = int(s.length);
      const b = rnd() < 0.5 ? pick(INTERESTING_BYTES) : int(256);
      return s.slice(0, i) + String.fromCharCode(b) + s.slice(i + 1);
    },
    function insertBytes(s) {
      const i = pos(s);
      let ins = '';
      for (let k = 0, n = 1 + int(4); k < n; k++) ins += String.fromCharCode(rnd() < 0.7 ? pick(INTERESTING_BYTES) : int(256));
      return s.slice(0, i) + ins + s.slice(i);
    },
    function deleteBytes(s) {
      const i = int(s.length);
      return s.slice(0, i) + s.slice(i + 1 + int(rnd() < 0.8 ? 8 : 64));
    },
    function duplicateBytes(s) {
      const i = int(s.length);
      const piece = s.slice(i, i + 1 + int(rnd() < 0.7 ? 16 : 200));
      const at = pos(s);
      return s.slice(0, at) + piece.repeat(1 + int(3)) + s.slice(at);
    },
    function insertToken(s) {
      const i = pos(s);
      return s.slice(0, i) + pick(TOKENS) + s.slice(i);
    },
    function truncate(s) {
      return s.slice(0, pos(s));
    },
    function crossover(s) {
      const o = others();
      if (o === undefined) return s;
      return s.slice(0, pos(s)) + o.slice(int(o.length));
    },
  ];

  const sip = [
    function duplicateLine(s) {
      return onLines(s, (ls) => {
        const k = headerIndex(ls);
        if (k > 0) ls.splice(1 + int(ls.length - 1), 0, ls[k]);
      });
    },
    function deleteLine(s) {
      return onLines(s, (ls) => {
        const k = headerIndex(ls);
        if (k > 0) ls.splice(k, 1);
      });
    },
    function swapLines(s) {
      return onLines(s, (ls) => {
        const a = headerIndex(ls);
        const b = headerIndex(ls);
        if (a > 0 && b > 0) [ls[a], ls[b]] = [ls[b], ls[a]];
      });
    },
    function insertLine(s) {
      return onLines(s, (ls) => {
        const line = dict.lines.length > 0 && rnd() < 0.4 ? pick(dict.lines) : pick(LINES);
        ls.splice(ls.length > 1 ? 1 + int(ls.length) : ls.length, 0, line);
      });
    },
    function insertInValue(s) {
      return onLines(s, (ls) => {
        const k = headerIndex(ls);
        if (k < 0) return;
        const line = ls[k];
        const c = line.indexOf(':');
        const i = c < 0 ? int(line.length + 1) : c + 1 + int(line.length - c);
        const piece = rnd() < 0.5 ? pick(['"', ',', ';', '\0', '\\', '<', '>', '=', ' ', '%', '@', ':', '[', ']', '?']) : pick(TOKENS);
        ls[k] = line.slice(0, i) + piece + line.slice(i);
      });
    },
    function replaceValue(s) {
      return onLines(s, (ls) => {
        const k = headerIndex(ls);
        if (k < 0) return;
        const line = ls[k];
        const c = line.indexOf(':');
        if (c < 0) return;
        const known = dict.values.get(line.slice(0, c).trim().toLowerCase());
        const value = known && rnd() < 0.6 ? pick(known) : rnd() < 0.5 ? pick(TOKENS) : '';
        ls[k] = line.slice(0, c + 1) + ' ' + value;
      });
    },
    function appendValue(s) {
      // A second value on a list header (a second Via, Contact, Route …), possibly malformed.
      return onLines(s, (ls) => {
        const k = headerIndex(ls);
        if (k < 0) return;
        const line = ls[k];
        const c = line.indexOf(':');
        const value = c < 0 ? '' : line.slice(c + 1).trim();
        ls[k] = line + pick([', ', ',', ' ,', ',,']) + (rnd() < 0.5 ? value : value + pick([';x="open', ';', ';=', '"', '<', '']));
      });
    },
    function renameHeader(s) {
      return onLines(s, (ls) => {
        const k = headerIndex(ls);
        if (k < 0) return;
        const line = ls[k];
        const c = line.indexOf(':');
        if (c < 0) return;
        const name = line.slice(0, c);
        const pair = NAMES.find(([l, sh]) => l.toLowerCase() === name.trim().toLowerCase() || sh === name.trim().toLowerCase());
        let next;
        const r = rnd();
        if (pair && r < 0.4) next = name.trim().length === 1 ? pair[0] : pair[1];
        else if (r < 0.6) next = name.toUpperCase();
        else if (r < 0.8) next = name.toLowerCase();
        else next = name + pick([' ', '\t', '  ', '']);
        ls[k] = next + line.slice(c);
      });
    },
    function number(s) {
      const runs = [...s.matchAll(/\d+/g)];
      if (runs.length === 0) return s;
      const m = pick(runs);
      return s.slice(0, m.index) + pick(NUMBERS) + s.slice(m.index + m[0].length);
    },
    function lineEndings(s) {
      const r = int(6);
      if (r === 0) return s.replace(/\r\n/g, '\n');
      if (r === 1) return s.replace(/\r?\n/g, '\r\n');
      const breaks = [...s.matchAll(/\r?\n/g)];
      if (breaks.length === 0) return s;
      const m = pick(breaks);
      const variant = r === 2 ? '\r' : r === 3 ? '\r\r\n' : r === 4 ? '\n\r' : pick(['\r\n ', '\r\n\t', ' \r\n ', '\r\n\r\n']);
      return s.slice(0, m.index) + variant + s.slice(m.index + m[0].length);
    },
    function contentLength(s) {
      return onLines(s, (ls) => {
        const k = ls.findIndex((l, i) => i > 0 && /^(content-length|l)\s*:/i.test(l));
        const value = pick(NUMBERS);
        if (k > 0 && rnd() < 0.2) ls.splice(k, 1);
        else if (k > 0) ls[k] = ls[k].slice(0, ls[k].indexOf(':') + 1) + ' ' + value;
        else ls.push(`Content-Length: ${value}`);
      });
    },
    function body(s) {
      const { head, tail } = splitHead(s);
      const r = int(4);
      if (r === 0) return head + (tail.startsWith('\r\n') ? '\r\n\r\n' : '\n\n');
      if (r === 1) return head;
      const o = others();
      const ob = o === undefined ? '' : splitHead(o).tail.replace(/^\r?\n\r?\n/, '');
      return head + (tail.match(/^\r?\n\r?\n/)?.[0] ?? '\r\n\r\n') + (r === 2 ? ob : 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n');
    },
    function freshenIds(s) {
      // New branch, Call-ID and tags: the servers see a new transaction, not a retransmission.
      const t = randomToken();
      return s
        .replace(/(branch=z9hG4bK)([^;,\s]*)/gi, (_m, p) => p + (rnd() < 0.1 ? pick(['sl', 'sb']) : '') + t)
        .replace(/^((?:Call-ID|i)[ \t]*:[ \t]*)([^\r\n]*)/im, (_m, p) => p + t + '@fuzz')
        .replace(/(;tag=)([^;,\s>]*)/i, (_m, p) => p + t);
    },
    function startLine(s) {
      const eol = s.indexOf('\n');
      const first = eol < 0 ? s : s.slice(0, eol).replace(/\r$/, '');
      const rest = eol < 0 ? '' : s.slice(first.length);
      const r = int(4);
      if (r === 0) return pick(STATUS_LINES) + rest;
      const parts = first.split(' ');
      if (r === 1 || parts.length < 3 || first.startsWith('SIP/')) {
        const method = pick(METHODS);
        const out = `${method} ${parts.length >= 3 && !first.startsWith('SIP/') ? parts[1] : pick(URIS)} SIP/2.0` + rest;
        // Mostly keep the CSeq method equal (RFC 3261 §8.2.2 rejects the rest early).
        return rnd() < 0.8 ? out.replace(/^(CSeq[ \t]*:[ \t]*\d+[ \t]+)(\S+)/im, (_m, p) => p + method) : out;
      }
      if (r === 2) return `${parts[0]} ${pick(URIS)} ${parts.slice(2).join(' ')}` + rest;
      return first.replace(/ /g, pick(['  ', '\t', ' \t'])) + rest;
    },
    function crossHeaders(s) {
      // The header lines of another message, or some of them.
      const o = others();
      if (o === undefined) return s;
      const { ls: theirs } = splitLines(splitHead(o).head);
      return onLines(s, (ls) => {
        if (theirs.length < 2) return;
        const from = 1 + int(theirs.length - 1);
        ls.splice(headerIndex(ls) > 0 ? headerIndex(ls) : ls.length, 0, ...theirs.slice(from, from + 1 + int(4)));
      });
    },
  ];

  return function mutate(input, maxLen) {
    let s = input;
    const n = 1 + (rnd() < 0.5 ? 0 : int(5));
    for (let i = 0; i < n; i++) {
      const fn = rnd() < 0.55 ? pick(sip) : pick(byte);
      s = fn(s);
    }
    if (s.length > maxLen) s = s.slice(0, maxLen);
    return s;
  };
}
