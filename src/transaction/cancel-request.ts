/**
 * CANCEL construction (RFC 3261 §9.1), offered to the UAC core and the proxy core.
 *
 * @remarks Layer 3 (`transaction/`). The CANCEL is sent through its own non-INVITE client
 * transaction ({@link TransactionLayer.sendRequest}); it MUST NOT be sent before a provisional
 * response was received for the INVITE (§9.1), which is the caller's check.
 */
import { type HeaderList, type SipRequest, buildRequest } from '../sip/index.js';

/**
 * Request-URI, Call-ID, To, From, CSeq number and the single top Via (same branch) of the
 * INVITE, method CANCEL, the INVITE's Route headers, Max-Forwards 70 (RFC 3261 §9.1).
 */
export function buildCancel(invite: SipRequest, extraHeaders: HeaderList = []): SipRequest {
  const headers: HeaderList = [];
  const topVia = invite.viaValues()[0];
  if (topVia !== undefined) headers.push(['Via', topVia]);
  for (const route of invite.headers('Route')) headers.push(['Route', route]);
  headers.push(['Max-Forwards', '70']);
  const from = invite.header('From');
  if (from !== undefined) headers.push(['From', from]);
  const to = invite.header('To');
  if (to !== undefined) headers.push(['To', to]);
  headers.push(['Call-ID', invite.callId]);
  headers.push(['CSeq', `${invite.cseq.seq} CANCEL`]);
  headers.push(...extraHeaders);
  return buildRequest({ method: 'CANCEL', uri: invite.uriText, headers });
}
