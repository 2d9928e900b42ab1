/**
 * Via (RFC 3261 §20.42, §18.2.1; RFC 3581 rport; RFC 5118 §4.5 bracketed received).
 *
 * @remarks Layer 1 (`sip/`). The top Via is part of the routing set every layer needs.
 */
import { SipParseError } from '../errors.js';
import { isHostname, isIpv6Reference, isIpv6Address } from '../uri/sip-uri.js';
import { type Params, formatParams, parseParamList, splitOutsideQuotes } from './params.js';

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

/** Parses one Via value (LWS allowed around `/`, RFC 3261 §25.1 via-parm). */
export function parseVia(value: string): Via {
  const v = value.trim();
  const semi = v.indexOf(';');
  const head = semi >= 0 ? v.slice(0, semi) : v;
  // sent-protocol: name SLASH version SLASH transport, LWS around the slashes.
  const m = /^([A-Za-z0-9.!%*_+`'~-]+)\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+(\S.*)$/.exec(head);
  if (!m) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Malformed Via sent-protocol');
  const protocol = `${m[1]!.toUpperCase()}/${m[2]}`;
  if (protocol !== 'SIP/2.0') throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via protocol is not SIP/2.0');
  const transport = m[3]!.toUpperCase();
  const sentBy = m[4]!.trim();
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
  const params = semi >= 0 ? parseParamList(splitOutsideQuotes(v.slice(semi + 1), ';'), 'Via') : new Map<string, string | null>();
  const received = params.get('received');
  if (received !== undefined) {
    // RFC 5118 §4.5: accept received with or without brackets.
    const r = received ?? '';
    const ok = isHostname(r) || isIpv6Address(r) || isIpv6Reference(r);
    if (!ok) throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via received parameter is not an address');
  }
  const rport = params.get('rport');
  if (rport !== undefined && rport !== null && !/^[0-9]{1,5}$/.test(rport)) {
    throw new SipParseError('SIP_ERR_VIA', 400, 'Via', 'Via rport is not a port number');
  }
  return new Via(transport, host, port, params, protocol);
}

function parseViaPort(s: string, _all: string): number {
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) > 65535) {
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
