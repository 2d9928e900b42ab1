/**
 * URIs: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966) and any other absoluteURI kept opaque.
 *
 * @remarks Layer 1 (`sip/`). Parsed on access from header values and the Request-URI.
 */
import { SipParseError } from '../errors.js';
import { type Params, formatParams, parseParamList } from '../headers/params.js';

/** A `sip:` or `sips:` URI. `user` and `password` keep their %-escapes as written. */
export class SipUri {
  readonly kind = 'sip' as const;
  constructor(
    public scheme: 'sip' | 'sips',
    public user: string | undefined,
    public host: string,
    public port: number | undefined,
    public params: Params = new Map(),
    public headers: string | undefined = undefined,
    public password: string | undefined = undefined,
  ) {}

  /** The user part with %-escapes decoded once (RFC 3261 §19.1.2; no recursive unescaping). */
  get decodedUser(): string | undefined {
    return this.user === undefined ? undefined : percentDecode(this.user);
  }

  /** `host` without IPv6 brackets, as needed for sockets. */
  get hostname(): string {
    return this.host.startsWith('[') ? this.host.slice(1, -1) : this.host;
  }

  /** Value of a URI parameter (`transport`, `lr`, `maddr` …); `null` when present without value. */
  param(name: string): string | null | undefined {
    return this.params.get(name.toLowerCase());
  }

  /** The `transport` parameter lower-cased, if present. */
  get transport(): string | undefined {
    const t = this.params.get('transport');
    return t ? t.toLowerCase() : undefined;
  }

  clone(): SipUri {
    return new SipUri(this.scheme, this.user, this.host, this.port, new Map(this.params), this.headers, this.password);
  }

  toString(): string {
    let s = this.scheme + ':';
    if (this.user !== undefined) {
      s += this.user;
      if (this.password !== undefined) s += ':' + this.password;
      s += '@';
    }
    s += this.host;
    if (this.port !== undefined) s += ':' + this.port;
    s += formatParams(this.params);
    if (this.headers !== undefined) s += '?' + this.headers;
    return s;
  }
}

/** A `tel:` URI (RFC 3966): the number and its parameters. */
export class TelUri {
  readonly kind = 'tel' as const;
  readonly scheme = 'tel';
  constructor(public number: string, public params: Params = new Map()) {}
  toString(): string {
    return 'tel:' + this.number + formatParams(this.params);
  }
}

/** Any other absoluteURI (RFC 3261 §25.1), kept as text. */
export class AbsoluteUri {
  readonly kind = 'absolute' as const;
  constructor(public scheme: string, public value: string) {}
  toString(): string {
    return this.scheme + ':' + this.value;
  }
}

export type Uri = SipUri | TelUri | AbsoluteUri;

/** Decodes %HH escapes once. Invalid escapes are left as written. */
export function percentDecode(s: string): string {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isSchemeChar(c: number, first: boolean): boolean {
  const alpha = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
  if (first) return alpha;
  return alpha || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
}

/** Characters allowed in a URI outside quoted contexts: no whitespace, controls, `<`, `>`, `"`. */
function checkUriChars(s: string, field: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x3c || c === 0x3e || c === 0x22) {
      throw new SipParseError('SIP_ERR_URI', 400, field, `Invalid character in ${field} URI`);
    }
  }
}

/**
 * Parses any URI. Throws {@link SipParseError} (`field` names where it came from) on malformed
 * `sip:`/`sips:`/`tel:` URIs; other schemes are accepted as {@link AbsoluteUri}.
 */
