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
  return h >>> 0;
}

/** Same hash over a JS string. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
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
