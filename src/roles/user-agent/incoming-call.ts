/**
 * An INVITE received outside a dialog, waiting for the application's decision.
 *
 * @remarks Role (`roles/user-agent`). `ua.on('invite', (inv) => inv.accept(answerSdp))`.
 */
import type { SipRequest } from '../../sip/index.js';
import type { Call } from './call.js';

export interface IncomingCallOwner {
  progress(inv: IncomingCall, status: number, sdp?: string): void;
  accept(inv: IncomingCall, sdp?: string): Call;
  reject(inv: IncomingCall, status: number, reason?: string): void;
}

export class IncomingCall {
  /** Set once a final response was sent. */
  answered = false;
  constructor(
    readonly request: SipRequest,
    readonly call: Call,
    private readonly owner: IncomingCallOwner,
  ) {}

  /** The offer in the INVITE, or undefined for a delayed offer (RFC 3261 §13.2.1). */
  get offer(): string | undefined {
    return this.request.body.length > 0 ? this.request.body.toString('utf8') : undefined;
  }

  /** 180 Ringing, or 183 Session Progress with early media SDP. */
  progress(status = 180, sdp?: string): void {
    this.owner.progress(this, status, sdp);
  }

  /**
   * 200 OK. `sdp` defaults to an answer computed from the offer (or, for a delayed offer, our
   * offer, answered in the ACK).
   */
  accept(sdp?: string): Call {
    return this.owner.accept(this, sdp);
  }

  /** A final error response: 486 Busy Here, 603 Decline, 488 … */
  reject(status = 486, reason?: string): void {
    this.owner.reject(this, status, reason);
  }
}
