/**
 * Callbacks from a transaction to its Transaction User (RFC 3261 §17: the TU is the UAC/UAS
 * core, a proxy core or a dialog usage).
 *
 * @remarks Layer 3 (`transaction/`). Implemented by `tu/` and `dialog/`. Protocol outcomes are
 * values (STYLE §8.4): a Timer B/F timeout reaches {@link ClientTransactionUser.onResponse} as a
 * synthetic 408 and a transport failure as a synthetic 503 (RFC 3261 §8.1.3.1); use
 * `syntheticCause(res)` to tell them from received responses.
 */
import type { SipRequest, SipResponse } from '../sip/index.js';
import type { InviteClientTransaction } from './invite-client-transaction.js';
import type { InviteServerTransaction } from './invite-server-transaction.js';
import type { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import type { NonInviteServerTransaction } from './non-invite-server-transaction.js';

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
export type Transaction = ClientTransaction | ServerTransaction;

/** The TU of a client transaction (UAC core, proxy core branch). */
export interface ClientTransactionUser {
  /**
   * Every response the TU must see: provisional and final responses as received (for the ICT
   * also every 2xx in Accepted, RFC 6026 §7.2: the TU ACKs each), plus the synthetic 408
   * (Timer B/F) and 503 (transport error). The ACK for a non-2xx was already sent.
   */
  onResponse(response: SipResponse, tx: ClientTransaction): void;
  /** Informational: Timer B/F fired; called just before the synthetic 408 is delivered. */
  onTimeout?(tx: ClientTransaction): void;
  /**
   * Informational: the transport failed. In Calling/Trying/Proceeding a synthetic 503 follows
   * via `onResponse`; in ICT Completed (ACK could not be sent) only this is called.
   */
  onTransportError?(error: unknown, tx: ClientTransaction): void;
  /** The transaction reached Terminated and left the layer's table. */
  onTerminated?(tx: ClientTransaction): void;
}

/** The TU of a server transaction (UAS core, proxy core). Attach with `tx.user = …`. */
export interface ServerTransactionUser {
  /**
   * An ACK matched the IST while in Accepted: the ACK for a 2xx is the TU's business
   * (RFC 6026 §7.1). The usual RFC 3261 ACK for a 2xx carries a new branch, matches no
   * transaction and comes out of `TransactionLayer.receiveRequest` as `{ kind: 'ack-2xx' }`.
   */
  onAck?(ack: SipRequest, tx: InviteServerTransaction): void;
  /** Timer H fired: no ACK came for the non-2xx final response (RFC 3261 §17.2.1). */
  onTimeout?(tx: ServerTransaction): void;
  /** A response could not be sent (RFC 3261 §17.2.4); the transaction terminates (except in Accepted). */
  onTransportError?(error: unknown, tx: ServerTransaction): void;
  /** The transaction reached Terminated and left the layer's table. */
  onTerminated?(tx: ServerTransaction): void;
}
