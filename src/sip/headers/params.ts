/**
 * Generic `;name=value` parameter lists (RFC 3261 §25.1 `generic-param`).
 *
 * @remarks Layer 1 (`sip/`). Used by Via, name-addr headers, Contact and URIs.
 */
import { SipParseError } from '../errors.js';

/** Ordered parameters; names lower-cased for lookup, values kept as written (null = no value). */
export type Params = Map<string, string | null>;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Splits `s` on `sep` outside quoted strings and `<…>` brackets. Used for comma-separated
 * header values (RFC 3261 §7.3.1) and for parameter lists.
 */
export function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  const sepCode = sep.charCodeAt(0);
  let start = 0;
  let inQuote = false;
  let angle = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inQuote) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inQuote = false;
      continue;
    }
    if (c === QUOTE) inQuote = true;
    else if (c === 0x3c) angle++;
    else if (c === 0x3e && angle > 0) angle--;
    else if (c === sepCode && angle === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  if (inQuote) {
    throw new SipParseError('SIP_ERR_HEADER_VALUE', 400, 'quoted-string', 'Unterminated quoted string');
  }
  out.push(s.slice(start));
  return out;
}

/** 1 for RFC 3261 §25.1 `token` characters, indexed by char code (0–255). */
export const TOKEN: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    t[c] =
      (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
      c === 0x2d || c === 0x2e || c === 0x21 || c === 0x25 || c === 0x2a || c === 0x5f ||
      c === 0x2b || c === 0x60 || c === 0x27 || c === 0x7e
        ? 1
        : 0;
  }
  return t;
})();

/**
 * 1 for the bytes a parameter value may hold on the byte-level fast paths (Via, name-addr):
 * printable ASCII except `;` `,` `"` `<` `>` `=`. Anything else sends the value to the string
 * parser, which decides as it always did.
 */
export const PARAM_VALUE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x21; c < 0x7f; c++) t[c] = c === 0x3b || c === 0x2c || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x3d ? 0 : 1;
  return t;
})();

/**
 * True when the byte at `e` is a control character, SP or past the end of `b`. Such a byte is
 * in none of the byte classes the fast paths scan with (token, param value, URI, host), so a
 * scan of a value `[s, e)` stops at `e` without a bound check. Every value range the message
 * scanner records ends so: at a trimmed blank, the CR or LF of its line (RFC 3261 §7.3.1), or
 * the end of the datagram.
 */
export function endsBeforeControl(b: Uint8Array, e: number): boolean {
  return e >= b.length || b[e]! <= 0x20;
}

/** True for RFC 3261 §25.1 `token` characters. */
export function isTokenChar(c: number): boolean {
  return c < 256 && TOKEN[c] === 1;
}

/** True when `s` is a non-empty RFC 3261 token. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTokenChar(s.charCodeAt(i))) return false;
  return true;
}

/**
 * Parses `;a=b;c;d="q"` (the leading `;` already removed from the first element by the caller,
 * i.e. `parts` are the pieces after splitting on `;`). Empty parameters are malformed
 * (RFC 4475 §3.1.2.1 badinv01).
 */
export function parseParamList(parts: string[], field: string): Params {
  const params: Params = new Map();
  for (const raw of parts) addParam(params, raw, field);
  return params;
}

/**
 * Same as `parseParamList(splitOutsideQuotes(s, ';'), field)`, without the intermediate array
 * when `s` holds no quote or angle bracket (the common case on the hot path).
 */
export function parseParams(s: string, field: string): Params {
  if (s.indexOf('"') >= 0 || s.indexOf('<') >= 0) return parseParamList(splitOutsideQuotes(s, ';'), field);
  const params: Params = new Map();
  let start = 0;
  for (;;) {
    const semi = s.indexOf(';', start);
    if (semi < 0) {
      addParam(params, s.slice(start), field);
      return params;
    }
    addParam(params, s.slice(start, semi), field);
    start = semi + 1;
  }
}

function addParam(params: Params, raw: string, field: string): void {
  const p = raw.trim();
  if (p.length === 0) {
    throw new SipParseError('SIP_ERR_HEADER_VALUE', 400, field, `Empty parameter in ${field}`);
  }
  const eq = p.indexOf('=');
  let name: string;
  let value: string | null;
  if (eq < 0) {
    name = p;
    value = null;
  } else {
    name = p.slice(0, eq).trim();
    value = p.slice(eq + 1).trim();
    if (value.length === 0) {
      throw new SipParseError('SIP_ERR_HEADER_VALUE', 400, field, `Parameter ${name} of ${field} has no value`);
    }
    if (value.charCodeAt(0) === QUOTE) {
      if (value.length < 2 || value.charCodeAt(value.length - 1) !== QUOTE) {
        throw new SipParseError('SIP_ERR_HEADER_VALUE', 400, field, `Unterminated quoted parameter in ${field}`);
      }
    }
  }
  if (!isToken(name)) {
    throw new SipParseError('SIP_ERR_HEADER_VALUE', 400, field, `Bad parameter name in ${field}`);
  }
  params.set(lowerAscii(name), value);
}

/** `s.toLowerCase()` without allocating when `s` has no upper-case ASCII (tokens are ASCII). */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.toLowerCase();
  }
  return s;
}

/** True for the ASCII characters of the regex class `\s`. */
function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** Same result as `/\s/.test(s)`, without the regex for ASCII strings. */
export function hasWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return /\s/.test(s);
    if (isAsciiSpace(c)) return true;
  }
  return false;
}

/** Same result as `/^[0-9]{min,max}$/.test(s)`. */
export function isDigits(s: string, min: number, max: number): boolean {
  const n = s.length;
  if (n < min || n > max) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** Serialises parameters back to `;a=b;c` form. */
export function formatParams(params: Params): string {
  let s = '';
  for (const [k, v] of params) s += v === null ? `;${k}` : `;${k}=${v}`;
  return s;
}

/** Removes surrounding quotes and backslash escapes from a quoted-string (RFC 3261 §25.1). */
export function unquote(s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== QUOTE || s.charCodeAt(s.length - 1) !== QUOTE) return s;
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length - 1) {
      out += s[++i];
    } else out += c;
  }
  return out;
}

/** Quotes a string as an RFC 3261 quoted-string, escaping `"` and `\`. */
export function quote(s: string): string {
  return '"' + s.replace(/(["\\])/g, '\\$1') + '"';
}
