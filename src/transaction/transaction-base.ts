/**
 * What the four machines share: the run-to-completion event queue, the legal-transition check,
 * timer arming and clearing by state, transmission with transport-error capture, diagnostics.
 *
 * @remarks Layer 3 (`transaction/`). Extended by the ICT, NICT, IST and NIST classes only.
 * Events are processed one at a time: an event raised while another is processed (a timer
 * of 0 ms on a reliable transport, a send that throws, a TU calling back in) is queued and
 * handled right after, so every handler sees a consistent state (reSIProcate's
 * TransactionState idea).
 */
import { SipError, type SipRequest, type SipResponse } from '../sip/index.js';
import type { TimerHandle } from '../util/clock.js';
import {
  type TransactionMachine,
  type TransactionRetransmitMessage,
  type TransactionStateMessage,
  retransmitChannel,
  stateChannel,
} from './transaction-diagnostics.js';
import type { TransactionPorts } from './transaction-ports.js';
import { StateError } from '../util/errors.js';

/** A timer firing is an event like any other (STYLE §11.1). */
export interface TimerEvent<T extends string> {
  readonly kind: 'timer';
  readonly timer: T;
}

/** The transport failed to send (synchronously or reported later by the transport layer). */
export interface TransportErrorEvent {
  readonly kind: 'transport-error';
  readonly error?: unknown;
}

export abstract class TransactionBase<
  S extends string,
  T extends string,
  E extends { readonly kind: string },
