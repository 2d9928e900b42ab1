/**
 * The ACK for a non-2xx final response, built by the INVITE client transaction
 * (RFC 3261 §17.1.1.3).
 *
 * @remarks Layer 3 (`transaction/`). Called by {@link InviteClientTransaction}. The ACK for a
 * 2xx is a separate transaction-less request built by the UAC core (§13.2.2.4), not here.
 */
import { type HeaderList, type SipRequest, type SipResponse, buildRequest } from '../sip/index.js';

/**
 * Request-URI, Call-ID, From and the top Via (only) of the INVITE; To of the response (it
 * carries the tag); CSeq number of the INVITE with method ACK; the INVITE's Route headers;
 * Max-Forwards 70 (RFC 3261 §17.1.1.3, §8.1.1.6).
 */
export function buildAckForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  const headers: HeaderList = [];
  const topVia = invite.viaValues()[0];
  if (topVia !== undefined) headers.push(['Via', topVia]);
  for (const route of invite.headers('Route')) headers.push(['Route', route]);
  headers.push(['Max-Forwards', '70']);
  const from = invite.header('From');
  if (from !== undefined) headers.push(['From', from]);
  const to = response.header('To') ?? invite.header('To');
  if (to !== undefined) headers.push(['To', to]);
  headers.push(['Call-ID', invite.callId]);
  headers.push(['CSeq', `${invite.cseq.seq} ACK`]);
  return buildRequest({ method: 'ACK', uri: invite.uriText, headers });
}
