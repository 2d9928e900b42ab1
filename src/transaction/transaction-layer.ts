/**
 * The transaction layer: the client and server transaction tables, matching of incoming
 * messages (RFC 3261 §17.1.3, §17.2.3), creation of the four machines and their removal on
 * Terminated.
 *
 * @remarks Layer 3 (`transaction/`). Sits between the transport layer (which calls
 * {@link TransactionLayer.receiveRequest} / {@link TransactionLayer.receiveResponse} with
 * validated messages, and which the layer calls back through the `send` option) and the TU
 * (`tu/`, `dialog/`), which sends requests through {@link TransactionLayer.sendRequest} and
 * answers the server transactions it is given.
 */
import type { SipRequest, SipResponse } from '../sip/index.js';
import { type Clock, systemClock } from '../util/clock.js';
import { InviteClientTransaction } from './invite-client-transaction.js';
import { InviteServerTransaction } from './invite-server-transaction.js';
import { NonInviteClientTransaction } from './non-invite-client-transaction.js';
import { NonInviteServerTransaction } from './non-invite-server-transaction.js';
import { type TimerConfig, timerConfig } from './timer-table.js';
import {
  clientKeyOfRequest,
  clientKeyOfResponse,
  hasRfc3261Branch,
  inviteKeyForCancel,
  rfc2543ToTagMatches,
  serverKey,
} from './transaction-key.js';
import type { TransactionPorts } from './transaction-ports.js';
import type {
  ClientTransaction,
  ClientTransactionUser,
  ServerTransaction,
  ServerTransactionUser,
} from './transaction-user.js';

/**
 * Where the transport must send a message.
 * - `request-destination`: a request (or the ACK of a non-2xx) of a client transaction, to the
 *   opaque destination the TU chose (RFC 3263 result, flow, next hop …), passed through as is.
 *   The ACK MUST go where the INVITE went (RFC 3261 §17.1.1.3), which this guarantees.
 * - `response-to`: a response of a server transaction; the transport derives the destination
 *   from the request's top Via and `source` (RFC 3261 §18.2.2, RFC 3581).
 */
export type SendTarget =
  | { readonly kind: 'request-destination'; readonly destination: unknown }
  | { readonly kind: 'response-to'; readonly request: SipRequest };

export interface TransactionLayerOptions {
  /**
   * Hands a message to the transport layer. May throw synchronously (treated as a transport
   * error of the sending transaction); later failures are reported with
   * `tx.handle({ kind: 'transport-error', error })`.
   */
  send(msg: SipRequest | SipResponse, target: SendTarget): void;
  /**
   * Whether the transport a transaction runs over is reliable. Default: {@link defaultIsReliable}
   * (anything but UDP, judged from the request's `source` or top Via).
   */
  isReliable?(msg: SipRequest | SipResponse, target: SendTarget): boolean;
  /** Default {@link systemClock}. */
  clock?: Clock;
  /** T1, T2, T4, 100 Trying deadline; defaults of RFC 3261. */
  config?: Partial<TimerConfig>;
  /** TU given to every new server transaction until the TU replaces it (`tx.user = …`). */
  serverUser?: ServerTransactionUser;
  /**
   * A sender repeating `response` as `send` sent it to `target`, holding only bytes and
   * destination (see {@link TransactionPorts.repeater}); undefined where it cannot.
   */
  repeater?(response: SipResponse, target: SendTarget): (() => void) | undefined;
  /**
   * Most server transactions alive at once (default: no limit). Each lives on for up to
   * 64·T1 after its final response (Timers J, L, H), so the number held is the request rate
   * times about 32 s; beyond the limit a new request is reported `overloaded` and no state is
   * created for it (the TU answers it statelessly, 503 with Retry-After, RFC 3261 §21.5.4).
   */
  maxServerTransactions?: number;
}

/** What became of an incoming request. */
export type ReceiveRequestResult =
  /** A retransmission or an ACK for a non-2xx, consumed by its server transaction (§17.2.3). */
  | { readonly kind: 'absorbed'; readonly tx: ServerTransaction }
  /** A new request: the server transaction was created; the TU must answer through it. */
  | { readonly kind: 'new'; readonly tx: ServerTransaction }
  /**
   * A new CANCEL: its own NIST was created, `invite` is the IST it refers to (§9.2), if any.
   * The TU answers the CANCEL (200, or 481 without `invite`) and, when the INVITE is still
   * Proceeding, answers the INVITE with 487.
   */
  | { readonly kind: 'cancel'; readonly tx: NonInviteServerTransaction; readonly invite: InviteServerTransaction | undefined }
  /**
   * An ACK that matches no server transaction: the ACK for a 2xx, which is its own transaction
   * (RFC 3261 §17, §13.3.1.4); the TU matches it to a dialog.
   */
  | { readonly kind: 'ack-2xx'; readonly request: SipRequest }
  /**
   * A new request while {@link TransactionLayerOptions.maxServerTransactions} are alive: no
   * transaction was created; the TU answers it statelessly (503, RFC 3261 §21.5.4). A CANCEL
   * for a live INVITE transaction is never refused: it ends a transaction.
   */
  | { readonly kind: 'overloaded'; readonly request: SipRequest };

