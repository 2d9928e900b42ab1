/**
 * Where a response goes and what a stateless one carries (RFC 3261 §18.2.1, §18.2.2, §8.2.7;
 * RFC 3581): the `received`/`rport` of a request, the destination of its responses over UDP, and
 * the To tag of a stateless answer.
 *
 * @remarks Layer 2 (`transport/`).
 */
import { createHash } from 'node:crypto';
import type { SipRequest } from '../sip/index.js';

/** RFC 3261 §18.2.1 / RFC 3581 §4: note where the request really came from (`received`, `rport`). */
export function noteReceived(msg: SipRequest, address: string, port: number): void {
  const via = msg.topVia;
  const addReceived = via.hostname !== address;
  if (addReceived || via.rport === null) {
    const v = via.clone();
    if (addReceived || v.rport === null) v.params.set('received', address);
    if (v.rport === null) v.params.set('rport', String(port));
    msg.receivedTopVia = v.toString();
  }
}

/**
 * RFC 3261 §8.2.6.2: every response but 100 carries a To tag; §8.2.7: a stateless UAS makes
 * it the same for a retransmitted request, so it is a hash of the request's identifying
 * header values (read raw: they may be what failed to parse). None when the To has a tag.
 */
export function statelessToTag(req: SipRequest): string | undefined {
  try {
    const to = req.header('To');
    if (to === undefined || /;\s*tag\s*=/i.test(to)) return undefined;
    if (to.replace(/\\./g, '').split('"').length % 2 === 0) return undefined; // unterminated quote: a tag would land inside it
    const h = createHash('sha256');
    for (const v of [req.viaValues()[0], req.header('From'), to, req.header('Call-ID'), req.header('CSeq')]) h.update(`${v ?? ''}\0`);
    return h.digest('hex').slice(0, 16);
  } catch {
    return undefined;
  }
}

/**
 * Whether the top Via names a host to answer (RFC 3261 §18.2.2): it parses, or at least its
 * `sent-protocol sent-by` prefix does (the parameters after it may be what failed).
 */
export function hasReadableSentBy(req: SipRequest): boolean {
  try {
    req.topVia;
    return true;
  } catch {
    const v = req.header('Via') ?? '';
    return /^SIP\s*\/\s*2\.0\s*\/\s*[A-Za-z0-9.!%*_+`'~-]+\s+(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?\s*(?:[;,]|$)/.test(v);
  }
}

/** RFC 3261 §18.2.2 with RFC 3581 §4 (rport): where a UDP response goes. */
export function responseTarget(req: SipRequest): { address: string; port: number } {
  const src = req.source!;
  let via;
  try {
    via = req.topVia;
  } catch {
    return { address: src.address, port: src.port }; // unreadable Via: answer where it came from
  }
  if (via.rport !== undefined) return { address: src.address, port: src.port };
  const isSelf = via.hostname === src.address;
  return { address: isSelf ? via.hostname : src.address, port: via.port ?? (src.transport === 'tls' ? 5061 : 5060) };
}

