/**
 * Canonical header names and compact forms (RFC 3261 §7.3.3, §20; RFC 3265, 3515, 4028 …).
 *
 * @remarks Layer 1 (`sip/`). The scanner recognises the routing headers by their bytes; other
 * names are identified by a case-insensitive hash of their bytes when first looked up, so no
 * string is allocated per header line on the hot path.
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
 * Case-insensitive FNV-1a hash of a header name, cut to 30 bits (a V8 small integer). Bytes are
 * folded with `| 0x20`: among token characters (all of which but `_` already have that bit)
 * it merges only the two cases of a letter.
 */
export function hashNameBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    h = Math.imul(h ^ (c | 0x20), 0x01000193);
  }
  return h & 0x3fffffff; // a Smi, so the index stays an array of small integers
}

/** Same hash over a JS string. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    h = Math.imul(h ^ (c | 0x20), 0x01000193);
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

/*
 * Routing slots. While scanning, the parser records the value of the first line of each routing
 * header in a small array of ROUTING_SIZE numbers: at `2 * slot` the value start (-1 when the
 * header is absent), at `2 * slot + 1` the value end; then a bit mask of the routing headers
 * seen more than once, and whether any line is folded (a folded value's byte range holds a line
 * break, see SipMessage.isFolded). Every other header line is indexed only when someone looks
 * one up by name (see indexHeaderLines).
 */
export const F_VIA = 0;
export const F_FROM = 1;
export const F_TO = 2;
export const F_CALLID = 3;
export const F_CSEQ = 4;
export const F_MAXFWD = 5;
export const F_CONTACT = 6;
export const F_CL = 7;
/** Number of routing slots. */
export const F_COUNT = 8;
/** Position of the duplicate mask (bit = routing slot number). */
export const R_DUP = 16;
/** Position of the "some header line is folded" flag (0 or 1). */
export const R_FOLD = 17;
export const ROUTING_SIZE = 18;

/** Stride of the lazily built header-line index: nameStart, nameEnd, valueStart, valueEnd. */
export const HEADER_STRIDE = 4;

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
