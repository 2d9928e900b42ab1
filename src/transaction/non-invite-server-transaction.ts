/**
 * Non-INVITE server transaction (NIST): RFC 3261 §17.2.2.
 *
 * ```
 *                                   |Request received
 *                                   |pass to TU
 *                                   V
 *                             +-----------+
 *                             |           |
 *                             | Trying    |-------------+
 *                             |           |             |
 *                             +-----------+             |200-699 from TU
 *                                   |                   |send response
 *                                   |1xx from TU        |
 *                                   |send response      |
 *                                   |                   |
 *                Request            V      1xx from TU  |
 *                send response+-----------+send response|
 *                    +--------|           |--------+    |
 *                    |        | Proceeding|        |    |
 *                    +------->|           |<-------+    |
 *             +<--------------|           |             |
 *             |Trnsprt Err    +-----------+             |
 *             |Inform TU            |                   |
 *             |                     |                   |
 *             |                     |200-699 from TU    |
 *             |                     |send response      |
 *             |  Request            V                   |
 *             |  send response+-----------+             |
 *             |      +--------|           |             |
 *             |      |        | Completed |<------------+
 *             |      +------->|           |
 *             +<--------------|           |
 *             |Trnsprt Err    +-----------+
 *             |Inform TU            |
 *             |                     |Timer J fires
 *             |                     |-
 *             |                     |
 *             |                     V
 *             |               +-----------+
 *             |               |           |
 *             +-------------->| Terminated|
 *                             |           |
 *                             +-----------+
 * ```
 *
 * @remarks Layer 3 (`transaction/`). Created by {@link TransactionLayer.receiveRequest} for a
 * new non-INVITE request (CANCEL included); the TU answers with
 * {@link NonInviteServerTransaction.respond}.
 */
import type { SipRequest, SipResponse } from '../sip/index.js';
import { assertNever } from './assert-never.js';
import * as timers from './timer-table.js';
import { TransactionBase, type TimerEvent, type TransportErrorEvent } from './transaction-base.js';
import { retransmitChannel } from './transaction-diagnostics.js';
import type { TransactionPorts } from './transaction-ports.js';
import type { ServerTransactionUser } from './transaction-user.js';

export type NistState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';
export type NistTimer = 'J';

export type NistEvent =
  /** A retransmission of the request matched to this transaction (RFC 3261 §17.2.3). */
  | { readonly kind: 'request'; readonly request: SipRequest }
  | { readonly kind: 'tu-response'; readonly response: SipResponse }
  | TimerEvent<NistTimer>
  | TransportErrorEvent;

const TRANSITIONS: Readonly<Record<NistState, readonly NistState[]>> = {
  Trying: ['Proceeding', 'Completed', 'Terminated'],
  Proceeding: ['Completed', 'Terminated'],
  Completed: ['Terminated'],
  Terminated: [],
};

const TIMER_STATES: Readonly<Record<NistTimer, readonly NistState[]>> = {
  J: ['Completed'],
};

const NOOP_USER: ServerTransactionUser = {};

export class NonInviteServerTransaction extends TransactionBase<NistState, NistTimer, NistEvent> {
  readonly machine = 'NIST' as const;
  /** The TU; the layer creates the transaction before the TU sees the request, so it is settable. */
  user: ServerTransactionUser;
  /** The To tag the TU puts in every response of this transaction (RFC 3261 §8.2.6.2), once chosen. */
  toTag: string | undefined;
  private lastProvisional: SipResponse | undefined;
  private finalResponse: SipResponse | undefined;
  /** Completed over UDP: sends the final response again, holding only its bytes (see onTuResponse). */
  private repeatFinal: (() => void) | undefined;
  /** Start line of the final response, for `sip:transaction:retransmit` once it is let go. */
  private finalWhat = '';

  constructor(id: string, request: SipRequest, ports: TransactionPorts, user: ServerTransactionUser = NOOP_USER) {
    super(id, request, ports, 'Trying', TRANSITIONS, TIMER_STATES);
    this.user = user;
  }

