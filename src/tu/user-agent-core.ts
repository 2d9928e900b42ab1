/**
 * The UAC and UAS cores (RFC 3261 §8): request construction, target resolution with RFC 3263
 * failover, the UAS checks of §8.2 (405/501, 416, 420, 415, 481), CANCEL handling (§9.2),
 * and the 2xx retransmission a UAS core owes until the ACK arrives (§13.3.1.4).
 *
 * @remarks Layer 4 (`tu/`). Imports `transaction/`, `transport/`, `dialog/`, `sip/`, `util/`.
 * Roles (user agent, registrar, proxy …) sit on top and receive requests that passed the checks.
 */
import {
  type HeaderList, SipParseError, type SipRequest, type SipResponse, type SipUri, createResponse, isDialogCreating, isKnownMethod, parseUri,
} from '../sip/index.js';
import {
  type ClientTransaction, type InviteServerTransaction, type NonInviteServerTransaction, type ServerTransaction,
  type SendTarget, type TimerConfig, TransactionLayer, synthesizeResponse, syntheticCause, timerConfig, nextInterval,
} from '../transaction/index.js';
import { type Destination, type TransportKind, Resolver, type TransportLayer, kindFromToken, statelessToTag, viaToken } from '../transport/index.js';
import { type Clock, guardedClock, systemClock } from '../util/clock.js';
import { newBranch, newTag } from '../util/ids.js';
import { RequestError } from '../util/errors.js';

export interface UserAgentCoreOptions {
  transport: TransportLayer;
  resolver?: Resolver;
  clock?: Clock;
  timers?: Partial<TimerConfig>;
  /** Methods the TU handles; others get 405 (known) or 501 (unknown). */
  allow: string[];
  /** Option tags we support (RFC 3261 §8.2.2.3); Require of anything else → 420. */
  supported?: string[];
  /** Body types we accept (RFC 3261 §8.2.3); others → 415. Default application/sdp. */
  accept?: string[];
  /** `User-Agent` / `Server` header value. */
  product?: string;
  /** Transport used when the target URI does not say (default udp, or the first listener). */
  defaultTransport?: TransportKind;
  /**
   * Most server transactions alive at once (default: no limit); a new request beyond it is
   * answered statelessly with `503 Service Unavailable` and `Retry-After: 5` (see
   * {@link TransactionLayerOptions.maxServerTransactions}).
   */
  maxServerTransactions?: number;
  /**
   * Screening before anything else (scanners, floods, password guessers): `'drop'` ignores the
   * request, an answer is sent statelessly (never to an ACK), undefined lets it through.
   */
  screen?: (req: SipRequest) => StatelessAnswer | 'drop' | undefined;
}

/** Seconds in the Retry-After of a 503 for a request beyond maxServerTransactions. */
const OVERLOAD_RETRY_AFTER_S = 5;

/**
 * A proxy core living in the same process (RFC 3261 §16): requests it accepts bypass the UAS
 * checks of §8.2, CANCELs of proxied INVITEs are forwarded (§16.10), ACKs for 2xx and stray 2xx
 * are relayed statelessly.
 */
export interface ProxyDelegate {
  accepts(req: SipRequest): boolean;
  receiveRequest(req: SipRequest, tx: ServerTransaction): void;
  /** True when `invite` is proxied; the core then only answers the CANCEL with 200. */
  receiveCancel(invite: ServerTransaction): boolean;
  forwardAck(ack: SipRequest): void;
  forwardStrayResponse(res: SipResponse): void;
  /** A stateless proxy (RFC 3261 §16.11) takes requests before any transaction is made. */
  receiveStateless?(req: SipRequest): boolean;
}

/** A response given without a server transaction (RFC 3261 §8.2.7). */
export interface StatelessAnswer {
  status: number;
  reason?: string;
  headers?: HeaderList;
}

/** A destination plus a flow to reuse when one is known (in-dialog requests, §18). */
export type Target = Destination & { flowId?: number };

