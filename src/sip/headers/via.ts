/**
 * Via (RFC 3261 §20.42, §18.2.1; RFC 3581 rport; RFC 5118 §4.5 bracketed received).
 *
 * @remarks Layer 1 (`sip/`). The top Via is part of the routing set every layer needs.
 */
import { SipParseError } from '../errors.js';
import { isHostname, isIpv6Reference, isIpv6Address } from '../uri/sip-uri.js';
import { type Params, PARAM_VALUE, TOKEN, endsBeforeControl, formatParams, isDigits, parseParams, splitOutsideQuotes } from './params.js';

// Module-local copies: reads of imported bindings are slower in hot loops.
const TOK: Uint8Array = TOKEN.slice();
const PVAL: Uint8Array = PARAM_VALUE.slice();

const EMPTY: Params = new Map();

/** The RFC 3261 branch magic cookie (§8.1.1.7). */
export const MAGIC_COOKIE = 'z9hG4bK';

/** One Via header field value. */
export class Via {
  /** sent-by host as written (IPv6 with brackets). */
  private h: string | undefined;
  private pm: Params | undefined;
  /** Lazy form (see {@link parseViaBytes}): the text the offsets below point into. */
  private src: string;
  private hs: number;
  private he: number;
  private ps: number;
  private pe: number;
  /** Offsets of the branch value in `src` (-1: no branch, or one without a value). */
  private bs: number;
  private be: number;

  constructor(
    /** Upper-cased transport token: UDP, TCP, TLS, SCTP, WS, WSS or an extension. */
    public transport: string,
    host: string,
    public port: number | undefined,
    params: Params,
    public protocol = 'SIP/2.0',
  ) {
    this.h = host;
    this.pm = params;
    this.src = '';
    this.hs = -1;
    this.he = -1;
    this.ps = -1;
    this.pe = -1;
    this.bs = -1;
    this.be = -1;
  }

  /** A Via whose host and parameters stay offsets into `src` until read (already validated). */
  static lazy(transport: string, port: number | undefined, src: string, hs: number, he: number, ps: number, pe: number, bs: number, be: number): Via {
    const v = new Via(transport, '', port, EMPTY);
    v.h = undefined;
    v.pm = undefined;
    v.src = src;
    v.hs = hs;
    v.he = he;
    v.ps = ps;
    v.pe = pe;
    v.bs = bs;
    v.be = be;
    return v;
  }

  /** sent-by host as written (IPv6 with brackets). */
  get host(): string {
    return (this.h ??= this.src.slice(this.hs, this.he));
  }

  set host(h: string) {
    this.h = h;
  }

  get params(): Params {
    return (this.pm ??= this.ps < 0 ? new Map<string, string | null>() : parseParams(this.src.slice(this.ps, this.pe), 'Via'));
  }

  set params(p: Params) {
    this.pm = p;
  }

  get branch(): string | undefined {
    if (this.pm === undefined) return this.bs < 0 ? undefined : this.src.slice(this.bs, this.be);
    return this.pm.get('branch') ?? undefined;
  }
  /** True when the branch carries the RFC 3261 magic cookie and something after it (§17.2.3). */
  get isRfc3261Branch(): boolean {
    const b = this.branch;
    return b !== undefined && b.length > MAGIC_COOKIE.length && b.startsWith(MAGIC_COOKIE);
  }

  /** sent-by host without IPv6 brackets. */
  get hostname(): string {
    return this.host.startsWith('[') ? this.host.slice(1, -1) : this.host;
  }

  get received(): string | undefined {
    return this.params.get('received') ?? undefined;
  }

  /** RFC 3581: `null` when `rport` is present without a value, a number when filled in. */
  get rport(): number | null | undefined {
    if (!this.params.has('rport')) return undefined;
    const v = this.params.get('rport');
    return v === null || v === undefined ? null : Number(v);
  }

  get maddr(): string | undefined {
    return this.params.get('maddr') ?? undefined;
  }

  /** sent-by as `host[:port]`, the transaction-matching key part of §17.2.3. */
  get sentBy(): string {
    return this.port === undefined ? this.host : `${this.host}:${this.port}`;
  }

  clone(): Via {
    return new Via(this.transport, this.host, this.port, new Map(this.params), this.protocol);
  }

  toString(): string {
    return `${this.protocol}/${this.transport} ${this.sentBy}${formatParams(this.params)}`;
  }
}

