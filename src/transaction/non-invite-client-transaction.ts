/**
 * Non-INVITE client transaction (NICT): RFC 3261 §17.1.2.2 (with RFC 4320's advice that a
 * late 408 is never sent by the server, which does not change this side).
 *
 * ```
 *                                    |Request from TU
 *                                    |send request
 *                Timer E             V
 *                send request  +-----------+
 *                    +---------|           |-------------------+
 *                    |         |  Trying   |  Timer F          |
 *                    +-------->|           |  or Transport Err.|
 *                              +-----------+  inform TU        |
 *                 200-699         |  |                         |
 *                 resp. to TU     |  |1xx                      |
 *                 +---------------+  |resp. to TU              |
 *                 |                  |                         |
 *                 |   Timer E        V       Timer F           |
 *                 |   send req +-----------+ or Transport Err. |
 *                 |  +---------|           | inform TU         |
 *                 |  |         |Proceeding |------------------>|
 *                 |  +-------->|           |-----+             |
 *                 |            +-----------+     |1xx          |
 *                 |              |      ^        |resp to TU   |
 *                 | 200-699      |      +--------+             |
 *                 | resp. to TU  |                             |
 *                 |              |                             |
 *                 |              V                             |
 *                 |            +-----------+                   |
 *                 |            |           |                   |
 *                 |            | Completed |                   |
 *                 |            |           |                   |
 *                 |            +-----------+                   |
 *                 |              ^   |                         |
 *                 |              |   | Timer K                 |
 *                 +--------------+   | -                       |
 *                                    |                         |
 *                                    V                         |
 *              NOTE:           +-----------+                   |
 *                              |           |                   |
 *          transitions         | Terminated|<------------------+
 *          labeled with        |           |
 *          the event           +-----------+
 *          over the action
 *          to take
 * ```
 *
 * @remarks Layer 3 (`transaction/`). Created by {@link TransactionLayer.sendRequest} for any
 * method but INVITE and ACK (CANCEL included). Call {@link NonInviteClientTransaction.start} once.
 */
import type { SipRequest, SipResponse } from '../sip/index.js';
import { assertNever } from './assert-never.js';
import { synthesizeResponse } from './synthetic-response.js';
import * as timers from './timer-table.js';
import { TransactionBase, type TimerEvent, type TransportErrorEvent } from './transaction-base.js';
import type { TransactionPorts } from './transaction-ports.js';
import type { ClientTransactionUser } from './transaction-user.js';

export type NictState = 'Trying' | 'Proceeding' | 'Completed' | 'Terminated';
export type NictTimer = 'E' | 'F' | 'K';

export type NictEvent =
  /** The TU hands over the request: send it and arm E/F. */
  | { readonly kind: 'start' }
  | { readonly kind: 'response'; readonly response: SipResponse }
  | TimerEvent<NictTimer>
  | TransportErrorEvent;

const TRANSITIONS: Readonly<Record<NictState, readonly NictState[]>> = {
  Trying: ['Proceeding', 'Completed', 'Terminated'],
  Proceeding: ['Completed', 'Terminated'],
  Completed: ['Terminated'],
  Terminated: [],
};

const TIMER_STATES: Readonly<Record<NictTimer, readonly NictState[]>> = {
  E: ['Trying', 'Proceeding'],
  F: ['Trying', 'Proceeding'],
  K: ['Completed'],
};

export class NonInviteClientTransaction extends TransactionBase<NictState, NictTimer, NictEvent> {
  readonly machine = 'NICT' as const;
  /** Current Timer E interval (RFC 3261 §17.1.2.2). */
  private intervalE: number;
  /** Retransmissions so far (IOS `retry`, timers.retryLimit). */
  private retransmits = 0;
  private started = false;

  constructor(
    id: string,
    request: SipRequest,
    ports: TransactionPorts,
    readonly user: ClientTransactionUser,
  ) {
    super(id, request, ports, 'Trying', TRANSITIONS, TIMER_STATES);
    this.intervalE = timers.E(ports.config);
  }

  /** Sends the request and arms Timers E and F. Calling it twice is a no-op. */
  start(): void {
    this.handle({ kind: 'start' });
  }

  protected override process(event: NictEvent): void {
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
        return assertNever(event, 'NICT event');
    }
  }

  private onStart(): void {
    if (this.started) return;
    this.started = true;
    // RFC 3261 §17.1.2.2: Timer E only for unreliable transports; Timer F always.
    if (!this.ports.reliable) this.arm('E', this.intervalE);
    this.arm('F', timers.F(this.ports.config));
    this.transmit(this.request);
  }

  private onResponse(res: SipResponse): void {
    const state = this.state;
    switch (state) {
      case 'Trying':
      case 'Proceeding':
        if (res.status < 200) {
          // RFC 3261 §17.1.2.2: 1xx → Proceeding, to the TU.
          if (state === 'Trying') this.transition('Proceeding');
          this.user.onResponse(res, this);
        } else {
          // RFC 3261 §17.1.2.2: 200-699 → Completed, to the TU, Timer K.
          this.transition('Completed');
          this.arm('K', timers.K(this.ports.config, this.ports.reliable));
          this.user.onResponse(res, this);
          this.retire(this.request);
        }
        return;
      case 'Completed': // RFC 3261 §17.1.2.2: retransmitted responses are absorbed.
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'NICT state');
    }
  }

  private onTimer(timer: NictTimer): void {
    switch (timer) {
      case 'E':
        // IOS `retry bye N`, `retry register N` …: after N retransmissions the next firing of E ends it.
        if (this.retransmits >= (timers.retryLimit(this.ports.config, this.request.method) ?? Infinity)) {
          this.transition('Terminated');
          this.user.onTimeout?.(this);
          this.user.onResponse(synthesizeResponse(this.request, 'timeout'), this);
          return;
        }
        this.retransmits++;
        // RFC 3261 §17.1.2.2: in Trying the interval doubles up to T2; in Proceeding it is T2.
        this.intervalE =
          this.state === 'Proceeding' ? this.ports.config.T2 : timers.nextInterval(this.intervalE, this.ports.config.T2);
        this.arm('E', this.intervalE);
        this.transmit(this.request, 'E');
        return;
      case 'F':
        // RFC 3261 §17.1.2.2: inform the TU of the timeout (a 408), Terminated.
        this.transition('Terminated');
        this.user.onTimeout?.(this);
        this.user.onResponse(synthesizeResponse(this.request, 'timeout'), this);
        return;
      case 'K':
        this.transition('Terminated');
        return;
      default:
        return assertNever(timer, 'NICT timer');
    }
  }

  private onTransportError(error: unknown): void {
    const state = this.state;
    switch (state) {
      case 'Trying':
      case 'Proceeding':
        // RFC 3261 §17.1.2.2, §8.1.3.1: inform the TU with a 503, Terminated.
        this.transition('Terminated');
        this.user.onTransportError?.(error, this);
        this.user.onResponse(synthesizeResponse(this.request, 'transport-error'), this);
        return;
      case 'Completed': // nothing of ours is in flight any more
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'NICT state');
    }
  }

  protected override notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }
}