export interface SendOptions {
  /** Called for each provisional response. */
  onProvisional?: (res: SipResponse) => void;
  /** Called for every 2xx after the first (forked 2xx, retransmissions, RFC 6026 §7.2). */
  onExtra2xx?: (res: SipResponse) => void;
  /** Called with the client transaction when it is created (for CANCEL). */
  onTransaction?: (tx: ClientTransaction, target: Target) => void;
}

export class UserAgentCore {
  readonly transactions: TransactionLayer;
  readonly transport: TransportLayer;
  readonly resolver: Resolver;
  readonly clock: Clock;
  readonly timers: TimerConfig;
  readonly allow: string[];
  readonly supported: string[];
  readonly accept: string[];
  readonly product: string;

  /** A request that passed the §8.2 checks: the TU must answer through `tx`. */
  onRequest: (req: SipRequest, tx: ServerTransaction) => void = (req, tx) => this.respond(tx, req, 501);
  /** An ACK for a 2xx (its own transaction, §13.3.1.4), after the core stopped retransmitting. */
  onAck: (ack: SipRequest) => void = () => {};
  /** A CANCEL matched an INVITE still Proceeding; the core already sent 200 and 487 (§9.2). */
  onCancel: (cancel: SipRequest, invite: SipRequest) => void = () => {};
  /** A 2xx arrived for an INVITE whose client transaction is gone (stray retransmission). */
  onStray2xx: (res: SipResponse) => void = () => {};
  /** In-dialog request test: does a dialog exist for this Call-ID and tags? */
  hasDialog: (req: SipRequest) => boolean = () => false;
  /**
   * Stateless UAS behaviour (RFC 3261 §8.2.7): a response the TU can give without any
   * transaction state, looked up before a server transaction is made. Meant for digest
   * challenges of requests that carry no credentials, which §8.2.7 says to answer statelessly
   * so that a flood of them creates no state (§26.1.5). `undefined`: handle statefully.
   */
  statelessResponse: ((req: SipRequest) => StatelessAnswer | undefined) | undefined;

  /** Set by a server that also proxies (see {@link ProxyDelegate}). */
  proxy: ProxyDelegate | undefined;

  private readonly retransmitting = new Map<string, { stop: () => void }>();
  private readonly screen: UserAgentCoreOptions['screen'];

  /** The To tag of every response of one server transaction (§8.2.6.2: the same tag each time). */
  toTagFor(tx: ServerTransaction, preferred?: string): string {
    return (tx.toTag ??= preferred ?? newTag());
  }

