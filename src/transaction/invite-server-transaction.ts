/**
 * INVITE server transaction (IST): RFC 3261 §17.2.1 as updated by RFC 6026 §7.1.
 *
 * ```
 *                               |INVITE
 *                               |pass INV to TU
 *            INVITE             V send 100 if TU won't in 200ms
 *            send response+-----------+
 *                +--------|           |--------+ 101-199 from TU
 *                |        |           |        | send response
 *                +------->|           |<-------+
 *                         | Proceeding|
 *                         |           |--------+ Transport Err.
 *                         |           |        | Inform TU
 *                         |           |<-------+
 *                         +-----------+
 *            300-699 from TU |     |2xx from TU
 *            send response   |     |send response
 *             +--------------+     +------------+
 *             |                                 |
 * INVITE      V          Timer G fires          |
 * send response+-----------+ send response      |
 *    +--------|           |--------+            |
 *    |        |           |        |            |
 *    +------->| Completed |<-------+    INVITE  |  Transport Err.
 *             |           |             -       |  Inform TU
 *             |           |            +-----+  |  +--------+
 *             +-----------+            |     |  |  |        |
 *               |     |                |     V  V  |        |
 *               |     |                |  +-----------+     |
 *      ACK      |     |                +--|  Accepted |<----+
 *      -        |     |                   +-----------+
 *               |     |Timer H fires /       |  ^  |  |
 *               |     |Transport Err.        |  |  |  | 2xx from TU
 *               |     |Inform TU             |  +--+  | send response
 *               V     |                      | ACK    |
 *       +-----------+ |                      | to TU  +-----+
 *       | Confirmed | |                      |
 *       +-----------+ |       Timer L fires  |
 *               |     |       -              |
 *  Timer I fires|     |                      |
 *  -            |     |                      |
 *               V     V                      |
 *             +-----------+                  |
 *             | Terminated|<-----------------+
 *             +-----------+
 * ```
 *
 * @remarks Layer 3 (`transaction/`). Created by {@link TransactionLayer.receiveRequest} for a
 * new INVITE; the TU answers with {@link InviteServerTransaction.respond}. Retransmission of
 * a 2xx is the UAS core's job (RFC 3261 §13.3.1.4): it passes each retransmission to
 * `respond` while the transaction is Accepted.
 */
import { type SipRequest, type SipResponse, createResponse } from '../sip/index.js';
import { assertNever } from './assert-never.js';
import * as timers from './timer-table.js';
import { TransactionBase, type TimerEvent, type TransportErrorEvent } from './transaction-base.js';
import type { TransactionPorts } from './transaction-ports.js';
import type { ServerTransactionUser } from './transaction-user.js';

export type IstState = 'Proceeding' | 'Completed' | 'Confirmed' | 'Accepted' | 'Terminated';
/** Timers G, H, I, L, and the 200 ms `100 Trying` deadline (RFC 3261 §17.2.1). */
export type IstTimer = 'G' | 'H' | 'I' | 'L' | 'Trying100';

export type IstEvent =
  /** The INVITE has been handed to the TU: arm the `100 Trying` deadline. */
  | { readonly kind: 'start' }
  /** A retransmitted INVITE or an ACK matched to this transaction (RFC 3261 §17.2.3). */
  | { readonly kind: 'request'; readonly request: SipRequest }
  /** A response from the TU. */
  | { readonly kind: 'tu-response'; readonly response: SipResponse }
  | TimerEvent<IstTimer>
  | TransportErrorEvent;

const TRANSITIONS: Readonly<Record<IstState, readonly IstState[]>> = {
  Proceeding: ['Completed', 'Accepted', 'Terminated'],
  Completed: ['Confirmed', 'Terminated'],
  Confirmed: ['Terminated'],
  Accepted: ['Terminated'],
  Terminated: [],
};

const TIMER_STATES: Readonly<Record<IstTimer, readonly IstState[]>> = {
  Trying100: ['Proceeding'],
  G: ['Completed'],
  H: ['Completed'],
  I: ['Confirmed'],
  L: ['Accepted'],
};

const NOOP_USER: ServerTransactionUser = {};

export class InviteServerTransaction extends TransactionBase<IstState, IstTimer, IstEvent> {
  readonly machine = 'IST' as const;
  /** The TU; the layer creates the transaction before the TU sees the INVITE, so it is settable. */
  user: ServerTransactionUser;
  /** The To tag the TU puts in every response of this transaction (RFC 3261 §8.2.6.2), once chosen. */
  toTag: string | undefined;
  /** Most recent provisional response sent (resent on INVITE retransmissions, §17.2.1). */
  private lastProvisional: SipResponse | undefined;
  /** The final response sent (resent by Timer G and on INVITE retransmissions). */
  private finalResponse: SipResponse | undefined;
  /** Current Timer G interval. */
  private intervalG: number;
  private started = false;

  constructor(id: string, request: SipRequest, ports: TransactionPorts, user: ServerTransactionUser = NOOP_USER) {
    super(id, request, ports, 'Proceeding', TRANSITIONS, TIMER_STATES);
    this.user = user;
    this.intervalG = timers.G(ports.config);
  }

  /** Arms the `100 Trying` deadline. Calling it twice is a no-op. */
  start(): void {
    this.handle({ kind: 'start' });
  }

  /** Sends a response from the TU (1xx, 2xx, 300-699). Ignored in states where the TU may not answer. */
  respond(response: SipResponse): void {
    this.handle({ kind: 'tu-response', response });
  }

  /** The last response given to the transport (provisional or final), if any. */
  get lastResponse(): SipResponse | undefined {
    return this.finalResponse ?? this.lastProvisional;
  }

