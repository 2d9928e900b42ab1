/**
 * One SIP element (RFC 3261 §5, §6 "element"): the transaction layer on a transport layer and
 * the transaction users above it, given at construction. Every message passes the same bands,
 * in order, as PJSIP's module priorities do:
 *
 * 1. screening (scanners, floods, password guessers): drop or answer before any state;
 * 2. routing: the {@link MethodRouter} names the TU (dialog owner first, then the table);
 * 3. that TU's stateless band (§8.2.7 challenges, a stateless proxy, §16.11);
 * 4. the transaction layer: retransmissions absorbed, CANCEL matched (§9.2), ACK for a 2xx
 *    handed to the TU, a new server transaction made;
 * 5. the UAS checks of §8.2 when the TU is a UAS, then the TU.
 *
 * Several TUs share the transport: a registrar, a proxy and a local UAS in one server; a user
 * agent alone in a client. Whatever a message makes a TU throw stays with that message (a 400
 * naming the header, or a 500 and a fault report).
 *
 * @remarks Layer 4 (`tu/`). Imports `transaction/`, `transport/`, `sip/`, `util/`.
 */
import { SipParseError, type SipRequest, type SipResponse } from '../sip/index.js';
import {
  type ClientTransaction, type InviteServerTransaction, type SendTarget, type ServerTransaction, type TimerConfig,
  TransactionLayer, synthesizeResponse, timerConfig,
} from '../transaction/index.js';
import { Resolver, type TransportLayer } from '../transport/index.js';
import { type Clock, guardedClock, systemClock } from '../util/clock.js';
import { MethodRouter, type RouteRule } from './method-router.js';
import { type Target, UacCore } from './uac-core.js';
import { type StatelessAnswer, UasCore, type UasPolicy } from './uas-core.js';

/** A transaction user (RFC 3261 §5): what the element hands requests and stray responses to. */
export interface TransactionUser {
  /** Set when the TU is a UAS: the element runs the §8.2 checks with it before {@link receiveRequest}. */
  readonly uas?: UasPolicy;
  /** Band 3, before any transaction: true when the TU answered or took the request statelessly. */
  receiveStateless?(req: SipRequest): boolean;
  /** A request that made a new server transaction (and passed §8.2 for a UAS): answer through `tx`. */
  receiveRequest(req: SipRequest, tx: ServerTransaction): void;
  /** An ACK for a 2xx (its own transaction, §17.1.1.3) routed to this TU. */
  receiveAck?(ack: SipRequest): void;
  /**
   * A CANCEL matched a server transaction of this TU (§9.2; the element already answered the
   * CANCEL 200). Without this method the element answers a Proceeding INVITE 487 itself.
   */
  receiveCancel?(cancel: SipRequest, invite: InviteServerTransaction): void;
  /** A response no client transaction matched (a 2xx retransmission, §13.2.2.4); true when taken. */
  receiveStrayResponse?(res: SipResponse): boolean;
  /** True when a To-tagged request names a dialog this TU holds (routes it here; §12.2.2). */
  hasDialog?(req: SipRequest): boolean;
}

export interface SipElementOptions {
  transport: TransportLayer;
  resolver?: Resolver;
  clock?: Clock;
  timers?: Partial<TimerConfig>;
  /** `User-Agent` / `Server` header value. */
  product?: string;
  /** Max-Forwards of the requests the element's TUs originate (default 70, RFC 3261 §8.1.1.6). */
  maxForwards?: number;
  /**
   * Most server transactions alive at once (default: no limit); a new request beyond it is
   * answered statelessly with `503 Service Unavailable` and `Retry-After: 5`.
   */
  maxServerTransactions?: number;
  /**
   * Something the roles depend on (the store) cannot be reached: a request that fails meanwhile
   * is answered `503` with `Retry-After` (RFC 3261 §21.5.4) — the client tries another server
   * (RFC 3263 §4.3) — instead of a 500 and a fault report.
   */
  unavailable?: () => { what: string; retryAfter: number } | undefined;
  /**
   * Band 1: screening before anything else. `'drop'` ignores the request, an answer is sent
   * statelessly (never to an ACK), undefined lets it through.
   */
  screen?: (req: SipRequest) => StatelessAnswer | 'drop' | undefined;
  /** The TUs by name; made with the element so that they can use its cores and clock. */
  users: (element: SipElement) => Record<string, TransactionUser>;
  /** Band 2: which TU takes a request outside any dialog (see {@link MethodRouter}). */
  routes: readonly RouteRule[];
  /** Does the Request-URI name this server (a route rule's `requestUri: 'server'`)? */
  addressedToServer?: (req: SipRequest) => boolean;
}