  /** Nothing to arm in Trying; present so all server transactions start alike. */
  start(): void {}

  /** Sends a response from the TU. Ignored once Completed (RFC 3261 §17.2.2). */
  respond(response: SipResponse): void {
    this.handle({ kind: 'tu-response', response });
  }

  /**
   * The last response given to the transport, if any — undefined in Completed once a repeater
   * holds the final response's bytes instead (over UDP, see onTuResponse).
   */
  get lastResponse(): SipResponse | undefined {
    return this.finalResponse ?? this.lastProvisional;
  }

  protected override process(event: NistEvent): void {
    switch (event.kind) {
      case 'request':
        return this.onRequest();
      case 'tu-response':
        return this.onTuResponse(event.response);
      case 'timer':
        return this.onTimer(event.timer);
      case 'transport-error':
        return this.onTransportError(event.error);
      default:
        return assertNever(event, 'NIST event');
    }
  }

  private onRequest(): void {
    const state = this.state;
    switch (state) {
      case 'Trying':
        // RFC 3261 §17.2.2: retransmissions in Trying are discarded.
        return;
      case 'Proceeding':
        // RFC 3261 §17.2.2: resend the most recent provisional response.
        if (this.lastProvisional !== undefined) this.transmit(this.lastProvisional, 'request');
        return;
      case 'Completed':
        // RFC 3261 §17.2.2: resend the final response.
        if (this.repeatFinal !== undefined) this.repeat();
        else if (this.finalResponse !== undefined) this.transmit(this.finalResponse, 'request');
        return;
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'NIST state');
    }
  }

  private onTuResponse(res: SipResponse): void {
    const state = this.state;
    switch (state) {
      case 'Trying':
      case 'Proceeding':
        if (res.status < 200) {
          // RFC 3261 §17.2.2: 1xx → Proceeding, sent.
          this.lastProvisional = res;
          if (state === 'Trying') this.transition('Proceeding');
          this.transmit(res);
        } else {
          // RFC 3261 §17.2.2: 200-699 → Completed, sent, Timer J (0 on reliable transports).
          this.finalResponse = res;
          this.lastProvisional = undefined;
          this.transition('Completed');
          this.transmit(res);
          this.arm('J', timers.J(this.ports.config, this.ports.reliable));
          // All Completed may still do is repeat this response, for Timer J = 64·T1 over UDP:
          // a repeater holding its bytes lets both messages go (the request and response
          // objects, the datagram's buffer, their parsed values). Otherwise they are compacted.
          const repeat = this.ports.reliable ? undefined : this.ports.repeater?.(res);
          if (repeat !== undefined) {
            this.repeatFinal = repeat;
            this.finalWhat = `${res.status} ${res.reason}`;
            this.finalResponse = undefined;
            this.releaseRequest();
          } else this.retire(this.request, res);
        }
        return;
      case 'Completed': // RFC 3261 §17.2.2: further TU responses are discarded.
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'NIST state');
    }
  }

  /** The final response again through the repeater; a synchronous throw is a transport error. */
  private repeat(): void {
    if (retransmitChannel.hasSubscribers) this.publishRetransmit('request', this.finalWhat);
    try {
      this.repeatFinal!();
    } catch (error) {
      this.handle({ kind: 'transport-error', error });
    }
  }

  private onTimer(timer: NistTimer): void {
    switch (timer) {
      case 'J':
        this.transition('Terminated');
        return;
      default:
        return assertNever(timer, 'NIST timer');
    }
  }

  private onTransportError(error: unknown): void {
    const state = this.state;
    switch (state) {
      case 'Trying':
      case 'Proceeding':
      case 'Completed':
        // RFC 3261 §17.2.2, §17.2.4: inform the TU, Terminated.
        this.transition('Terminated');
        this.user.onTransportError?.(error, this);
        return;
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'NIST state');
    }
  }

  protected override notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }
}
