/**
 * What a registrar's 2xx to a REGISTER says about the binding (RFC 3261 §10.2.4).
 *
 * @remarks Role (`roles/user-agent`).
 */
import type { SipResponse } from '../../sip/index.js';

/** The interval the registrar granted (the Contact's `expires`, else Expires, else what was asked). */
export function grantedExpires(res: SipResponse, asked: number): number {
  try {
    for (const c of res.contact) {
      const e = c.param('expires');
      if (e && /^\d+$/.test(e)) return Number(e);
    }
  } catch {
    /* a malformed Contact in a 200: use Expires */
  }
  const h = res.header('Expires');
  return h && /^\d+$/.test(h.trim()) ? Number(h) : asked;
}