export interface SendRequestOptions {
  /** Opaque destination for the transport, passed back in {@link SendTarget}. */
  destination?: unknown;
}

/** Anything but UDP counts as reliable (RFC 3261 §17.1.1.2 "reliable transport"). */
export function defaultIsReliable(msg: SipRequest | SipResponse, target: SendTarget): boolean {
  const req = target.kind === 'response-to' ? target.request : msg;
  let transport: string | undefined = req.source?.transport;
  if (transport === undefined) {
    try {
      transport = req.topVia.transport;
    } catch {
      transport = undefined;
    }
  }
  return transport !== undefined && transport.toUpperCase() !== 'UDP';
}

export class TransactionLayer {
  readonly clock: Clock;
  readonly config: TimerConfig;
  private readonly sendFn: TransactionLayerOptions['send'];
  private readonly isReliableFn: (msg: SipRequest | SipResponse, target: SendTarget) => boolean;
  private readonly serverUser: ServerTransactionUser | undefined;
  private readonly repeaterFn: TransactionLayerOptions['repeater'];
  private readonly clients = new Map<string, ClientTransaction>();
  /** Server transactions keyed by the RFC 3261 branch key. */
  private readonly servers = new Map<string, ServerTransaction>();
  /** RFC 2543 fallback: several transactions may share a key and differ by To tag. */
  private readonly servers2543 = new Map<string, ServerTransaction[]>();
  /** Server transactions in {@link servers2543}. */
  private servers2543Count = 0;
  private readonly maxServers: number;
  private refused = 0;

  constructor(options: TransactionLayerOptions) {
    this.sendFn = options.send;
    this.isReliableFn = options.isReliable ?? defaultIsReliable;
    this.clock = options.clock ?? systemClock;
    this.config = timerConfig(options.config);
    this.serverUser = options.serverUser;
    this.repeaterFn = options.repeater;
    this.maxServers = options.maxServerTransactions ?? Number.POSITIVE_INFINITY;
  }

  /** Live transactions, for stats and tests. */
  get size(): { readonly clients: number; readonly servers: number } {
    return { clients: this.clients.size, servers: this.serverCount };
  }

  private get serverCount(): number {
    return this.servers.size + this.servers2543Count;
  }

  /** New requests reported `overloaded` so far (see {@link TransactionLayerOptions.maxServerTransactions}). */
  get overloadedCount(): number {
    return this.refused;
  }

  // ---- server side --------------------------------------------------------------------

  /**
   * Matches a request from the transport to a server transaction (RFC 3261 §17.2.3) or
   * creates one. The request must have passed the transport layer's routing-set checks.
   */
  receiveRequest(req: SipRequest): ReceiveRequestResult {
    const existing = this.findServerTransaction(req);
    if (req.method === 'ACK') {
      if (existing !== undefined && existing.machine === 'IST') {
        existing.handle({ kind: 'request', request: req });
        return { kind: 'absorbed', tx: existing };
      }
      return { kind: 'ack-2xx', request: req };
    }
    if (existing !== undefined) {
      existing.handle({ kind: 'request', request: req });
      return { kind: 'absorbed', tx: existing };
    }
    if (this.serverCount >= this.maxServers && !(req.method === 'CANCEL' && this.findInviteForCancel(req) !== undefined)) {
      this.refused++;
      return { kind: 'overloaded', request: req };
    }
    const target: SendTarget = { kind: 'response-to', request: req };
    const key = serverKey(req);
    const ports = this.portsFor(req, target);
    const tx =
      req.method === 'INVITE'
        ? new InviteServerTransaction(key, req, ports, this.serverUser)
        : new NonInviteServerTransaction(key, req, ports, this.serverUser);
    this.addServer(key, tx);
    tx.start();
    if (tx.machine === 'NIST' && req.method === 'CANCEL') {
      return { kind: 'cancel', tx, invite: this.findInviteForCancel(req) };
    }
    return { kind: 'new', tx };
  }

  /** The server transaction a request belongs to, if any (RFC 3261 §17.2.3; ACK → its IST). */
  findServerTransaction(req: SipRequest): ServerTransaction | undefined {
    const key = serverKey(req);
    if (hasRfc3261Branch(req)) return this.servers.get(key);
    return this.servers2543.get(key)?.find((tx) => rfc2543ToTagMatches(req, istView(tx)));
  }

  /** The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2), if still present. */
  findInviteForCancel(cancel: SipRequest): InviteServerTransaction | undefined {
    const key = inviteKeyForCancel(cancel);
    let tx: ServerTransaction | undefined;
    if (hasRfc3261Branch(cancel)) tx = this.servers.get(key);
    else tx = this.servers2543.get(key)?.find((t) => t.machine === 'IST' && rfc2543ToTagMatches(cancel, { request: t.request }));
    return tx !== undefined && tx.machine === 'IST' ? tx : undefined;
  }

  // ---- client side --------------------------------------------------------------------

