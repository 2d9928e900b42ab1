/**
 * `name-addr` / `addr-spec` headers: From, To, Contact, Route, Record-Route, Refer-To …
 * (RFC 3261 §20.10, §20.20, §20.39, §25.1).
 *
 * @remarks Layer 1 (`sip/`). Parsed on first access and cached by the message.
 */
import { SipParseError } from '../errors.js';
import { type Uri, parseUri } from '../uri/sip-uri.js';
import { type Params, formatParams, hasWhitespace, isTokenChar, parseParams, splitOutsideQuotes, unquote } from './params.js';

/** One name-addr value with its header parameters (`tag`, `expires`, `q` …). */
export class NameAddr {
  private parsedUri: Uri | undefined;
  constructor(
    /** Display name without quotes, or undefined. */
    public displayName: string | undefined,
    /** The URI text as written (between `<` and `>` when bracketed). */
    public uriText: string,
    public params: Params,
    readonly field: string = 'name-addr',
    /** `Contact: *` (RFC 3261 §10.2.2). */
    readonly star = false,
  ) {}

  /** The parsed URI (throws {@link SipParseError} when malformed). */
  get uri(): Uri {
    return (this.parsedUri ??= parseUri(this.uriText, this.field));
  }

  set uri(u: Uri) {
    this.parsedUri = u;
    this.uriText = u.toString();
  }

  get tag(): string | undefined {
    return this.params.get('tag') ?? undefined;
  }

  param(name: string): string | null | undefined {
    return this.params.get(name.toLowerCase());
  }

  clone(): NameAddr {
    return new NameAddr(this.displayName, this.uriText, new Map(this.params), this.field, this.star);
  }

  /** Always writes the bracketed form, so URI parameters and header parameters never mix (§20.10). */
  toString(): string {
    if (this.star) return '*';
    const dn = this.displayName !== undefined && this.displayName.length > 0 ? `"${this.displayName.replace(/(["\\])/g, '\\$1')}" ` : '';
    return `${dn}<${this.uriText}>${formatParams(this.params)}`;
  }
}

/** Parses one name-addr or addr-spec value with its parameters. */
export function parseNameAddr(value: string, field: string): NameAddr {
  const v = value.trim();
  if (v.length === 0) throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Empty ${field} header`);
  if (v === '*') return new NameAddr(undefined, '*', new Map(), field, true);
  let displayName: string | undefined;
  let uriText: string;
  let rest: string;
  const lt = findAngle(v, field);
  if (lt >= 0) {
    const dn = v.slice(0, lt).trim();
    if (dn.length > 0) {
      if (dn.charCodeAt(0) === 0x22) {
        if (dn.length < 2 || dn.charCodeAt(dn.length - 1) !== 0x22) {
          throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Malformed display name in ${field}`);
        }
        displayName = unquote(dn);
      } else {
        // RFC 3261 §25.1: an unquoted display-name is *(token LWS).
        for (let i = 0; i < dn.length; i++) {
          const c = dn.charCodeAt(i);
          if (!isTokenChar(c) && c !== 0x20 && c !== 0x09) {
            throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Display name of ${field} needs quotes`);
          }
        }
        displayName = dn;
      }
    }
    const gt = v.indexOf('>', lt);
    if (gt < 0) throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Missing > in ${field}`);
    uriText = v.slice(lt + 1, gt);
    if (uriText !== uriText.trim() || uriText.length === 0) {
      // RFC 4475 §3.1.2.14 badaspec: no LWS inside <addr-spec>.
      throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Whitespace inside <> of ${field}`);
    }
    rest = v.slice(gt + 1).trim();
  } else {
    // addr-spec form: the URI ends at the first ';' (RFC 3261 §20.10: parameters after an
    // unbracketed URI are header parameters, not URI parameters).
    const semi = v.indexOf(';');
    uriText = (semi >= 0 ? v.slice(0, semi) : v).trim();
    rest = semi >= 0 ? v.slice(semi) : '';
    if (uriText.includes('?') || hasWhitespace(uriText)) {
      // RFC 4475 §3.1.2.13 regbadct: a URI with headers (or spaces) must be enclosed in <>.
      throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `${field} URI must be enclosed in <>`);
    }
  }
  let params: Params = new Map();
  if (rest.length > 0) {
    if (rest[0] !== ';') throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Junk after the URI in ${field}`);
    params = parseParams(rest.slice(1), field);
  }
  return new NameAddr(displayName, uriText, params, field);
}

function findAngle(v: string, field: string): number {
  let inQuote = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) return i;
    else if (c === 0x3b) return -1;
  }
  if (inQuote) {
    throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Unterminated quoted string in ${field}`);
  }
  return -1;
}

/** Parses a comma-separated list of name-addr values (Contact, Route, Record-Route). */
export function parseNameAddrList(values: string[], field: string): NameAddr[] {
  const out: NameAddr[] = [];
  for (const value of values) {
    // Without ',' or '"' the split cannot yield more than the value itself (nor throw).
    const parts = value.indexOf(',') < 0 && value.indexOf('"') < 0 ? [value] : splitOutsideQuotes(value, ',');
    for (const part of parts) {
      if (part.trim().length === 0) {
        throw new SipParseError('SIP_ERR_NAME_ADDR', 400, field, `Empty element in ${field} list`);
      }
      out.push(parseNameAddr(part, field));
    }
  }
  return out;
}