const SENT_PROTOCOL_RE = /^([A-Za-z0-9.!%*_+`'~-]+)\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+(\S.*)$/;

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Hand-written form of {@link SENT_PROTOCOL_RE} (same matches for ASCII text): returns
 * [name, version, transport, rest], `null` for no match, `undefined` when the text is not ASCII
 * (the regex then decides, since `\s` and `.` have Unicode meanings).
 */
function matchSentProtocol(h: string): [string, string, string, string] | null | undefined {
  const n = h.length;
  for (let k = 0; k < n; k++) if (h.charCodeAt(k) > 0x7f) return undefined;
  let i = 0;
  // name
  let s = i;
  while (i < n && TOKEN[h.charCodeAt(i)] === 1) i++;
  if (i === s) return null;
  const name = h.slice(s, i);
  while (i < n && isSpace(h.charCodeAt(i))) i++;
  if (h.charCodeAt(i) !== 0x2f) return null;
  i++;
  while (i < n && isSpace(h.charCodeAt(i))) i++;
  // version
  s = i;
  while (i < n && TOKEN[h.charCodeAt(i)] === 1) i++;
  if (i === s) return null;
  const version = h.slice(s, i);
  while (i < n && isSpace(h.charCodeAt(i))) i++;
  if (h.charCodeAt(i) !== 0x2f) return null;
  i++;
  while (i < n && isSpace(h.charCodeAt(i))) i++;
  // transport, then 1*LWS
  s = i;
  while (i < n && TOKEN[h.charCodeAt(i)] === 1) i++;
  if (i === s) return null;
  const transport = h.slice(s, i);
  s = i;
  while (i < n && isSpace(h.charCodeAt(i))) i++;
  if (i === s || i >= n) return null;
  // (\S.*)$: `.` does not match line terminators.
  for (let k = i; k < n; k++) {
    const c = h.charCodeAt(k);
    if (c === 0x0a || c === 0x0d) return null;
  }
  return [name, version, transport, h.slice(i)];
}

/** Parses one Via value (LWS allowed around `/`, RFC 3261 §25.1 via-parm). */
export function parseVia(value: string): Via {
  const v = value.trim();
  const semi = v.indexOf(';');
  const head = semi >= 0 ? v.slice(0, semi) : v;
  // sent-protocol: name SLASH version SLASH transport, LWS around the slashes.
  let m = matchSentProtocol(head);
  if (m === undefined) {
    const r = SENT_PROTOCOL_RE.exec(head);
    m = r ? [r[1]!, r[2]!, r[3]!, r[4]!] : null;
  }
  if (!m) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Malformed Via sent-protocol');
  const protocol = m[0] === 'SIP' && m[1] === '2.0' ? 'SIP/2.0' : `${m[0].toUpperCase()}/${m[1]}`;
  if (protocol !== 'SIP/2.0') throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via protocol is not SIP/2.0');
  const transport = m[2].toUpperCase();
  const sentBy = m[3].trim();
  let host: string;
  let port: number | undefined;
  if (sentBy.startsWith('[')) {
    const close = sentBy.indexOf(']');
    host = close > 0 ? sentBy.slice(0, close + 1) : sentBy;
    if (!isIpv6Reference(host)) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via sent-by has an invalid IPv6 reference');
    const after = sentBy.slice(close + 1).trim();
    if (after.length > 0) port = parseViaPort(after.replace(/^:\s*/, ''), after);
  } else {
    const pc = sentBy.indexOf(':');
    host = (pc >= 0 ? sentBy.slice(0, pc) : sentBy).trim();
    if (pc >= 0) port = parseViaPort(sentBy.slice(pc + 1).trim(), sentBy);
    if (!isHostname(host)) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via sent-by has an invalid host');
  }
  const params = semi >= 0 ? parseParams(v.slice(semi + 1), 'Via') : new Map<string, string | null>();
  const received = params.get('received');
  if (received !== undefined) {
    // RFC 5118 §4.5: accept received with or without brackets.
    const r = received ?? '';
    const ok = isHostname(r) || isIpv6Address(r) || isIpv6Reference(r);
    if (!ok) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via received parameter is not an address');
  }
  const rport = params.get('rport');
  if (rport !== undefined && rport !== null && !isDigits(rport, 1, 5)) {
    throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via rport is not a port number');
  }
  return new Via(transport, host, port, params, protocol);
}

function parseViaPort(s: string, _all: string): number {
  if (!isDigits(s, 1, 5) || Number(s) > 65535) {
    throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via sent-by has an invalid port');
  }
  return Number(s);
}

/** Parses every Via value of every Via header line, in order. */
export function parseViaList(values: string[]): Via[] {
  const out: Via[] = [];
  for (const value of values) {
    for (const part of splitOutsideQuotes(value, ',')) {
      if (part.trim().length === 0) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Empty Via value');
      out.push(parseVia(part));
    }
  }
  return out;
}

/** 1 for the characters of a hostname / IPv4address (same set as {@link isHostname}). */
const HOST: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    t[c] = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f ? 1 : 0;
  }
  return t;
})();

const T_UDP = 'UDP';
const T_TCP = 'TCP';
const T_TLS = 'TLS';
const T_SCTP = 'SCTP';
const T_WS = 'WS';
const T_WSS = 'WSS';

/**
 * The upper-case constant of a common transport token in any case (RFC 3261 §20.42, §18), or
 * undefined. `& 0xdf` folds a letter to upper case; every byte compared is a letter, so it
 * matches no other token character.
 */
function internTransport(b: Uint8Array, s: number, e: number): string | undefined {
  const c0 = b[s]! & 0xdf;
  const c1 = b[s + 1]! & 0xdf;
  switch (e - s) {
    case 2:
      return c0 === 0x57 && c1 === 0x53 ? T_WS : undefined;
    case 3: {
      const c2 = b[s + 2]! & 0xdf;
      if (c0 === 0x55) return c1 === 0x44 && c2 === 0x50 ? T_UDP : undefined;
      if (c0 === 0x54) return c1 === 0x43 && c2 === 0x50 ? T_TCP : c1 === 0x4c && c2 === 0x53 ? T_TLS : undefined;
      return c0 === 0x57 && c1 === 0x53 && c2 === 0x53 ? T_WSS : undefined;
    }
    case 4:
      return c0 === 0x53 && c1 === 0x43 && (b[s + 2]! & 0xdf) === 0x54 && (b[s + 3]! & 0xdf) === 0x50 ? T_SCTP : undefined;
    default:
      return undefined;
  }
}

/** Four bytes at `p` as a little-endian int32, letters folded to lower case (token bytes only). */
function lw32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) | 0x20202020;
}

/**
 * Fast path of {@link parseVia} for the common shape, read straight from the bytes `[s, e)` of
 * one unfolded Via line: `SIP/2.0/` transport 1*WSP host [":" port] *(";" token ["=" value])
 * with printable ASCII and no quotes, commas or blanks in the parameters. `src` is the latin1
 * text of the same bytes (string offsets = byte offsets). Returns undefined for anything else,
 * so that {@link parseVia} decides (and throws) exactly as before.
 *
 * As in parseNameAddrBytes, the character-class loops need no `i < e` bound: the byte
 * at `e` (a blank, CR, LF or past the buffer, checked on entry) is in none of the classes.
 */
export function parseViaBytes(b: Uint8Array, s: number, e: number, src: string): Via | undefined {
  // Tables as locals: the compiled loops then keep them in registers instead of reloading them per byte.
  const host = HOST, tok = TOK, pval = PVAL;
  if (e - s < 10 || !endsBeforeControl(b, e)) return undefined;
  if (
    b[s] !== 0x53 || b[s + 1] !== 0x49 || b[s + 2] !== 0x50 || b[s + 3] !== 0x2f ||
    b[s + 4] !== 0x32 || b[s + 5] !== 0x2e || b[s + 6] !== 0x30 || b[s + 7] !== 0x2f
  ) {
    return undefined;
  }
  let i = s + 8;
  const ts = i;
  while (tok[b[i]!] === 1) i++;
  const transport = internTransport(b, ts, i);
  if (transport === undefined || i >= e || (b[i] !== 0x20 && b[i] !== 0x09)) return undefined;
  while (i < e && (b[i] === 0x20 || b[i] === 0x09)) i++;
  const hs = i;
  while (i + 4 <= e && (host[b[i]!]! & host[b[i + 1]!]! & host[b[i + 2]!]! & host[b[i + 3]!]!) === 1) i += 4;
  while (host[b[i]!] === 1) i++;
  const he = i;
  if (he === hs || he - hs > 255) return undefined;
  let port: number | undefined;
  if (i < e && b[i] === 0x3a) {
    i++;
    const ds = i;
    let n = 0;
    let c = 0;
    while (i < e && (c = b[i]!) >= 0x30 && c <= 0x39) {
      n = n * 10 + (c - 0x30);
      i++;
    }
    if (i === ds || i - ds > 5 || n > 65535) return undefined;
    port = n;
  }
  let ps = -1;
  let bs = -1;
  let be = -1;
  if (i < e) {
    if (b[i] !== 0x3b) return undefined;
    i++;
    ps = i;
    for (;;) {
      const ns = i;
      while (tok[b[i]!] === 1) i++;
      const nl = i - ns;
      if (nl === 0) return undefined;
      let vs = -1;
      let ve = -1;
      if (i < e && b[i] === 0x3d) {
        i++;
        vs = i;
        while (i + 4 <= e && (pval[b[i]!]! & pval[b[i + 1]!]! & pval[b[i + 2]!]! & pval[b[i + 3]!]!) === 1) i += 4;
        while (pval[b[i]!] === 1) i++;
        ve = i;
        if (ve === vs) return undefined;
      }
      if (nl === 6 && lw32(b, ns) === 0x6e617262 && lw32(b, ns + 2) === 0x68636e61) {
        bs = vs;
        be = ve;
      } else if (nl === 8 && lw32(b, ns) === 0x65636572 && lw32(b, ns + 4) === 0x64657669) {
        // Must be a hostname / IPv4 address here; anything else goes the long way.
        if (vs < 0 || ve - vs > 255) return undefined;
        for (let k = vs; k < ve; k++) if (host[b[k]!] !== 1) return undefined;
      } else if (nl === 5 && vs >= 0 && lw32(b, ns) === 0x726f7072 && lw32(b, ns + 1) === 0x74726f70) {
        if (ve - vs > 5) return undefined;
        for (let k = vs; k < ve; k++) if (b[k]! < 0x30 || b[k]! > 0x39) return undefined;
      }
      if (i === e) break;
      if (b[i] !== 0x3b) return undefined;
      i++;
    }
  }
  return Via.lazy(transport, port, src, hs, he, ps, e, bs, be);
}