/** Seconds in the Retry-After of a 503 for a request beyond maxServerTransactions. */
const OVERLOAD_RETRY_AFTER_S = 5;

export class SipElement {
  readonly transport: TransportLayer;
  readonly transactions: TransactionLayer;
  private readonly unavailable: SipElementOptions['unavailable'];
  /** A request the proxy could not deliver to any target (answered 480): for the log. */
  onUndeliverable: ((req: SipRequest, why: string) => void) | undefined;
  readonly clock: Clock;
  readonly timers: TimerConfig;
  readonly uac: UacCore;
  readonly uas: UasCore;
  readonly router: MethodRouter;
  readonly users: Readonly<Record<string, TransactionUser>>;
  private readonly userList: Array<[string, TransactionUser]>;
  private readonly dialogHolders: Array<[string, TransactionUser]>;
  private readonly screen: SipElementOptions['screen'];
  private readonly routerContext: { addressedToServer: (req: SipRequest) => boolean; dialogOwner: (req: SipRequest) => string | undefined };
  /** The TU of each live server transaction (CANCEL goes to it, §9.2). */
  private readonly owners = new WeakMap<ServerTransaction, TransactionUser>();

  constructor(opts: SipElementOptions) {
    const t = (this.transport = opts.transport);
    // Every protocol timer (transactions, 2xx retransmission, a proxy's Timer C …) fires inside
    // a boundary: one that throws is reported as a fault, never escapes to the event loop.
    this.clock = guardedClock(opts.clock ?? systemClock, (error) => t.reportFault({ where: 'timer', error }));
    this.timers = timerConfig(opts.timers);
    this.screen = opts.screen;
    this.unavailable = opts.unavailable;
    this.transactions = new TransactionLayer({
      clock: this.clock,
      config: this.timers,
      send: (msg, target) => this.sendToTransport(msg, target),
      repeater: (res, target) => (target.kind === 'response-to' ? t.responseRepeater(res, target.request) : undefined),
      maxServerTransactions: opts.maxServerTransactions,
      isReliable: (msg, target) => {
        if (target.kind === 'response-to') return (target.request.source?.transport ?? 'udp') !== 'udp';
        const d = target.destination as Target | undefined;
        return d ? t.isReliableFor(msg as SipRequest, d) : false;
      },
    });
    this.uac = new UacCore(this.transactions, t, opts.resolver ?? new Resolver(), opts.maxForwards);
    this.uas = new UasCore(t, opts.product ?? 'Switchboard/0.1');
    this.router = new MethodRouter(opts.routes);
    this.users = opts.users(this);
    this.userList = Object.entries(this.users);
    for (const rule of opts.routes) {
      if (!(rule.tu in this.users)) throw new TypeError(`route to unknown transaction user "${rule.tu}"`);
    }
    this.dialogHolders = this.userList.filter(([, u]) => u.hasDialog !== undefined);
    const addressed = opts.addressedToServer ?? (() => false);
    this.routerContext = {
      addressedToServer: addressed,
      dialogOwner: (req) => {
        for (const [name, u] of this.dialogHolders) if (u.hasDialog!(req)) return name;
        return undefined;
      },
    };
    t.onRequest = (req) => this.receiveRequest(req);
    t.onResponse = (res) => this.receiveResponse(res);
  }

  get product(): string {
    return this.uas.product;
  }

  // ---- sending -----------------------------------------------------------------------

  private sendToTransport(msg: SipRequest | SipResponse, target: SendTarget): void {
    if (target.kind === 'response-to') {
      // RFC 3261 §17.2.4: a failed response send is reported to the server transaction. Over UDP
      // nothing is reported back for a datagram, so only connection transports pay for the hook.
      const req = target.request;
      if (req.source === undefined || req.source.transport === 'udp') this.transport.sendResponse(msg as SipResponse, req);
      else
        this.transport.sendResponse(msg as SipResponse, req, (err) =>
          this.guarded('transport error', req, () => this.transactions.findServerTransaction(req)?.handle({ kind: 'transport-error', error: err })),
        );
      return;
    }
    const dest = target.destination as Target;
    const req = msg as SipRequest;
    this.transport.sendRequest(req, dest, (err) => {
      if (req.method === 'ACK') return;
      this.guarded('transport error', req, () => {
        for (const tx of this.clientTxFor(req)) tx.handle({ kind: 'transport-error', error: err });
      });
    });
  }