export function parseUri(text: string, field = 'URI'): Uri {
  const s = text;
  const colon = s.indexOf(':');
  if (colon <= 0) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has no scheme`);
  for (let i = 0; i < colon; i++) {
    if (!isSchemeChar(s.charCodeAt(i), i === 0)) {
      throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has an invalid scheme`);
    }
  }
  checkUriChars(s, field);
  const scheme = s.slice(0, colon).toLowerCase();
  const rest = s.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSipUriRest(scheme, rest, field);
  if (scheme === 'tel') {
    const parts = rest.split(';');
    const number = parts[0]!;
    if (!/^(\+[0-9\-.()]*[0-9][0-9\-.()]*|[0-9A-Fa-f*#\-.()pPwW]+)$/.test(number)) {
      throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has an invalid telephone number`);
    }
    return new TelUri(number, parseParamList(parts.slice(1), field));
  }
  if (rest.length === 0) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} is empty after the scheme`);
  return new AbsoluteUri(scheme, rest);
}

/** Parses a URI that must be `sip:` or `sips:`. */
export function parseSipUri(text: string, field = 'URI'): SipUri {
  const u = parseUri(text, field);
  if (u.kind !== 'sip') {
    throw new SipParseError('SIP_ERR_UNSUPPORTED_URI_SCHEME', 416, field, `${field} is not a SIP URI`);
  }
  return u;
}

function parseSipUriRest(scheme: 'sip' | 'sips', rest: string, field: string): SipUri {
  // RFC 3261 §19.1.1: userinfo cannot contain an unescaped '@', so the first '@' ends it.
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const pc = userinfo.indexOf(':');
    if (pc >= 0) {
      user = userinfo.slice(0, pc);
      password = userinfo.slice(pc + 1);
    } else user = userinfo;
    if (user.length === 0) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has an empty user part`);
  }
  let headers: string | undefined;
  const q = hostPart.indexOf('?');
  if (q >= 0) {
    headers = hostPart.slice(q + 1);
    hostPart = hostPart.slice(0, q);
  }
  const parts = hostPart.split(';');
  const hostport = parts[0]!;
  let host: string;
  let port: number | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has an unterminated IPv6 reference`);
    host = hostport.slice(0, close + 1);
    if (!isIpv6Reference(host)) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has an invalid IPv6 reference`);
    const after = hostport.slice(close + 1);
    if (after.length > 0) {
      if (after[0] !== ':') throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has junk after the IPv6 reference`);
      port = parsePort(after.slice(1), field);
    }
  } else {
    const pc = hostport.indexOf(':');
    host = pc >= 0 ? hostport.slice(0, pc) : hostport;
    if (pc >= 0) port = parsePort(hostport.slice(pc + 1), field);
    if (!isHostname(host)) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has an invalid host`);
  }
  const params = parseParamList(parts.slice(1), field);
  return new SipUri(scheme, user, host, port, params, headers, password);
}

function parsePort(s: string, field: string): number {
  if (!/^[0-9]{1,5}$/.test(s)) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} has an invalid port`);
  const n = Number(s);
  if (n > 65535) throw new SipParseError('SIP_ERR_URI', 400, field, `${field} port is out of range`);
  return n;
}

/** hostname / IPv4address (RFC 3261 §25.1). */
export function isHostname(h: string): boolean {
  if (h.length === 0 || h.length > 255) return false;
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
    if (!ok) return false;
  }
  return true;
}

/**
 * `[IPv6address]`. RFC 5118 §4.10: the RFC 3261 ABNF admitted three colons
 * (`2001:db8:::192.0.2.1`); RFC 5954 fixed it, so we reject it as an invalid address.
 */
export function isIpv6Reference(h: string): boolean {
  if (h.length < 4 || h[0] !== '[' || h[h.length - 1] !== ']') return false;
  return isIpv6Address(h.slice(1, -1));
}

/** A textual IPv6 address (RFC 4291 §2.2), including the IPv4-embedded form. */
export function isIpv6Address(a: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(a)) return false;
  if (a.includes(':::')) return false;
  let groups = a.split(':');
  let v4 = 0;
  const last = groups[groups.length - 1]!;
  if (last.includes('.')) {
    if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(last)) return false;
    if (last.split('.').some((o) => Number(o) > 255)) return false;
    v4 = 2;
    groups = groups.slice(0, -1);
    groups.push('0');
  }
  const dbl = a.indexOf('::');
  if (dbl >= 0 && a.indexOf('::', dbl + 1) >= 0) return false;
  const nonEmpty = groups.filter((g) => g.length > 0);
  if (nonEmpty.some((g) => g.length > 4)) return false;
  const count = nonEmpty.length + (v4 ? 1 : 0);
  if (dbl >= 0) return count <= 8;
  return count === 8 && groups.every((g) => g.length > 0);
}
