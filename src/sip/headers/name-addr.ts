/**
 * `name-addr` / `addr-spec` headers: From, To, Contact, Route, Record-Route, Refer-To …
 * (RFC 3261 §20.10, §20.20, §20.39, §25.1).
 *
 * @remarks Layer 1 (`sip/`). Parsed on first access and cached by the message.
 */
import { SipParseError } from '../errors.js';
import { type Uri, parseUri } from '../uri/sip-uri.js';
import { type Params, PARAM_VALUE, TOKEN, endsBeforeControl, formatParams, hasWhitespace, isTokenChar, parseParams, splitOutsideQuotes, unquote } from './params.js';

// Module-local copies: reads of imported bindings are slower in hot loops.
const TOK: Uint8Array = TOKEN.slice();
const PVAL: Uint8Array = PARAM_VALUE.slice();

const EMPTY: Params = new Map();

/** 1 for the bytes a bracketed URI may hold on the fast path: printable ASCII except `"` `<` `>`. */
const URIC: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x21; c < 0x7f; c++) t[c] = c === 0x22 || c === 0x3c || c === 0x3e ? 0 : 1;
  return t;
})();

/** One name-addr value with its header parameters (`tag`, `expires`, `q` …). */
export class NameAddr {
  private parsedUri: Uri | undefined;
  private dn: string | undefined;
  private ut: string;
  private pm: Params | undefined;
  /** Lazy form (see {@link parseNameAddrBytes}): the text the offsets below point into. */
  private src: string;
  /** Display name offsets (-1: materialised or none). */
  private dns: number;
  private dne: number;
  /** URI offsets (-1: materialised). */
  private us: number;
  private ue: number;
  /** Offsets of the parameter text after the first `;` (-1: none). */
  private ps: number;
  private pe: number;
  /** Offsets of the tag value (-1: no tag, or one without a value). */
  private ts: number;
  private te: number;

  constructor(
    displayName: string | undefined,
    uriText: string,
    params: Params,
    readonly field: string = 'name-addr',
    /** `Contact: *` (RFC 3261 §10.2.2). */
    readonly star = false,
  ) {
    this.parsedUri = undefined;
    this.dn = displayName;
    this.ut = uriText;
    this.pm = params;
    this.src = '';
    this.dns = -1;
    this.dne = -1;
    this.us = -1;
    this.ue = -1;
    this.ps = -1;
    this.pe = -1;
    this.ts = -1;
    this.te = -1;
  }

  /** A name-addr whose parts stay offsets into `src` until read (already validated). */
  static lazy(field: string, src: string, dns: number, dne: number, us: number, ue: number, ps: number, pe: number, ts: number, te: number): NameAddr {
    const n = new NameAddr(undefined, '', EMPTY, field);
    n.pm = undefined;
    n.src = src;
    n.dns = dns;
    n.dne = dne;
    n.us = us;
    n.ue = ue;
    n.ps = ps;
    n.pe = pe;
    n.ts = ts;
    n.te = te;
    return n;
  }

  /** Display name without quotes, or undefined. */
  get displayName(): string | undefined {
    if (this.dns >= 0) {
      this.dn = this.src.slice(this.dns, this.dne);
      this.dns = -1;
    }
    return this.dn;
  }

  set displayName(d: string | undefined) {
    this.dn = d;
    this.dns = -1;
  }

  /** The URI text as written (between `<` and `>` when bracketed). */
  get uriText(): string {
    if (this.us >= 0) {
      this.ut = this.src.slice(this.us, this.ue);
      this.us = -1;
    }
    return this.ut;
  }

  set uriText(t: string) {
    this.ut = t;
    this.us = -1;
  }

  get params(): Params {
    return (this.pm ??= this.ps < 0 ? new Map<string, string | null>() : parseParams(this.src.slice(this.ps, this.pe), this.field));
  }

  set params(p: Params) {
    this.pm = p;
  }

  /** The parsed URI (throws {@link SipParseError} when malformed). */
  get uri(): Uri {
    return (this.parsedUri ??= parseUri(this.uriText, this.field));
  }

  set uri(u: Uri) {
    this.parsedUri = u;
    this.uriText = u.toString();
  }

  get tag(): string | undefined {
    if (this.pm === undefined) return this.ts < 0 ? undefined : this.src.slice(this.ts, this.te);
    return this.pm.get('tag') ?? undefined;
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

/**
 * Fast path of {@link parseNameAddr} for the common shape, read straight from the bytes `[s, e)`
 * of one unfolded header line: [token-words or a quoted string without escapes] `<` URI `>`
 * *(";" token ["=" value]), printable ASCII, no blanks after the `<`, no commas outside the
 * brackets or quotes. `src` is the latin1 text of the same bytes (string offsets = byte
 * offsets). Returns undefined for anything else, so that the string parser decides (and
 * throws) exactly as before.
 *
 * The character-class loops need no `i < e` bound: the byte at `e` ends the value, so it is a
 * blank, CR or LF (RFC 3261 §7.3.1: the value is trimmed and ends with the line) or past the
 * buffer, and none of those is in any class used here. Checked once on entry. The long runs
 * (URI, parameter values) are stepped four bytes at a time while all four are in the class,
 * within `[s, e)`: a step reaching past `e` could read past the buffer, and one undefined key
 * turns the table loads into slow generic ones for the rest of the process.
 */
export function parseNameAddrBytes(b: Uint8Array, s: number, e: number, src: string, field: string): NameAddr | undefined {
  // Tables as locals: the compiled loops then keep them in registers instead of reloading them per byte.
  const uric = URIC, tok = TOK, pval = PVAL;
  if (e - s < 3 || !endsBeforeControl(b, e)) return undefined;
  let i = s;
  let dns = -1;
  let dne = -1;
  let c = b[i]!;
  if (c === 0x22) {
    i++;
    dns = i;
    while (i < e && (c = b[i]!) !== 0x22) {
      if (c === 0x5c || c < 0x20 || c > 0x7e) return undefined;
      i++;
    }
    if (i >= e) return undefined;
    dne = i;
    i++;
    while (i < e && ((c = b[i]!) === 0x20 || c === 0x09)) i++;
    if (i >= e || c !== 0x3c) return undefined;
  } else if (c !== 0x3c) {
    // Unquoted display name: *(token LWS) up to the `<`, trimmed.
    dns = i;
    while (i < e && ((c = b[i]!) === 0x20 || c === 0x09 || tok[c] === 1)) {
      if (c !== 0x20 && c !== 0x09) dne = i + 1;
      i++;
    }
    if (i >= e || c !== 0x3c) return undefined;
  }
  i++;
  const us = i;
  while (i + 4 <= e && (uric[b[i]!]! & uric[b[i + 1]!]! & uric[b[i + 2]!]! & uric[b[i + 3]!]!) === 1) i += 4;
  while (uric[b[i]!] === 1) i++;
  const ue = i;
  if (i >= e || ue === us || b[i] !== 0x3e) return undefined;
  i++;
  let ps = -1;
  let ts = -1;
  let te = -1;
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
      if (nl === 3 && (b[ns]! | 0x20) === 0x74 && (b[ns + 1]! | 0x20) === 0x61 && (b[ns + 2]! | 0x20) === 0x67) {
        ts = vs;
        te = ve;
      }
      if (i === e) break;
      if (b[i] !== 0x3b) return undefined;
      i++;
    }
  }
  return NameAddr.lazy(field, src, dns, dne, us, ue, ps, e, ts, te);
}
