/**
 * `diagnostics_channel` channels of the transaction layer (STYLE §14). Publishing is guarded
 * by `hasSubscribers`, so it costs one property read when nobody listens.
 *
 * @remarks Layer 3 (`transaction/`). Subscribed to by tests, the admin page and loggers.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** The four RFC 3261 §17 machines, by their RFC abbreviations. */
export type TransactionMachine = 'ICT' | 'NICT' | 'IST' | 'NIST';

/** Message of `sip:transaction:state`. */
export interface TransactionStateMessage {
  /** Transaction id (its matching key). */
  readonly id: string;
  readonly machine: TransactionMachine;
  readonly from: string;
  readonly to: string;
  readonly callId: string | undefined;
}

/** Message of `sip:transaction:retransmit`. */
export interface TransactionRetransmitMessage {
  readonly id: string;
  readonly machine: TransactionMachine;
  /** The timer that caused it, or `'request'` when a retransmitted request triggered a resend. */
  readonly cause: string;
  /** Start line of what was resent. */
  readonly what: string;
}

export const TRANSACTION_STATE_CHANNEL = 'sip:transaction:state';
export const TRANSACTION_RETRANSMIT_CHANNEL = 'sip:transaction:retransmit';

export const stateChannel = diagnosticsChannel.channel(TRANSACTION_STATE_CHANNEL);
export const retransmitChannel = diagnosticsChannel.channel(TRANSACTION_RETRANSMIT_CHANNEL);
