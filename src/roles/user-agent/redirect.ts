/**
 * The targets a 3xx redirects to (RFC 3261 §8.1.3.4): its SIP Contacts, highest q first; used by
 * `switchboard call --follow-redirects` and the gateway's `redirection`.
 *
 * @remarks Role (`roles/user-agent`).
 */
import { type SipResponse, parseNameAddrList } from '../../sip/index.js';

/** The SIP Contacts of a 3xx, highest q first (RFC 3261 §8.1.3.4); none when they do not parse. */
export function redirectTargets(res: SipResponse): string[] {
  let contacts;
  try {
    contacts = parseNameAddrList(res.headerValues('Contact'), 'Contact');
  } catch {
    return [];
  }
  return contacts
    .filter((c) => c.uri.kind === 'sip')
    .map((c, i) => ({ uri: c.uri.toString(), q: Number(c.params.get('q') ?? '1'), i }))
    .sort((a, b) => (Number.isFinite(b.q) ? b.q : 1) - (Number.isFinite(a.q) ? a.q : 1) || a.i - b.i)
    .map((c) => c.uri);
}