  /**
   * The To tag of the final response sent: an RFC 2543 ACK matches by it (RFC 3261 §17.2.3).
   */
  get responseToTag(): string | undefined {
    const r = this.finalResponse;
    if (r === undefined) return undefined;
    try {
      return r.to.tag;
    } catch {
      return undefined;
    }
  }

  protected override process(event: IstEvent): void {
    switch (event.kind) {
      case 'start':
        return this.onStart();
      case 'request':
        return this.onRequest(event.request);
      case 'tu-response':
        return this.onTuResponse(event.response);
      case 'timer':
        return this.onTimer(event.timer);
      case 'transport-error':
        return this.onTransportError(event.error);
      default:
        return assertNever(event, 'IST event');
    }
  }

  private onStart(): void {
    if (this.started) return;
    this.started = true;
    // RFC 3261 §17.2.1: a 100 Trying unless the TU answers within 200 ms.
    if (this.lastResponse === undefined) this.arm('Trying100', timers.trying100(this.ports.config));
  }

  private onRequest(req: SipRequest): void {
    const state = this.state;
    const isAck = req.method === 'ACK';
    switch (state) {
      case 'Proceeding':
        // RFC 3261 §17.2.1: a retransmitted INVITE → resend the most recent provisional response.
        if (!isAck && this.lastProvisional !== undefined) this.transmit(this.lastProvisional, 'request');
        return;
      case 'Completed':
        if (isAck) {
          // RFC 3261 §17.2.1: ACK → Confirmed; Timer I (0 on reliable transports).
          this.transition('Confirmed');
          this.arm('I', timers.I(this.ports.config, this.ports.reliable));
        } else if (this.finalResponse !== undefined) {
          // RFC 3261 §17.2.1: a retransmitted INVITE → resend the final response.
          this.transmit(this.finalResponse, 'request');
        }
        return;
      case 'Confirmed':
        // RFC 3261 §17.2.1: absorb further ACKs (and INVITEs) until Timer I.
        return;
      case 'Accepted':
        // RFC 6026 §7.1: ACK to the TU; retransmitted INVITEs MUST NOT reach the TU.
        if (isAck) this.user.onAck?.(req, this);
        return;
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'IST state');
    }
  }

  private onTuResponse(res: SipResponse): void {
    const state = this.state;
    const status = res.status;
    switch (state) {
      case 'Proceeding':
        this.disarm('Trying100');
        if (status < 200) {
          // RFC 3261 §17.2.1: provisional responses are sent, state unchanged.
          this.lastProvisional = res;
          this.transmit(res);
        } else if (status < 300) {
          // RFC 6026 §7.1: 2xx → Accepted, Timer L; 2xx retransmissions are the TU's.
          this.finalResponse = res;
          this.lastProvisional = undefined;
          this.transition('Accepted');
          this.arm('L', timers.L(this.ports.config));
          this.transmit(res);
          this.retire(this.request, res);
        } else {
          // RFC 3261 §17.2.1: 300-699 → Completed; Timer G (unreliable only) and Timer H.
          this.finalResponse = res;
          this.lastProvisional = undefined;
          this.transition('Completed');
          if (!this.ports.reliable) this.arm('G', this.intervalG);
          this.arm('H', timers.H(this.ports.config));
          this.transmit(res);
          this.retire(this.request, res);
        }
        return;
      case 'Accepted':
        // RFC 6026 §7.1: 2xx retransmissions from the TU are passed to the transport.
        if (status >= 200 && status < 300) this.transmit(res, 'tu');
        return;
      case 'Completed':
      case 'Confirmed':
      case 'Terminated':
        // The final response was sent already; a late TU answer is dropped.
        return;
      default:
        return assertNever(state, 'IST state');
    }
  }

  private onTimer(timer: IstTimer): void {
    switch (timer) {
      case 'Trying100':
        // RFC 3261 §17.2.1 (and §16.2 for proxies): the TU has not answered within 200 ms.
        if (this.lastResponse === undefined) {
          this.lastProvisional = createResponse(this.request, 100);
          this.transmit(this.lastProvisional);
        }
        return;
      case 'G':
        // RFC 3261 §17.2.1: resend the final response; G = min(2G, T2).
        this.intervalG = timers.nextInterval(this.intervalG, this.ports.config.T2);
        this.arm('G', this.intervalG);
        if (this.finalResponse !== undefined) this.transmit(this.finalResponse, 'G');
        return;
      case 'H':
        // RFC 3261 §17.2.1: no ACK → Terminated, inform the TU.
        this.transition('Terminated');
        this.user.onTimeout?.(this);
        return;
      case 'I': // RFC 3261 §17.2.1
      case 'L': // RFC 6026 §7.1
        this.transition('Terminated');
        return;
      default:
        return assertNever(timer, 'IST timer');
    }
  }

  private onTransportError(error: unknown): void {
    const state = this.state;
    switch (state) {
      case 'Proceeding':
      case 'Completed':
        // RFC 3261 §17.2.1, §17.2.4: inform the TU, Terminated.
        this.transition('Terminated');
        this.user.onTransportError?.(error, this);
        return;
      case 'Accepted':
        // RFC 6026 §7.1: stay in Accepted (INVITE retransmissions must still be absorbed); the
        // TU, which owns 2xx retransmission, decides what the failure means.
        this.user.onTransportError?.(error, this);
        return;
      case 'Confirmed':
      case 'Terminated':
        return;
      default:
        return assertNever(state, 'IST state');
    }
  }

  protected override notifyTerminated(): void {
    this.user.onTerminated?.(this);
  }
}
