/**
 * The offer/answer state machine (RFC 3264 §4, RFC 6337 §3): which exchanges are legal in
 * which state. The invite sessions of `usage/invite` keep one per session.
 *
 * @remarks SDP leaf (`sdp/`).
 */
import { SipError } from '../util/errors.js';

// ---------------------------------------------------------------------------
// Offer/answer state (RFC 3264 §4, RFC 6337 §3)
// ---------------------------------------------------------------------------

/** Offer/answer state of a session, named after the WebRTC/pion signaling states. */
export type SignalingState = 'stable' | 'have-local-offer' | 'have-remote-offer';
/** Applying a description we generated ('set-local') or received ('set-remote'). */
export type SignalingOperation = 'set-local' | 'set-remote';
/** Whether the description is an offer or an answer. */
export type SdpKind = 'offer' | 'answer';

/** Thrown by {@link checkTransition} for an offer/answer exchange out of order. */
export class InvalidStateError extends SipError {
  /** Stable machine-readable code. */
  declare readonly code: 'SIP_ERR_INVALID_STATE';
  readonly state: SignalingState;
  readonly op: SignalingOperation;
  readonly kind: SdpKind;

  constructor(state: SignalingState, op: SignalingOperation, kind: SdpKind, reason: string) {
    super('SIP_ERR_INVALID_STATE', `cannot ${op} ${kind} in state ${state}: ${reason}`);
    this.name = 'InvalidStateError';
    this.state = state;
    this.op = op;
    this.kind = kind;
  }
}

/**
 * Validate an offer/answer step and return the next state.
 *
 * - stable + set-local offer → have-local-offer (RFC 3264 §4: we sent an offer)
 * - stable + set-remote offer → have-remote-offer (we received one)
 * - have-local-offer + set-remote answer → stable (RFC 3264 §7)
 * - have-remote-offer + set-local answer → stable (RFC 3264 §6)
 *
 * Everything else throws {@link InvalidStateError}. In particular RFC 3264 §4
 * and RFC 6337 §3.1 forbid a new offer while one is outstanding: a remote
 * offer in have-local-offer is glare (answer 491, RFC 3261 §14.2), and a
 * remote offer in have-remote-offer means the peer re-offered before our
 * answer (answer 500, RFC 3261 §14.2). An answer in stable has no offer to
 * match (RFC 6337 §3.1).
 */
export function checkTransition(state: SignalingState, op: SignalingOperation, kind: SdpKind): SignalingState {
  switch (state) {
    case 'stable':
      if (kind === 'offer') return op === 'set-local' ? 'have-local-offer' : 'have-remote-offer';
      throw new InvalidStateError(state, op, kind, 'no offer is outstanding (RFC 6337 §3.1)');
    case 'have-local-offer':
      if (op === 'set-remote' && kind === 'answer') return 'stable';
      throw new InvalidStateError(
        state, op, kind,
        op === 'set-remote'
          ? 'glare: offer received while ours is outstanding (RFC 3261 §14.2, respond 491)'
          : kind === 'offer'
            ? 'our previous offer has not been answered (RFC 3264 §4)'
            : 'we cannot answer our own offer',
      );
    case 'have-remote-offer':
      if (op === 'set-local' && kind === 'answer') return 'stable';
      throw new InvalidStateError(
        state, op, kind,
        op === 'set-local'
          ? 'a remote offer awaits our answer; we may not offer now (RFC 3264 §4)'
          : kind === 'offer'
            ? 'peer sent a new offer before our answer (RFC 3261 §14.2, respond 500)'
            : 'the peer cannot answer its own offer',
      );
  }
}
