/**
 * INVITE client transaction (ICT): RFC 3261 §17.1.1 as updated by RFC 6026 §7.2.
 *
 * ```
 *                                |INVITE from TU
 *              Timer A fires     |INVITE sent
 *              Reset A,          V                      Timer B fires
 *              INVITE sent +-----------+                or Transport Err.
 *                +---------|           |---------------+inform TU
 *                |         |  Calling  |               |
 *                +-------->|           |-------------->|
 *                          +-----------+ 2xx           |
 *                             |  |       2xx to TU     |
 *                             |  |1xx                  |
 *     300-699 +---------------+  |1xx to TU            |
 *    ACK sent |                  |                     |
 * resp. to TU |  1xx             V                     |
 *             |  1xx to TU  -----------+               |
 *             |  +---------|           |               |
 *             |  |         |Proceeding |-------------->|
 *             |  +-------->|           | 2xx           |
 *             |            +-----------+ 2xx to TU     |
 *             |       300-699    |                     |
 *             |       ACK sent,  |                     |
 *             |       resp. to TU|                     |
 *             |                  |                     |      NOTE:
 *             |  300-699         V                     |
 *             |  ACK sent  +-----------+Transport Err. |  transitions
 *             |  +---------|           |Inform TU      |  labeled with
 *             |  |         | Completed |-------------->|  the event
 *             |  +-------->|           |               |  over the action
 *             |            +-----------+               |  to take
 *             |              ^   |                     |
 *             |              |   | Timer D fires       |
 *             +--------------+   | -                   |
 *                                |                     |
 *                                V                     |
 *                          +-----------+               |
 *                          |           |               |
 *                          | Terminated|<--------------+
 *                          |           |
 *                          +-----------+
 *
 *  RFC 6026 §7.2 replaces the two "2xx → Terminated" edges with:
 *      Calling/Proceeding --2xx / 2xx to TU--> Accepted
 *      Accepted: 2xx / 2xx to TU (loop); Timer M fires / - --> Terminated
 * ```
 *
 * @remarks Layer 3 (`transaction/`). Created by {@link TransactionLayer.sendRequest} for an
 * INVITE, or directly with ports in tests. Call {@link InviteClientTransaction.start} once.
 */
import type { SipRequest, SipResponse } from '../sip/index.js';
import { buildAckForNon2xx } from './ack-request.js';
import { assertNever } from './assert-never.js';
import { synthesizeResponse } from './synthetic-response.js';
import * as timers from './timer-table.js';
import { TransactionBase, type TimerEvent, type TransportErrorEvent } from './transaction-base.js';
import type { TransactionPorts } from './transaction-ports.js';
import type { ClientTransactionUser } from './transaction-user.js';

export type IctState = 'Calling' | 'Proceeding' | 'Completed' | 'Accepted' | 'Terminated';
export type IctTimer = 'A' | 'B' | 'D' | 'M';

export type IctEvent =
  /** The TU hands over the INVITE: send it and arm A/B. */
  | { readonly kind: 'start' }
  /** A response matched to this transaction by the layer (RFC 3261 §17.1.3). */
  | { readonly kind: 'response'; readonly response: SipResponse }
  | TimerEvent<IctTimer>
  | TransportErrorEvent;

const TRANSITIONS: Readonly<Record<IctState, readonly IctState[]>> = {
  Calling: ['Proceeding', 'Completed', 'Accepted', 'Terminated'],
  Proceeding: ['Completed', 'Accepted', 'Terminated'],
  Completed: ['Terminated'],
  Accepted: ['Terminated'],
  Terminated: [],
};

const TIMER_STATES: Readonly<Record<IctTimer, readonly IctState[]>> = {
  A: ['Calling'],
  B: ['Calling'],
  D: ['Completed'],
  M: ['Accepted'],
};

export class InviteClientTransaction extends TransactionBase<IctState, IctTimer, IctEvent> {
  readonly machine = 'ICT' as const;
  /** Current Timer A interval (doubles on each firing, RFC 3261 §17.1.1.2). */
  private intervalA: number;
  /** The ACK sent for the non-2xx final response, resent for each retransmission of it. */
  private ack: SipRequest | undefined;
  private started = false;
  /** Retransmissions so far (IOS `retry invite`, timers.retryLimit). */
  private retransmits = 0;

  constructor(
    id: string,
    request: SipRequest,
    ports: TransactionPorts,
    readonly user: ClientTransactionUser,
  ) {
    super(id, request, ports, 'Calling', TRANSITIONS, TIMER_STATES);
    this.intervalA = timers.A(ports.config);
  }

