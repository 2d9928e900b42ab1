/**
 * Canonical header names and compact forms (RFC 3261 §7.3.3, §20; RFC 3265, 3515, 4028 …).
 *
 * @remarks Layer 1 (`sip/`). The scanner identifies header names by a case-insensitive
 * hash of their bytes, so no string is allocated per header line on the hot path.
 */

/** Compact form → canonical name. */
export const COMPACT_FORMS: Readonly<Record<string, string>> = {
  i: 'Call-ID', m: 'Contact', v: 'Via', f: 'From', t: 'To', l: 'Content-Length', k: 'Supported',
  c: 'Content-Type', s: 'Subject', e: 'Content-Encoding', o: 'Event', u: 'Allow-Events',
  r: 'Refer-To', x: 'Session-Expires', y: 'Identity', b: 'Referred-By', a: 'Accept-Contact',
  j: 'Reject-Contact', d: 'Request-Disposition',
};

const CANONICAL = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition',
  'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Error-Info',
  'Event', 'Expires', 'From', 'Identity', 'In-Reply-To', 'Max-Forwards', 'Min-Expires', 'Min-SE',
  'MIME-Version', 'Organization', 'P-Asserted-Identity', 'Path', 'Priority', 'Privacy', 'Proxy-Authenticate',
  'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason', 'Record-Route', 'Refer-To', 'Referred-By',
  'Reject-Contact', 'Reply-To', 'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq',
  'Server', 'Service-Route', 'Session-Expires', 'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State',
  'Supported', 'Timestamp', 'To', 'Unsupported', 'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
];

const canonicalByLower = new Map<string, string>();
for (const n of CANONICAL) canonicalByLower.set(n.toLowerCase(), n);

/** Canonical spelling for a header name in any case or compact form. */
export function canonicalHeaderName(name: string): string {
  if (name.length === 1) {
    const full = COMPACT_FORMS[name.toLowerCase()];
    if (full) return full;
  }
  return canonicalByLower.get(name.toLowerCase()) ?? name;
}

/**
 * Case-insensitive FNV-1a hash of a header name. Letters are folded with `| 0x20`; header
 * names are tokens, so the fold never merges two distinct token characters except letters.
 */
export function hashNameBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    let c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h & 0x3fffffff; // a Smi, so the index stays an array of small integers
}

/** Same hash over a JS string. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h & 0x3fffffff; // a Smi, so the index stays an array of small integers
}

/** Compact-form hash → hash of the full name, so `v:` and `Via:` share one key. */
export const COMPACT_HASH_TO_FULL = new Map<number, number>();
for (const [c, full] of Object.entries(COMPACT_FORMS)) COMPACT_HASH_TO_FULL.set(hashName(c), hashName(full));

const keyCache = new Map<string, number>();

/** The lookup key (hash of the full lower-case name) for a name given in any form. */
export function headerKey(name: string): number {
  let k = keyCache.get(name);
  if (k === undefined) {
    k = hashName(canonicalHeaderName(name));
    if (keyCache.size < 4096) keyCache.set(name, k);
  }
  return k;
}

/** Keys of the headers the hot path reads. */
export const H = {
  via: hashName('via'),
  from: hashName('from'),
  to: hashName('to'),
  callId: hashName('call-id'),
  cseq: hashName('cseq'),
  maxForwards: hashName('max-forwards'),
  contentLength: hashName('content-length'),
  contentType: hashName('content-type'),
  contact: hashName('contact'),
  route: hashName('route'),
  recordRoute: hashName('record-route'),
  require: hashName('require'),
  proxyRequire: hashName('proxy-require'),
  expires: hashName('expires'),
} as const;

/** Stride of the flat header index: key, nameStart, nameEnd, valueStart, valueEnd, folded. */
export const HEADER_STRIDE = 6;

/*
 * The index starts with HEADER_BASE fixed slots: the index position of the first line of each
 * routing header (-1 when absent), a bit mask of the routing headers seen more than once, and
 * a flag telling whether every line's key has been computed (see SipMessage).
 */
export const F_VIA = 0;
export const F_FROM = 1;
export const F_TO = 2;
export const F_CALLID = 3;
export const F_CSEQ = 4;
export const F_MAXFWD = 5;
export const F_CONTACT = 6;
export const F_CL = 7;
/** Number of fixed routing slots. */
export const F_COUNT = 8;
/** Slot of the duplicate mask (bit = routing slot number). */
export const F_DUP = 8;
/** Slot of the "all keys computed" flag. */
export const F_KEYS = 9;
export const HEADER_BASE = 10;

/**
 * Keys by slot number as returned by {@link routingSlot}: the fixed slots, then the other names
 * the scanner recognises (their lines get their key while scanning, but no fixed slot).
 */
export const SLOT_KEYS: readonly number[] = [
  H.via, H.from, H.to, H.callId, H.cseq, H.maxForwards, H.contact, H.contentLength,
  H.route, H.recordRoute, H.contentType,
];
const S_ROUTE = 8;
const S_RECORD_ROUTE = 9;
const S_CONTENT_TYPE = 10;