  /**
   * Creates the client transaction for `req` (ICT for INVITE, NICT for anything else but ACK)
   * and starts it: the request goes to the transport now. The top Via MUST carry a fresh
   * RFC 3261 branch (`newBranch()`, §8.1.1.7).
   * @throws TypeError for ACK (never a client transaction, §17.1.1.3 / §13.2.2.4) or a branch
   * already in use by a live transaction (misuse).
   */
  sendRequest(req: SipRequest, user: ClientTransactionUser, options: SendRequestOptions = {}): ClientTransaction {
    const tx = this.createClientTransaction(req, user, options);
    tx.start();
    return tx;
  }

  /** Like {@link sendRequest} without starting it (the caller calls `tx.start()`). */
  createClientTransaction(req: SipRequest, user: ClientTransactionUser, options: SendRequestOptions = {}): ClientTransaction {
    if (req.method === 'ACK') throw new TypeError('ACK is not sent through a client transaction');
    const key = clientKeyOfRequest(req);
    if (this.clients.has(key)) throw new TypeError(`A client transaction with key ${key} already exists`);
    const target: SendTarget = { kind: 'request-destination', destination: options.destination };
    const ports = this.portsFor(req, target);
    const tx =
      req.method === 'INVITE'
        ? new InviteClientTransaction(key, req, ports, user)
        : new NonInviteClientTransaction(key, req, ports, user);
    this.clients.set(key, tx);
    return tx;
  }

  /**
   * Matches a response from the transport to a client transaction (RFC 3261 §17.1.3) and
   * hands it over. `false`: no transaction — the UAC core handles a stray 2xx retransmission
   * of an INVITE (§13.2.2.4), a proxy forwards it statelessly (§16.7), else it is dropped.
   */
  receiveResponse(res: SipResponse): boolean {
    const key = clientKeyOfResponse(res);
    const tx = key === undefined ? undefined : this.clients.get(key);
    if (tx === undefined) return false;
    tx.handle({ kind: 'response', response: res });
    return true;
  }

  /** The client transaction a response would match, if any. */
  findClientTransaction(res: SipResponse): ClientTransaction | undefined {
    const key = clientKeyOfResponse(res);
    return key === undefined ? undefined : this.clients.get(key);
  }

  /**
   * Passes a message straight to the transport, outside any transaction: the ACK for a 2xx
   * (RFC 3261 §13.2.2.4), a stateless proxy's forwarding (§16.11), stateless error replies.
   */
  sendStateless(msg: SipRequest | SipResponse, target: SendTarget): void {
    this.sendFn(msg, target);
  }

  // ---- internals ----------------------------------------------------------------------

  /** One removal hook for every transaction (a closure per transaction would live as long as it). */
  private readonly removeOnTerminated = (tx: unknown): void => this.remove(tx as ClientTransaction | ServerTransaction);

  private portsFor(msg: SipRequest, target: SendTarget): TransactionPorts {
    // `to` is dropped once a repeater holds what a retransmission needs: the target holds the
    // request, and the closures below live as long as the transaction.
    let to: SendTarget | undefined = target;
    const repeaterFn = this.repeaterFn;
    return {
      send: (m) => {
        if (to !== undefined) this.sendFn(m, to);
      },
      clock: this.clock,
      config: this.config,
      reliable: this.isReliableFn(msg, target),
      onTerminated: this.removeOnTerminated,
      // Only for server transactions keyed by an RFC 3261 branch: RFC 2543 matching reads the
      // request of every candidate transaction (§17.2.3).
      repeater:
        repeaterFn === undefined || target.kind !== 'response-to' || !hasRfc3261Branch(msg)
          ? undefined
          : (res) => {
              const r = to === undefined ? undefined : repeaterFn(res, to);
              if (r !== undefined) to = undefined;
              return r;
            },
    };
  }

  private addServer(key: string, tx: ServerTransaction): void {
    if (hasRfc3261Branch(tx.request)) {
      this.servers.set(key, tx);
      return;
    }
    const list = this.servers2543.get(key);
    if (list === undefined) this.servers2543.set(key, [tx]);
    else list.push(tx);
    this.servers2543Count++;
  }

  private remove(tx: ClientTransaction | ServerTransaction): void {
    switch (tx.machine) {
      case 'ICT':
      case 'NICT':
        if (this.clients.get(tx.id) === tx) this.clients.delete(tx.id);
        return;
      case 'IST':
      case 'NIST': {
        if (this.servers.get(tx.id) === tx) {
          this.servers.delete(tx.id);
          return;
        }
        const list = this.servers2543.get(tx.id);
        if (list === undefined) return;
        const i = list.indexOf(tx);
        if (i >= 0) {
          list.splice(i, 1);
          this.servers2543Count--;
        }
        if (list.length === 0) this.servers2543.delete(tx.id);
        return;
      }
    }
  }
}

/** The fields RFC 2543 To-tag matching needs from a server transaction. */
function istView(tx: ServerTransaction): { request: SipRequest; responseToTag: string | undefined } {
  return { request: tx.request, responseToTag: tx.machine === 'IST' ? tx.responseToTag : undefined };
}
