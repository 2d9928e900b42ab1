/**
 * Synthetic responses: how timeouts and transport failures reach the TU as values
 * (RFC 3261 §8.1.3.1, §17.1.1.2, §17.1.2.2; STYLE §8.4, §13).
 *
 * @remarks Layer 3 (`transaction/`). Created by the client transactions; the TU may ask
 * {@link syntheticCause} whether a 408/503 came from the network or from us.
 */
import { type SipRequest, type SipResponse, createResponse } from '../sip/index.js';

/** Why a response was made up locally. */
export type SyntheticCause = 'timeout' | 'transport-error';

const causes = new WeakMap<SipResponse, SyntheticCause>();

/** Builds a local response to `request` (no To tag: no dialog is created by it). */
export function synthesizeResponse(request: SipRequest, cause: SyntheticCause): SipResponse {
  const res =
    cause === 'timeout'
      ? createResponse(request, 408, { reason: 'Request Timeout' }) // RFC 3261 §17.1.1.2, §17.1.2.2
      : createResponse(request, 503, { reason: 'Service Unavailable' }); // RFC 3261 §8.1.3.1
  causes.set(res, cause);
  return res;
}

/** The cause of a synthetic response, or undefined for a response that came off the wire. */
export function syntheticCause(response: SipResponse): SyntheticCause | undefined {
  return causes.get(response);
}