/** Keys whose lines always carry their key after scanning (no lazy hashing needed). */
export const SCANNED_KEYS: ReadonlySet<number> = new Set(SLOT_KEYS);

/** True when the `n` bytes at `p` spell `lower` in any letter case (`lower` is lower-case). */
function nameIs(buf: Uint8Array, p: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[p + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * The routing slot of a header name of `n` token bytes at `p` (case-insensitive, compact forms
 * included), or -1. Looks at the length and the first byte before comparing any string.
 */
export function routingSlot(buf: Uint8Array, p: number, n: number): number {
  const f = buf[p]! | 0x20;
  switch (n) {
    case 1:
      switch (f) {
        case 0x76: return F_VIA; // v
        case 0x66: return F_FROM; // f
        case 0x74: return F_TO; // t
        case 0x69: return F_CALLID; // i
        case 0x6d: return F_CONTACT; // m
        case 0x6c: return F_CL; // l
        case 0x63: return S_CONTENT_TYPE; // c
        default: return -1;
      }
    case 2:
      return f === 0x74 && (buf[p + 1]! | 0x20) === 0x6f ? F_TO : -1;
    case 3:
      return f === 0x76 && nameIs(buf, p, 'via') ? F_VIA : -1;
    case 4:
      if (f === 0x66) return nameIs(buf, p, 'from') ? F_FROM : -1;
      if (f === 0x63) return nameIs(buf, p, 'cseq') ? F_CSEQ : -1;
      return -1;
    case 5:
      return f === 0x72 && nameIs(buf, p, 'route') ? S_ROUTE : -1;
    case 7:
      if (f !== 0x63) return -1;
      if (nameIs(buf, p, 'call-id')) return F_CALLID;
      return nameIs(buf, p, 'contact') ? F_CONTACT : -1;
    case 12:
      if (f === 0x6d) return nameIs(buf, p, 'max-forwards') ? F_MAXFWD : -1;
      if (f === 0x72) return nameIs(buf, p, 'record-route') ? S_RECORD_ROUTE : -1;
      if (f === 0x63) return nameIs(buf, p, 'content-type') ? S_CONTENT_TYPE : -1;
      return -1;
    case 14:
      return f === 0x63 && nameIs(buf, p, 'content-length') ? F_CL : -1;
    default:
      return -1;
  }
}

/** The key of a header line's name bytes (compact forms mapped to the full name). */
export function lineKey(buf: Uint8Array, start: number, end: number): number {
  const h = hashNameBytes(buf, start, end);
  return end - start === 1 ? (COMPACT_HASH_TO_FULL.get(h) ?? h) : h;
}

const M_ACK = 'ACK';
const M_BYE = 'BYE';
const M_INFO = 'INFO';
const M_PRACK = 'PRACK';
const M_REFER = 'REFER';
const M_INVITE = 'INVITE';
const M_CANCEL = 'CANCEL';
const M_NOTIFY = 'NOTIFY';
const M_UPDATE = 'UPDATE';
const M_OPTIONS = 'OPTIONS';
const M_MESSAGE = 'MESSAGE';
const M_PUBLISH = 'PUBLISH';
const M_REGISTER = 'REGISTER';
const M_SUBSCRIBE = 'SUBSCRIBE';

function bytesAre(buf: Uint8Array, s: number, lit: string): boolean {
  for (let i = 1; i < lit.length; i++) if (buf[s + i] !== lit.charCodeAt(i)) return false;
  return true;
}

/**
 * The constant string of a known method (case-sensitive, RFC 3261 §7.1) spelled by the bytes
 * `[s, e)`, or undefined: no string is created for the common methods.
 */
export function internMethod(buf: Uint8Array, s: number, e: number): string | undefined {
  const c = buf[s];
  let m: string | undefined;
  switch (e - s) {
    case 3: m = c === 0x41 ? M_ACK : c === 0x42 ? M_BYE : undefined; break;
    case 4: m = c === 0x49 ? M_INFO : undefined; break;
    case 5: m = c === 0x50 ? M_PRACK : c === 0x52 ? M_REFER : undefined; break;
    case 6: m = c === 0x49 ? M_INVITE : c === 0x43 ? M_CANCEL : c === 0x4e ? M_NOTIFY : c === 0x55 ? M_UPDATE : undefined; break;
    case 7: m = c === 0x4f ? M_OPTIONS : c === 0x4d ? M_MESSAGE : c === 0x50 ? M_PUBLISH : undefined; break;
    case 8: m = c === 0x52 ? M_REGISTER : undefined; break;
    case 9: m = c === 0x53 ? M_SUBSCRIBE : undefined; break;
    default: return undefined;
  }
  return m !== undefined && bytesAre(buf, s, m) ? m : undefined;
}