  constructor(opts: UserAgentCoreOptions) {
    this.transport = opts.transport;
    this.resolver = opts.resolver ?? new Resolver();
    // Every protocol timer (transactions, 2xx retransmission, a proxy's Timer C …) fires inside
    // a boundary: one that throws is reported as a fault, never escapes to the event loop.
    this.clock = guardedClock(opts.clock ?? systemClock, (error) => this.transport.reportFault({ where: 'timer', error }));
    this.timers = timerConfig(opts.timers);
    this.allow = opts.allow;
    this.supported = opts.supported ?? [];
    this.accept = opts.accept ?? ['application/sdp'];
    this.product = opts.product ?? 'Switchboard/0.1';
    this.screen = opts.screen;
    const t = this.transport;
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
    t.onRequest = (req) => this.receiveRequest(req);
    t.onResponse = (res) => {
      if (this.transactions.receiveResponse(res)) return;
      // No client transaction: a proxy relays it by its Via (stray 2xx, or a stateless proxy's
      // responses, §16.11); a UA re-ACKs a retransmitted 2xx.
      if (this.proxy) this.proxy.forwardStrayResponse(res);
      else if (res.cseq.method === 'INVITE' && res.status >= 200 && res.status < 300) this.onStray2xx(res);
    };
  }

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
    const fake = synthesizeResponse(req, 'transport-error');
    const tx = this.transactions.findClientTransaction(fake);
    return tx ? [tx] : [];
  }

  // ---- UAS core (RFC 3261 §8.2) ------------------------------------------------------

  private receiveRequest(req: SipRequest): void {
    if (this.screen !== undefined) {
      const verdict = this.screen(req);
      if (verdict !== undefined) {
        if (verdict !== 'drop' && req.method !== 'ACK') this.replyStatelessly(req, verdict.status, verdict.reason, verdict.headers);
        return;
      }
    }
    if (this.proxy?.receiveStateless?.(req)) return;
    if (this.statelessResponse !== undefined && this.answerStatelessly(req)) return;
    const r = this.transactions.receiveRequest(req);
    switch (r.kind) {
      case 'absorbed':
        return;
      case 'ack-2xx': {
        const key = `${req.callId}|${req.cseq.seq}`;
        const wasOurs = this.retransmitting.has(key);
        this.retransmitting.get(key)?.stop();
        if (!wasOurs && this.proxy?.accepts(req)) this.proxy.forwardAck(req);
        else this.onAck(req);
        return;
      }
      case 'cancel': {
        // RFC 3261 §9.2: 481 when no transaction matches; else 200 to the CANCEL and, if the
        // INVITE has no final response yet, 487 to the INVITE.
        if (!r.invite) return void this.respond(r.tx, req, 481);
        this.respond(r.tx, req, 200);
        if (this.proxy?.receiveCancel(r.invite)) return;
        const inv = r.invite;
        if (inv.state === 'Proceeding') {
          this.respond(inv, inv.request, 487);
          this.onCancel(req, inv.request);
        }
        return;
      }
      case 'overloaded':
        // RFC 3261 §21.5.4: 503 with Retry-After, without state. An ACK never reaches here; one
        // for this 503 goes the ack-2xx way.
        return this.replyStatelessly(req, 503, 'Service Unavailable', [['Retry-After', String(OVERLOAD_RETRY_AFTER_S)]]);
      case 'new':
        break;
    }
    const tx = r.tx;
    try {
      this.dispatch(req, tx);
    } catch (err) {
      // A TU that threw before answering: the transaction still owes a final response (§8.2.6,
      // §16.7 for a proxy). A header it read that does not parse is the request's fault: the
      // 400 naming it (§21.4.1). Anything else is ours: 500 (§21.5.1), and a fault report.
      const open = tx.state === 'Trying' || tx.state === 'Proceeding';
      if (err instanceof SipParseError && open) {
        try {
          this.respond(tx, req, err.status, { reason: err.reasonPhrase });
          return;
        } catch {
          /* nothing could be built: reported below */
        }
      }
      let answered: number | undefined;
      if (open) {
        try {
          this.respond(tx, req, 500, { reason: 'Server Internal Error' });
          answered = 500;
        } catch {
          /* nothing could be built: the fault report says dropped */
        }
      }
      this.transport.reportFault({ where: 'request', error: err, ...this.transport.faultContext(req), answered });
    }
  }

  /** §8.2 checks for a request that made a new server transaction, then its TU. */
  private dispatch(req: SipRequest, tx: ServerTransaction): void {
    if (this.proxy?.accepts(req)) return void this.proxy.receiveRequest(req, tx);
    // §8.2.1 method inspection.
    if (!this.allow.includes(req.method)) {
      const status = isKnownMethod(req.method) ? 405 : 501;
      return void this.respond(tx, req, status, { headers: [['Allow', this.allow.join(', ')]] });
    }
    // §8.2.2.1 To and Request-URI: schemes we cannot serve → 416.
    const uri = req.uri;
    if (uri.kind === 'absolute') return void this.respond(tx, req, 416);
    // §8.2.2.2 / §12.2.2: a To tag names a dialog; none known → 481.
    if (req.to.tag !== undefined && !this.hasDialog(req)) return void this.respond(tx, req, 481);
    // §8.2.2.3 Require (not for ACK/CANCEL).
    const required = req.optionTags('Require').filter((t) => !this.supported.includes(t));
    if (required.length > 0) return void this.respond(tx, req, 420, { headers: [['Unsupported', required.join(', ')]] });
    // §8.2.3 content processing: body type and Accept.
    if (req.body.length > 0) {
      const ct = req.contentType;
      if (ct === undefined || !this.acceptsBody(req.method, ct)) {
        return void this.respond(tx, req, 415, { headers: [['Accept', this.accept.join(', ')]] });
      }
      const enc = req.header('Content-Encoding');
      if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') {
        return void this.respond(tx, req, 415, { headers: [['Accept-Encoding', 'identity']] });
      }
    }
    if (req.method === 'INVITE' && req.hasHeader('Accept')) {
      // RFC 3261 §21.4.7: we can only answer with SDP; an Accept without it → 406 (RFC 4475 sdp01).
      const acc = req.headerValues('Accept').map((a) => a.split(';')[0]!.trim().toLowerCase());
      if (!acc.some((a) => a === 'application/sdp' || a === 'application/*' || a === '*/*')) {
        return void this.respond(tx, req, 406, { headers: [['Warning', `399 ${this.transport.sentBy('udp').host} "Only application/sdp bodies are supported"`]] });
      }
    }
    this.onRequest(req, tx);
  }

  /**
   * RFC 3261 §8.2.7: only requests the §8.2 checks would pass unchanged qualify (an allowed,
   * recognised method, no To tag, no Require, no body), so the stateless answer is the one the
   * stateful path would give. A retransmission gets the answer again, with the same To tag
   * (§8.2.6.2): the transport's hash of the request's identifying header values.
   */
  private answerStatelessly(req: SipRequest): boolean {
    const m = req.method;
    if (m === 'ACK' || m === 'CANCEL' || !this.allow.includes(m)) return false;
    if (req.to.tag !== undefined || req.body.length > 0 || req.hasHeader('Require')) return false;
    const a = this.statelessResponse!(req);
    if (a === undefined) return false;
    this.replyStatelessly(req, a.status, a.reason, a.headers);
    return true;
  }

  /** A response sent without a server transaction (§8.2.7: the same To tag for a retransmission). */
  private replyStatelessly(req: SipRequest, status: number, reason: string | undefined, extra: HeaderList = []): void {
    const headers: HeaderList = [['Server', this.product], ...extra];
    this.transport.sendResponse(createResponse(req, status, { reason, toTag: statelessToTag(req), headers }), req);
  }

  private acceptsBody(method: string, ct: string): boolean {
    if (method === 'MESSAGE' || method === 'INFO' || method === 'NOTIFY' || method === 'PUBLISH') return true;
    if (ct.startsWith('multipart/')) return true;
    return this.accept.includes(ct);
  }

  /** Builds and sends a response through a server transaction (§8.2.6). */
  respond(tx: ServerTransaction, req: SipRequest, status: number, opts: { reason?: string; toTag?: string; headers?: HeaderList; body?: Buffer | string } = {}): SipResponse {
    const headers: HeaderList = [];
    if (status >= 200 || status === 180 || status === 183) headers.push(['Server', this.product]);
    // RFC 3261 §12.1.1: a dialog-creating response copies the Record-Route of the request.
    if (status > 100 && status < 300 && isDialogCreating(req.method)) {
      for (const rr of req.headers('Record-Route')) headers.push(['Record-Route', rr]);
    }
    if (opts.headers) headers.push(...opts.headers);
    const toTag = status > 100 ? this.toTagFor(tx, opts.toTag) : undefined;
    const res = createResponse(req, status, { reason: opts.reason, toTag, headers, body: opts.body });
    (tx as InviteServerTransaction | NonInviteServerTransaction).respond(res);
    return res;
  }

  /**
   * RFC 3261 §13.3.1.4: the UAS core retransmits a 2xx to INVITE at T1, 2·T1 … capped at T2
   * until the ACK arrives, and gives up after 64·T1 (then the session should be ended with BYE).
   */
  /** Stops retransmitting the 2xx of an INVITE (the call ended before its ACK arrived). */
  stopRetransmit2xx(req: SipRequest): void {
    this.retransmitting.get(`${req.callId}|${req.cseq.seq}`)?.stop();
  }

  retransmit2xx(req: SipRequest, res: SipResponse, onNoAck: () => void): void {
    const key = `${req.callId}|${req.cseq.seq}`;
    const reliable = (req.source?.transport ?? 'udp') !== 'udp';
    let interval = this.timers.T1;
    let elapsed = 0;
    let handle: ReturnType<Clock['setTimer']> | undefined;
    const deadline = 64 * this.timers.T1;
    const stop = () => {
      if (handle) this.clock.clearTimer(handle);
      this.retransmitting.delete(key);
    };
    const tick = () => {
      elapsed += interval;
      if (elapsed >= deadline) {
        stop();
        onNoAck();
        return;
      }
      if (!reliable) this.transport.sendResponse(res, req);
      interval = reliable ? interval : nextInterval(interval, this.timers.T2);
      handle = this.clock.setTimer(reliable ? deadline - elapsed : interval, tick);
    };
    this.retransmitting.get(key)?.stop();
    this.retransmitting.set(key, { stop });
    handle = this.clock.setTimer(reliable ? deadline : interval, tick);
  }

  // ---- UAC core (RFC 3261 §8.1) ------------------------------------------------------

  /** Resolves a URI to destinations (RFC 3263), honouring `transport=` and our listeners. */
  async resolve(uriText: string, preferred?: TransportKind): Promise<Target[]> {
    const u = this.targetUri(uriText, preferred);
    return this.usable(this.resolver.resolveLocal(u) ?? (await this.resolver.resolve(u)));
  }

  /** {@link resolve} without waiting, when no DNS is needed (numeric IP, static host map). */
  resolveSync(uriText: string, preferred?: TransportKind): Target[] | undefined {
    const local = this.resolver.resolveLocal(this.targetUri(uriText, preferred));
    return local ? this.usable(local) : undefined;
  }

  private targetUri(uriText: string, preferred?: TransportKind): SipUri {
    const uri = parseUri(uriText, 'target');
    if (uri.kind !== 'sip') throw new RequestError('UA_ERR_NO_ROUTE', `cannot route to a ${uri.scheme}: URI without a dial plan`);
    if (kindFromToken(uri.transport) || !preferred) return uri;
    const u = uri.clone();
    u.params.set('transport', preferred);
    return u;
  }

  private usable(list: Target[]): Target[] {
    return list.filter((d) => this.transport.hasListener(d.kind) || d.kind === 'tcp' || d.kind === 'tls' || d.kind === 'ws' || d.kind === 'wss');
  }

  /** A top Via for a new client transaction (§8.1.1.7), with `rport` (RFC 3581 §3). */
  via(kind: TransportKind): string {
    const sb = this.transport.viaSentBy(this.transport.hasListener(kind) ? kind : 'udp');
    return `SIP/2.0/${viaToken(kind)} ${sb.host}:${sb.port};branch=${newBranch()};rport`;
  }

  /** Our Contact URI for a transport (§8.1.1.8). */
  contactUri(kind: TransportKind, user = 'switchboard'): string {
    const k = this.transport.hasListener(kind) ? kind : 'udp';
    const sb = this.transport.sentBy(k);
    return `sip:${user}@${sb.host}:${sb.port}${k === 'udp' ? '' : `;transport=${k}`}`;
  }

  /**
   * Sends a request through a client transaction and resolves with its final response —
   * always a response: a timeout is a synthetic 408, a transport failure a synthetic 503
   * (RFC 3261 §8.1.3.1). `build` is called per attempt with the destination, so each retry
   * to the next RFC 3263 target (§4.3 failover on 503/transport error) gets a fresh Via.
   */
  async send(targets: Target[], build: (target: Target) => SipRequest, opts: SendOptions = {}): Promise<{ response: SipResponse; request: SipRequest; target: Target }> {
    if (targets.length === 0) throw new RequestError('UA_ERR_NO_DESTINATION', 'no destination for the request');
    let last: { response: SipResponse; request: SipRequest; target: Target } | undefined;
    for (const target of targets) {
      const request = build(target);
      const response = await new Promise<SipResponse>((resolve) => {
        let done = false;
        const tx = this.transactions.sendRequest(request, {
          onResponse: (res) => {
            if (res.status < 200) {
              if (!done) opts.onProvisional?.(res);
              return;
            }
            if (done) {
              if (res.status < 300) opts.onExtra2xx?.(res);
              return;
            }
            done = true;
            resolve(res);
          },
        }, { destination: target });
        opts.onTransaction?.(tx, target);
      });
      last = { response, request, target };
      const failover = syntheticCause(response) === 'transport-error' || response.status === 503;
      if (!failover) return last;
    }
    return last!;
  }
}