  /** Sends the INVITE and arms Timers A and B. Calling it twice is a no-op. */
  start(): void {
    this.handle({ kind: 'start' });
  }

  /** The ACK this transaction generated for a non-2xx final response, if any. */
  get ackRequest(): SipRequest | undefined {
    return this.ack;
  }

  protected override process(event: IctEvent): void {
    switch (event.kind) {
      case 'start':
        return this.onStart();
      case 'response':
        return this.onResponse(event.response);
      case 'timer':
        return this.onTimer(event.timer);
      case 'transport-error':
        return this.onTransportError(event.error);
      default:
        return assertNever(event, 'ICT event');
    }
  }

  private onStart(): void {
    if (this.started) return;
    this.started = true;
    const { config, reliable } = this.ports;
    // RFC 3261 §17.1.1.2: Timer A only for unreliable transports; Timer B always.
    if (!reliable) this.arm('A', this.intervalA);
    this.arm('B', timers.B(config));
    this.transmit(this.request);
  }

  private onResponse(res: SipResponse): void {
    const status = res.status;
    const state = this.state;
    switch (state) {
      case 'Calling':
      case 'Proceeding':
        if (status < 200) {
          // RFC 3261 §17.1.1.2: 1xx → Proceeding, passed to the TU; no more retransmissions.
          if (state === 'Calling') this.transition('Proceeding');
          this.user.onResponse(res, this);
        } else if (status < 300) {
          // RFC 6026 §7.2: 2xx → Accepted, passed to the TU (the TU sends the ACK).
          this.transition('Accepted');
          this.arm('M', timers.M(this.ports.config));
          this.user.onResponse(res, this);
          this.retire(this.request);
        } else {
          // RFC 3261 §17.1.1.2: 300-699 → Completed, ACK sent, response to the TU.
          this.transition('Completed');
          this.ack = buildAckForNon2xx(this.request, res); // RFC 3261 §17.1.1.3
          this.transmit(this.ack);
          this.arm('D', timers.D(this.ports.config, this.ports.reliable)); // 0 when reliable
          this.user.onResponse(res, this);
          this.retire(this.request, this.ack);
        }
        return;
      case 'Completed':
        // RFC 3261 §17.1.1.2: a retransmitted final response → resend the ACK, not to the TU.
        if (status >= 300 && this.ack !== undefined) this.transmit(this.ack, 'response');
        return;
      case 'Accepted':
        // RFC 6026 §7.2: every 2xx (retransmission or another fork) goes to the TU.
        if (status >= 200 && status < 300) this.user.onResponse(res, this);
        return;
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'ICT state');
    }
  }

  private onTimer(timer: IctTimer): void {
    switch (timer) {
      case 'A':
        // IOS `retry invite N`: after N retransmissions the next firing of A ends the attempt.
        if (this.retransmits >= (timers.retryLimit(this.ports.config, 'INVITE') ?? Infinity)) {
          this.timeout();
          return;
        }
        this.retransmits++;
        // RFC 3261 §17.1.1.2: retransmit, reset A to twice its value (no cap for INVITE).
        this.intervalA = timers.nextInterval(this.intervalA, timers.A_CAP);
        this.arm('A', this.intervalA);
        this.transmit(this.request, 'A');
        return;
      case 'B':
        // RFC 3261 §17.1.1.2: still Calling when B fires → inform the TU (a 408), Terminated.
        this.timeout();
        return;
      case 'D': // RFC 3261 §17.1.1.2
      case 'M': // RFC 6026 §7.2
        this.transition('Terminated');
        return;
      default:
        return assertNever(timer, 'ICT timer');
    }
  }

  private onTransportError(error: unknown): void {
    const state = this.state;
    switch (state) {
      case 'Calling':
      case 'Proceeding':
        // RFC 3261 §17.1.1.2, §8.1.3.1: inform the TU with a 503, Terminated.
        this.transition('Terminated');
        this.user.onTransportError?.(error, this);
        this.user.onResponse(synthesizeResponse(this.request, 'transport-error'), this);
        return;
      case 'Completed':
        // RFC 3261 Figure 5: the ACK could not be sent; the TU already has the final response.
        this.transition('Terminated');
        this.user.onTransportError?.(error, this);
        return;
      case 'Accepted':
        // Nothing of ours is in flight (the TU sends the ACK for a 2xx); keep absorbing 2xx.
        this.user.onTransportError?.(error, this);
        return;
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'ICT state');
    }
  }

  private timeout(): void {
    this.transition('Terminated');
    this.user.onTimeout?.(this);
    this.user.onResponse(synthesizeResponse(this.request, 'timeout'), this);
  }

  protected override notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }
}
