/**
 * An INVITE received outside a dialog, waiting for the application's decision.
 *
 * @remarks Role (`roles/user-agent`). `ua.on('invite', (inv) => inv.accept(answerSdp))`; a
 * façade over `usage/invite`'s {@link ServerInviteSession}.
 */
import type { HeaderList, SipRequest } from '../../sip/index.js';
import type { ServerInviteSession } from '../../usage/index.js';
import type { Call } from './call.js';

export class IncomingCall {
  constructor(
    readonly request: SipRequest,
    readonly call: Call,
    private readonly session: ServerInviteSession,
    private readonly accepted: (call: Call) => void,
  ) {}

  /** Set once a final response was sent. */
  get answered(): boolean {
    return this.session.answered;
  }

  /** The offer in the INVITE, or undefined for a delayed offer (RFC 3261 §13.2.1). */
  get offer(): string | undefined {
    return this.session.offer;
  }

  /**
   * 180 Ringing, or 183 Session Progress with early media SDP. `{ reliable: true }` sends it
   * reliably (RFC 3262: `Require: 100rel`, RSeq, retransmitted until the caller's PRACK) when the
   * INVITE supports it; an INVITE that requires it gets every provisional reliably anyway.
   */
  progress(status = 180, sdp?: string, opts: { reliable?: boolean } = {}): void {
    this.session.progress(status, sdp, opts);
  }

  /**
   * 200 OK. `sdp` defaults to an answer computed from the offer (or, for a delayed offer, our
   * offer, answered in the ACK); an offer with nothing acceptable is rejected with 488.
   * `headers` go in the 200 too (e.g. Call-Info offering NOTIFY-based DTMF relay).
   */
  accept(sdp?: string, opts: { headers?: HeaderList } = {}): Call {
    if (this.session.accept(sdp, opts.headers)) this.accepted(this.call);
    return this.call;
  }

  /** A final error response: 486 Busy Here, 603 Decline, 488 … (`headers`: e.g. a Reason, RFC 3326). */
  reject(status = 486, reason?: string, headers?: HeaderList): void {
    this.session.reject(status, reason, headers);
  }
}
