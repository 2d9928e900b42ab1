/**
 * Via (RFC 3261 §20.42, §18.2.1; RFC 3581 rport; RFC 5118 §4.5 bracketed received).
 *
 * @remarks Layer 1 (`sip/`). The top Via is part of the routing set every layer needs.
 */
import { SipParseError } from '../errors.js';
import { isHostname, isIpv6Reference, isIpv6Address } from '../uri/sip-uri.js';
import { type Params, TOKEN, formatParams, isDigits, parseParams, splitOutsideQuotes } from './params.js';

/** The RFC 3261 branch magic cookie (§8.1.1.7). */
export const MAGIC_COOKIE = 'z9hG4bK';

/** One Via header field value. */
export class Via {
  constructor(
    /** Upper-cased transport token: UDP, TCP, TLS, SCTP, WS, WSS or an extension. */
    public transport: string,
    /** sent-by host as written (IPv6 with brackets). */
    public host: string,
    public port: number | undefined,
    public params: Params,
    public protocol = 'SIP/2.0',
  ) {}

  get branch(): string | undefined {
    return this.params.get('branch') ?? undefined;
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
  const tok = (): string | null => {
    const s = i;
    while (i < n && TOKEN[h.charCodeAt(i)] === 1) i++;
    return i > s ? h.slice(s, i) : null;
  };
  const skipWs = (): number => {
    const s = i;
    while (i < n && isSpace(h.charCodeAt(i))) i++;
    return i - s;
  };
  const name = tok();
  if (name === null) return null;
  skipWs();
  if (h.charCodeAt(i) !== 0x2f) return null;
  i++;
  skipWs();
  const version = tok();
  if (version === null) return null;
  skipWs();
  if (h.charCodeAt(i) !== 0x2f) return null;
  i++;
  skipWs();
  const transport = tok();
  if (transport === null) return null;
  if (skipWs() === 0 || i >= n) return null;
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
