/**
 * What a transaction machine may touch: the transport, the clock and the timer config
 * (STYLE §11.1 "side effects go through ports").
 *
 * @remarks Layer 3 (`transaction/`). Built by {@link TransactionLayer} for each transaction;
 * tests build them by hand with a `VirtualClock` and an array as the "network".
 */
import type { SipRequest, SipResponse } from '../sip/index.js';
import type { Clock } from '../util/clock.js';
import type { TimerConfig } from './timer-table.js';

export interface TransactionPorts {
  /**
   * Hands a message to the transport layer. Client transactions send their request (and the
   * ACK for a non-2xx) to the request's destination; server transactions send responses per
   * RFC 3261 §18.2.2. A synchronous throw is treated as a transport error; an asynchronous
   * failure is reported with `tx.handle({ kind: 'transport-error', error })`.
   */
  send(msg: SipRequest | SipResponse): void;
  readonly clock: Clock;
  readonly config: TimerConfig;
  /** Whether the transport is reliable (TCP, TLS, SCTP, WS): no retransmissions, D/I/J/K = 0. */
  readonly reliable: boolean;
  /** Called once when the transaction enters Terminated (the layer drops it from its table). */
  onTerminated?(tx: { readonly id: string }): void;
  /**
   * A sender that repeats `response` exactly as `send` just sent it, holding only its bytes and
   * where they went. A server transaction whose only remaining duty is to repeat its final
   * response (NIST Completed over UDP, RFC 3261 §17.2.2) takes one and lets go of both
   * messages: at 1000 requests/s Timer J keeps 32,000 of them waiting. Once it returned a
   * sender, `send` does nothing more. Undefined (or returning undefined): keep the messages.
   */
  repeater?(response: SipResponse): (() => void) | undefined;
}
