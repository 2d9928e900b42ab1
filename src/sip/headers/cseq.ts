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

/** Parses `CSeq: 101 INVITE`; the number must fit in 32 bits (RFC 4475 §3.1.2.4 scalar02). */
export function parseCSeq(value: string): CSeq {
  const m = /^\s*([0-9]{1,10})\s+(\S+)\s*$/.exec(value);
  if (!m) throw new SipParseError('SIP_ERR_CSEQ', 400, 'CSeq', 'Malformed CSeq');
  const seq = Number(m[1]);
  if (seq > 0xffffffff) throw new SipParseError('SIP_ERR_CSEQ', 400, 'CSeq', 'CSeq number exceeds 2**32-1');
  if (!isToken(m[2]!)) throw new SipParseError('SIP_ERR_CSEQ', 400, 'CSeq', 'CSeq method is not a token');
  return { seq, method: m[2]! };
}
