/**
 * The offer/answer state of one session (RFC 3264 §4, RFC 3261 §13.2.1, RFC 6337 §3): which
 * side has an offer open, and which transaction carries it — so that the answer is looked for in
 * the right message (the 2xx of an INVITE that offered, the ACK of a 2xx that offered, later the
 * PRACK of a reliable 18x or the 2xx of an UPDATE), and an offer that crosses ours is glare.
 *
 * @remarks Usage layer (`usage/invite`). The transitions are `sdp/`'s {@link checkTransition};
 * this adds what the SIP messages need: the carrier, and the descriptions in force.
 */
import { type SignalingState, checkTransition } from '../../sdp/index.js';

/** The message that carries an offer: its method and CSeq number (RFC 3261 §13.2.1). */
export interface OfferCarrier {
  method: string;
  cseq: number;
  /** The offer came in a response (a 2xx to an INVITE without SDP, a reliable 18x). */
  inResponse?: boolean;
}

export class SessionOfferAnswer {
  private st: SignalingState = 'stable';
  private carrier: OfferCarrier | undefined;
  private pendingSdp: string | undefined;
  /** The last description we sent that is in force (an offer answered, or our answer). */
  localSdp: string | undefined;
  /** The last description the peer sent that is in force. */
  remoteSdp: string | undefined;

  get state(): SignalingState {
    return this.st;
  }

  /** The transaction that carries the open offer (undefined when stable). */
  get openOffer(): OfferCarrier | undefined {
    return this.carrier;
  }

  /** We send an offer in `carrier`. Throws InvalidStateError when one is open (RFC 3264 §4). */
  localOffer(sdp: string, carrier: OfferCarrier): void {
    this.st = checkTransition(this.st, 'set-local', 'offer');
    this.carrier = carrier;
    this.pendingSdp = sdp;
  }

  /** The peer's offer arrived in `carrier`. Throws InvalidStateError on glare (§14.2: 491) or a second offer (500). */
  remoteOffer(sdp: string, carrier: OfferCarrier): void {
    this.st = checkTransition(this.st, 'set-remote', 'offer');
    this.carrier = carrier;
    this.pendingSdp = sdp;
  }

  /** Our answer to the open remote offer: both descriptions are now in force. */
  localAnswer(sdp: string): void {
    this.st = checkTransition(this.st, 'set-local', 'answer');
    this.remoteSdp = this.pendingSdp;
    this.localSdp = sdp;
    this.close();
  }

  /** The peer's answer to our open offer. */
  remoteAnswer(sdp: string): void {
    this.st = checkTransition(this.st, 'set-remote', 'answer');
    this.localSdp = this.pendingSdp;
    this.remoteSdp = sdp;
    this.close();
  }

  /**
   * The transaction that carried the open offer failed (a non-2xx to a re-INVITE, RFC 3261
   * §14.1; a rejected UPDATE, RFC 3311 §5.2): the session goes on with the descriptions it had.
   */
  rollback(carrier: { method: string; cseq: number }): void {
    if (this.carrier !== undefined && this.carrier.method === carrier.method && this.carrier.cseq === carrier.cseq) this.close();
  }

  /** Is the open offer carried by this request's transaction? */
  carriedBy(method: string, cseq: number): boolean {
    return this.carrier !== undefined && this.carrier.method === method && this.carrier.cseq === cseq;
  }

  /** The open offer's description (ours or the peer's). */
  get offerSdp(): string | undefined {
    return this.pendingSdp;
  }

  private close(): void {
    this.st = 'stable';
    this.carrier = undefined;
    this.pendingSdp = undefined;
  }
}
