/**
 * Layer 3: SIP transactions (RFC 3261 §17, RFC 6026 §7).
 * @packageDocumentation
 */
export {
  TransactionLayer,
  defaultIsReliable,
  type SendTarget,
  type TransactionLayerOptions,
  type ReceiveRequestResult,
  type SendRequestOptions,
} from './transaction-layer.js';
export { InviteClientTransaction, type IctState, type IctTimer, type IctEvent } from './invite-client-transaction.js';
export { NonInviteClientTransaction, type NictState, type NictTimer, type NictEvent } from './non-invite-client-transaction.js';
export { InviteServerTransaction, type IstState, type IstTimer, type IstEvent } from './invite-server-transaction.js';
export { NonInviteServerTransaction, type NistState, type NistTimer, type NistEvent } from './non-invite-server-transaction.js';
export type { TimerEvent, TransportErrorEvent } from './transaction-base.js';
export type {
  ClientTransaction,
  ServerTransaction,
  Transaction,
  ClientTransactionUser,
  ServerTransactionUser,
} from './transaction-user.js';
export type { TransactionPorts } from './transaction-ports.js';
export * as timers from './timer-table.js';
export { type TimerConfig, DEFAULT_TIMER_CONFIG, timerConfig, nextInterval } from './timer-table.js';
export {
  clientKey,
  clientKeyOfRequest,
  clientKeyOfResponse,
  serverKey,
  inviteKeyForCancel,
  hasRfc3261Branch,
  rfc2543ToTagMatches,
} from './transaction-key.js';
export { buildAckForNon2xx } from './ack-request.js';
export { buildCancel } from './cancel-request.js';
export { synthesizeResponse, syntheticCause, type SyntheticCause } from './synthetic-response.js';
export {
  TRANSACTION_STATE_CHANNEL,
  TRANSACTION_RETRANSMIT_CHANNEL,
  type TransactionMachine,
  type TransactionStateMessage,
  type TransactionRetransmitMessage,
} from './transaction-diagnostics.js';
export { assertNever } from './assert-never.js';