> {
  abstract readonly machine: TransactionMachine;
  private current: S;
  private readonly armed = new Map<T, TimerHandle>();
  private readonly queue: E[] = [];
  private busy = false;
  private terminatedPending = false;
  private req: SipRequest | undefined;

  protected constructor(
    /** Transaction id: the matching key of RFC 3261 §17.1.3 / §17.2.3. */
    readonly id: string,
    request: SipRequest,
    protected readonly ports: TransactionPorts,
    initial: S,
    /** Legal transitions, copied from the RFC figure. */
    private readonly transitions: Readonly<Record<S, readonly S[]>>,
    /** States in which each timer is meaningful; a timer is cleared on leaving them. */
    private readonly timerStates: Readonly<Record<T, readonly S[]>>,
  ) {
    this.current = initial;
    this.req = request;
  }

  /**
   * The request that created the transaction. Only a NIST that handed its final response to a
   * repeater lets go of it ({@link releaseRequest}); reading it after that is a bug, and throws.
   */
  get request(): SipRequest {
    if (this.req === undefined) throw new StateError('TX_ERR_RELEASED', `${this.machine} ${this.id}: the request was released in ${this.current}`);
    return this.req;
  }

  /** Drops the request (see {@link request}): nothing in the remaining states needs it. */
  protected releaseRequest(): void {
    this.req = undefined;
  }

  /**
   * Call-ID for logs and diagnostics (undefined when the request's Call-ID is malformed, or
   * the request was released). Read from the request each time: a copy kept here would be a
   * slice of the request's text and keep all of it alive after {@link retire}.
   */
  get callId(): string | undefined {
    try {
      return this.req?.callId;
    } catch {
      return undefined;
    }
  }

  /** Current state, spelled as in the RFC figure. */
  get state(): S {
    return this.current;
  }

  get isTerminated(): boolean {
    return this.current === 'Terminated';
  }

  /** Whether a timer is currently armed (for tests and introspection). */
  isArmed(timer: T): boolean {
    return this.armed.has(timer);
  }

  /** The single entry point for every input (STYLE §11.1). Once Terminated, every input is absorbed. */
  handle(event: E): void {
    this.queue.push(event);
    if (this.busy) return;
    this.busy = true;
    let failed = false;
    let firstError: unknown;
    try {
      for (let ev = this.queue.shift(); ev !== undefined; ev = this.queue.shift()) {
        if (this.current === 'Terminated') continue;
        if (ev.kind === 'timer') {
          const timer = (ev as unknown as TimerEvent<T>).timer;
          // A stale timer is a no-op (Kamailio tm/timer.h lesson).
          if (!this.timerStates[timer].includes(this.current)) continue;
        }
        try {
          this.process(ev);
        } catch (err) {
          if (!failed) {
            failed = true;
            firstError = err;
          }
        }
        if (this.terminatedPending) {
          // Told after the event that ended the transaction, so the TU sees its last
          // response (e.g. the synthetic 408) before onTerminated.
          this.terminatedPending = false;
          try {
            this.ports.onTerminated?.(this);
            this.notifyTerminated();
          } catch (err) {
            if (!failed) {
              failed = true;
              firstError = err;
            }
          }
        }
      }
    } finally {
      this.busy = false;
    }
    if (failed) throw firstError;
  }

  /** The machine's reaction to one event, in the current state. */
  protected abstract process(event: E): void;

  /** Tells the TU the transaction has ended (once, after the event that terminated it). */
  protected abstract notifyTerminated(): void;

  /**
   * Moves to `to` after checking the pair against the RFC figure (illegal pairs are bugs and
   * throw), clears the timers that mean nothing in the new state and publishes
   * `sip:transaction:state`.
   */
  protected transition(to: S): void {
    const from = this.current;
    if (!this.transitions[from].includes(to)) {
      throw new StateError('TX_ERR_TRANSITION', `${this.machine} ${this.id}: illegal transition ${from}→${to}`);
    }
    this.current = to;
    for (const [timer, handle] of this.armed) {
      if (!this.timerStates[timer].includes(to)) {
        this.ports.clock.clearTimer(handle);
        this.armed.delete(timer);
      }
    }
    if (stateChannel.hasSubscribers) {
      const msg: TransactionStateMessage = { id: this.id, machine: this.machine, from, to, callId: this.callId };
      stateChannel.publish(msg);
    }
    if (to === 'Terminated') this.terminatedPending = true;
  }

  /** Arms (or re-arms) a timer; 0 ms fires as the next queued event (reliable D/I/J/K). */
  protected arm(timer: T, ms: number): void {
    this.disarm(timer);
    const event = { kind: 'timer', timer } as unknown as E;
    if (ms <= 0) {
      this.handle(event);
      return;
    }
    const handle = this.ports.clock.setTimer(ms, () => {
      if (this.armed.get(timer) === handle) this.armed.delete(timer);
      try {
        this.handle(event);
      } catch (err) {
        // Named for the log: the clock's boundary reports it, the transaction and its Call-ID
        // are what an operator needs to find the message that caused it.
        throw new SipError('SIP_ERR_TIMER', `${this.machine} Timer ${String(timer)} (Call-ID ${this.callId ?? '?'}): ${(err as Error)?.message ?? String(err)}`, { cause: err });
      }
    });
    this.armed.set(timer, handle);
  }

  protected disarm(timer: T): void {
    const h = this.armed.get(timer);
    if (h !== undefined) {
      this.ports.clock.clearTimer(h);
      this.armed.delete(timer);
    }
  }

  /** `sip:transaction:retransmit`: `what` (a start line) was sent again because of `cause`. */
  protected publishRetransmit(cause: string, what: string): void {
    const m: TransactionRetransmitMessage = { id: this.id, machine: this.machine, cause, what };
    retransmitChannel.publish(m);
  }

  /**
   * Called on entering a state that only waits out a timer: the messages are kept (for
   * retransmissions and RFC 2543 matching) but their decoded fields are dropped, so a
   * transaction held for 64·T1 costs a few objects rather than dozens (see `SipMessage.compact`).
   */
  protected retire(...messages: Array<SipRequest | SipResponse | undefined>): void {
    for (const m of messages) m?.compact();
  }

  /**
   * Passes a message to the transport. A synchronous throw becomes a queued
   * `transport-error` event. `cause` marks a retransmission for `sip:transaction:retransmit`.
   */
  protected transmit(msg: SipRequest | SipResponse, cause?: string): void {
    if (cause !== undefined && retransmitChannel.hasSubscribers) {
      this.publishRetransmit(cause, msg.kind === 'request' ? `${msg.method} ${msg.uriText}` : `${msg.status} ${msg.reason}`);
    }
    try {
      this.ports.send(msg);
    } catch (error) {
      this.handle({ kind: 'transport-error', error } as unknown as E);
    }
  }
}