  /**
   * Runs `fn` (a socket's callback: a connection refused, a write that failed) inside a
   * boundary: what it makes the transaction or its TU throw is reported, not thrown into the
   * event loop.
   */
  private guarded(where: string, msg: SipRequest, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.transport.reportFault({ where, error, ...this.transport.faultContext(msg) });
    }
  }

  private clientTxFor(req: SipRequest): ClientTransaction[] {
    const tx = this.transactions.findClientTransaction(synthesizeResponse(req, 'transport-error'));
    return tx ? [tx] : [];
  }

  // ---- receiving ---------------------------------------------------------------------

  private receiveResponse(res: SipResponse): void {
    if (this.transactions.receiveResponse(res)) return;
    // No client transaction: a proxy relays it by its Via (stray 2xx, or a stateless proxy's
    // responses, §16.11); a UA re-ACKs a retransmitted 2xx.
    for (const [, u] of this.userList) if (u.receiveStrayResponse?.(res)) return;
  }

  private receiveRequest(req: SipRequest): void {
    // Band 1: screening.
    if (this.screen !== undefined) {
      const verdict = this.screen(req);
      if (verdict !== undefined) {
        if (verdict !== 'drop' && req.method !== 'ACK') this.uas.replyStatelessly(req, verdict.status, verdict.reason, verdict.headers);
        return;
      }
    }
    // Band 2: routing; band 3: the TU's stateless handling.
    const name = this.router.select(req, this.routerContext);
    const tu = name === undefined ? undefined : this.users[name];
    if (tu?.receiveStateless?.(req)) return;
    // Band 4: transactions.
    const r = this.transactions.receiveRequest(req);
    switch (r.kind) {
      case 'absorbed':
        return;
      case 'ack-2xx':
        tu?.receiveAck?.(req);
        return;
      case 'cancel': {
        // RFC 3261 §9.2: 481 when no transaction matches; else 200 to the CANCEL and, if the
        // INVITE has no final response yet, 487 to the INVITE (the TU's to send, or ours).
        if (!r.invite) return void this.uas.respond(r.tx, req, 481);
        this.uas.respond(r.tx, req, 200);
        const owner = this.owners.get(r.invite);
        if (owner?.receiveCancel) return owner.receiveCancel(req, r.invite);
        if (r.invite.state === 'Proceeding') this.uas.respond(r.invite, r.invite.request, 487);
        return;
      }
      case 'overloaded':
        // RFC 3261 §21.5.4: 503 with Retry-After, without state. An ACK never reaches here; one
        // for this 503 goes the ack-2xx way.
        return this.uas.replyStatelessly(req, 503, 'Service Unavailable', [['Retry-After', String(OVERLOAD_RETRY_AFTER_S)]]);
      case 'new':
        break;
    }
    const tx = r.tx;
    try {
      // Band 5: the §8.2 checks for a UAS, then the TU. No TU: nobody here handles it.
      if (tu === undefined) return void this.uas.respond(tx, req, 501);
      this.owners.set(tx, tu);
      if (tu.uas !== undefined && !this.uas.admits(req, tx, tu.uas, tu.hasDialog?.(req) ?? false)) return;
      tu.receiveRequest(req, tx);
    } catch (err) {
      this.requestFailed('request', req, tx, err);
    }
  }

  /**
   * A TU that threw (or whose promise failed) before answering: the transaction still owes a
   * final response (§8.2.6, §16.7 for a proxy). A header it read that does not parse is the
   * request's fault: the 400 naming it (§21.4.1). Anything else is ours: 500 (§21.5.1) with
   * `reason`, and a fault report (source, Call-ID, `where`). Without `tx` (an ACK, a stateless
   * request) only the report.
   */
  requestFailed(where: string, req: SipRequest, tx: ServerTransaction | undefined, err: unknown, reason = 'Server Internal Error'): void {
    const open = tx !== undefined && (tx.state === 'Trying' || tx.state === 'Proceeding');
    if (err instanceof SipParseError && open) {
      try {
        this.uas.respond(tx!, req, err.status, { reason: err.reasonPhrase });
        return;
      } catch {
        /* nothing could be built: reported below */
      }
    }
    let answered: number | undefined;
    const down = this.unavailable?.();
    if (open && down) {
      try {
        this.uas.respond(tx!, req, 503, { reason: `Service Unavailable (${down.what})`, headers: [['Retry-After', String(down.retryAfter)]] });
        return;
      } catch {
        /* reported below */
      }
    }
    if (open) {
      try {
        this.uas.respond(tx!, req, 500, { reason });
        answered = 500;
      } catch {
        /* nothing could be built: the fault report says dropped */
      }
    }
    this.transport.reportFault({ where, error: err, ...this.transport.faultContext(req), answered });
  }
}
