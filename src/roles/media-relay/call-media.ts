/**
 * The media relay of one call through the B2BUA: rtpengine sees the two legs as one call (leg A's
 * Call-ID), the caller's side under its From tag and the callee's under a tag of ours. Each SDP
 * the B2BUA takes from a leg goes through here before the other leg gets anything made of it:
 * an offer from a side becomes `offer` with that side's tag, an answer `answer` with the
 * offerer's tag as from-tag (rtpengine's vocabulary, see media-relay.ts). Results are kept per
 * SDP, so the same description in a 183 and a 200 costs one command.
 *
 * @remarks Role (`roles/media-relay`).
 */
import type { SipRequest } from '../../sip/index.js';
import { isPrivateAddress, natReason } from '../../tu/index.js';
import { type MediaRelay, type SdpSource, connectionAddress, sdpOf } from './media-relay.js';

export type CallSide = 'caller' | 'callee';

const MAX_KEPT = 8;

export class CallMedia {
  private readonly kept = new Map<string, Promise<string>>();
  private ended = false;

  constructor(
    private readonly relay: MediaRelay,
    /** Leg A's Call-ID: rtpengine's call. */
    readonly callId: string,
    private readonly callerTag: string,
    /** Why the call is relayed (for the log). */
    readonly why: string,
  ) {}

  private tagOf(side: CallSide): string {
    return side === 'caller' ? this.callerTag : `${this.callerTag}-callee`;
  }

  /** An offer from `side`: the SDP the other side gets. */
  offer(side: CallSide, sdp: string, source?: SdpSource): Promise<string> {
    // A new offer makes every answer new again, even one whose text is unchanged (RFC 3264 §8).
    for (const k of [...this.kept.keys()]) if (k.startsWith('a')) this.kept.delete(k);
    return this.once(`o${side}\n${sdp}`, sdp, () => this.relay.offer({ callId: this.callId, fromTag: this.tagOf(side), sdp, source }));
  }

  /** An answer from `side` to the other side's offer: the SDP the offerer gets. */
  answer(side: CallSide, sdp: string, source?: SdpSource): Promise<string> {
    const other: CallSide = side === 'caller' ? 'callee' : 'caller';
    return this.once(`a${side}\n${sdp}`, sdp, () => this.relay.answer({ callId: this.callId, fromTag: this.tagOf(other), toTag: this.tagOf(side), sdp, source }));
  }

  /** The instance serving the call (for the log). */
  get instance(): string | undefined {
    return this.relay.instanceOf(this.callId);
  }

  /** Why a command failed (counted), for the log. */
  failed(e: unknown): string {
    return this.relay.failed(e);
  }

  /** The call is over: rtpengine lets it go (once). */
  end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.kept.clear();
    void this.relay.delete(this.callId, why);
  }

  private once(key: string, sdp: string, run: () => Promise<string>): Promise<string> {
    // After the end, nothing more is sent: a late SDP would open a call nobody deletes.
    if (this.ended) return Promise.resolve(sdp);
    let p = this.kept.get(key);
    if (p === undefined) {
      if (this.kept.size >= MAX_KEPT) this.kept.delete(this.kept.keys().next().value!);
      p = run();
      // A failure is not kept: the next message may try again.
      p.catch(() => this.kept.delete(key));
      this.kept.set(key, p);
    }
    return p;
  }
}

/**
 * Why a call whose INVITE is `req` goes through the relay (`relay: nat`: a party behind a NAT),
 * or undefined. `callee` names a callee reached over its NAT flow, if any.
 */
export function relayReason(mode: 'nat' | 'always', req: SipRequest, callee?: string): string | undefined {
  if (mode === 'always') return 'relay: always';
  const caller = natReason(req);
  if (caller !== undefined) return `caller behind NAT: ${caller}`;
  const sdp = sdpOf(req);
  const c = sdp === undefined ? undefined : connectionAddress(sdp);
  if (c !== undefined && req.source && isPrivateAddress(c) && c !== req.source.address) return `caller's SDP names the private address ${c}, the INVITE came from ${req.source.address}`;
  if (callee !== undefined) return `callee ${callee} is reached over its NAT flow`;
  return undefined;
}
