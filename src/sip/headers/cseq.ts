/**
 * CSeq (RFC 3261 §20.16): a 32-bit sequence number and the method.
 *
 * @remarks Layer 1 (`sip/`). Part of the routing set.
 */
import { SipParseError } from '../errors.js';
import { isToken } from './params.js';

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

/**
 * Parses `CSeq: 101 INVITE`. The sequence number must be below 2**31 (RFC 3261 §8.1.1.5), which
 * also rejects RFC 4475 §3.1.2.4 scalar02's 2**65.
 */
export function parseCSeq(value: string): CSeq {
  // Hand-written form of /^\s*([0-9]{1,10})\s+(\S+)\s*$/ for ASCII values (the hot path).
  const n = value.length;
  let i = 0;
  let c = 0;
  while (i < n && isSpace((c = value.charCodeAt(i)))) i++;
  const ds = i;
  let seq = 0;
  while (i < n && (c = value.charCodeAt(i)) >= 0x30 && c <= 0x39) {
    seq = seq * 10 + (c - 0x30);
    i++;
  }
  const digits = i - ds;
  const ws = i;
  while (i < n && isSpace((c = value.charCodeAt(i)))) i++;
  const ms = i;
  while (i < n && (c = value.charCodeAt(i)) <= 0x7f && !isSpace(c)) i++;
  const me = i;
  while (i < n && isSpace((c = value.charCodeAt(i)))) i++;
  if (i < n) {
    // Something else: non-ASCII (Unicode \s / \S) or junk; let the regex decide.
    for (let k = 0; k < n; k++) if (value.charCodeAt(k) > 0x7f) return parseCSeqRegex(value);
    throw malformed();
  }
  if (digits === 0 || digits > 10 || ms === ws || me === ms) throw malformed();
  return checked(seq, value.slice(ms, me));
}

/** RFC 3261 §8.1.1.5: "the sequence number value MUST be expressible as a 32-bit unsigned integer and MUST be less than 2**31". */
export const MAX_SEQ = 0x7fffffff;

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function malformed(): SipParseError {
  return new SipParseError('SIP_ERR_CSEQ', 400, 'CSeq', 'Malformed CSeq');
}

function checked(seq: number, method: string): CSeq {
  if (seq > MAX_SEQ) throw new SipParseError('SIP_ERR_CSEQ', 400, 'CSeq', 'CSeq sequence number is not below 2**31');
  if (!isToken(method)) throw new SipParseError('SIP_ERR_CSEQ', 400, 'CSeq', 'CSeq method is not a token');
  return { seq, method };
}

function parseCSeqRegex(value: string): CSeq {
  const m = /^\s*([0-9]{1,10})\s+(\S+)\s*$/.exec(value);
  if (!m) throw malformed();
  return checked(Number(m[1]), m[2]!);
}
