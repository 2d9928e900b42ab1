/**
 * The user agent role: a UAC and UAS with calls, registration, OPTIONS and MESSAGE, digest
 * authentication and SDP offer/answer, over every transport.
 *
 * ```ts
 * const ua = await UserAgent.start({ listen: ['udp:127.0.0.1:0'] });
 * const call = await ua.invite('sip:bob@127.0.0.1:5090');
 * if (call.established) await call.bye();
 * ua.on('invite', (inv) => inv.accept());
 * ```
 *
 * @remarks Role (`roles/user-agent`). The one transaction user of its own {@link SipElement};
 * calls are `usage/invite` sessions behind the {@link Call} façade; SDP from `sdp/`.
 */
import { EventEmitter } from 'node:events';
import { type Dialog, DialogTable } from '../../dialog/index.js';
import { continuedOrigin, createAnswer, createOffer, rejectingAnswer } from '../../sdp/index.js';
import { type HeaderList, type SipRequest, type SipResponse, buildRequest, isDialogCreating, parseNameAddr } from '../../sip/index.js';
import type { ClientTransaction, InviteServerTransaction, ServerTransaction, TimerConfig } from '../../transaction/index.js';
import {
  type ListenSpec, type ResolverOptions, type TraceEvent, type TransportKind, type TransportLayerOptions,
  Resolver, TransportLayer, kindFromToken, parseListenSpec,
} from '../../transport/index.js';
import { type Credentials, SipElement, type SendResult, type Target, type TransactionUser, type UasPolicy } from '../../tu/index.js';
import {
  ClientInviteSession, type ClientSessionEnv, ClientSubscription, DEFAULT_SESSION_TIMER, type InviteSession, ServerInviteSession, type ServerSessionEnv, type SessionTimerSettings,
  parseMinSE, uacSessionTimerHeaders,
} from '../../usage/index.js';
import { RequestError } from '../../util/errors.js';
import type { Clock } from '../../util/clock.js';
import { newCallId, newTag } from '../../util/ids.js';
import { Call } from './call.js';
import { IncomingCall } from './incoming-call.js';
import { acceptRefer, replacedCall } from './transfer.js';

export type { Credentials } from '../../tu/index.js';

export interface UserAgentOptions {
  /** Listen addresses (`udp:127.0.0.1:0` by default). */
  listen?: Array<string | ListenSpec>;
  /** Our address-of-record for From (default `sip:switchboard@<first listener>`). */
  from?: string;
  displayName?: string;
  /** Used to answer 401/407 challenges (RFC 3261 §22.2). */
  credentials?: Credentials;
  timers?: Partial<TimerConfig>;
  clock?: Clock;
  /** Static host map for RFC 3263 resolution (tests, closed networks). */
  hosts?: ResolverOptions['hosts'];
  transport?: Omit<TransportLayerOptions, 'listen'>;
  /** Codecs we offer/accept, in preference order. */
  codecs?: string[];
  /** Address and port written into SDP (no RTP is sent; signalling only). */
  mediaAddress?: string;
  mediaPort?: number;
  /** User-Agent / Server header value. */
  product?: string;
  /** Max-Forwards of every request we originate (default 70, RFC 3261 §8.1.1.6; IOS `sip-ua` `max-forwards`). */
  maxForwards?: number;
  /** Every message sent and received. */
  onTrace?: (ev: TraceEvent) => void;
  /** Outbound proxy (RFC 3261 §8.1.2): out-of-dialog requests go there, with a pre-loaded Route. */
  outboundProxy?: string;
  /** Most server transactions alive at once; beyond it a stateless 503 (default: no limit). */
  maxServerTransactions?: number;
  /**
   * Session timers (RFC 4028): the interval we ask for and the smallest we accept, seconds
   * (default 1800 and 90); `false` turns them off (no `timer` in Supported).
   */
  sessionTimer?: SessionTimerSettings | false;
}

export interface RequestOptions {
  body?: string | Buffer;
  contentType?: string;
  headers?: HeaderList;
  from?: string;
  /** Transport to reach the target when its URI does not say. */
  transport?: TransportKind;
  credentials?: Credentials;
  /** Called with each provisional response. */
  onProvisional?: (res: SipResponse) => void;
}

export interface InviteOptions extends RequestOptions {
  /** SDP offer; default a generated audio offer; `null` sends no offer (delayed offer). */
  sdp?: string | null;
  /** `Require: 100rel` in the INVITE: the callee must send its provisionals reliably (RFC 3262; default: only `Supported`). */
  require100rel?: boolean;
  /**
   * Called with the call before the INVITE is sent, so that it can be ended while it rings:
   * `call.cancel()` sends CANCEL once a provisional response has come (§9.1).
   */
  onCall?: (call: Call) => void;
}

/** An incoming request outside INVITE dialogs (MESSAGE, INFO, NOTIFY, other extension). */
export interface IncomingRequest {
  request: SipRequest;
  /** Call within the dialog the request belongs to, if any. */
  call?: Call;
  respond(status: number, opts?: { reason?: string; headers?: HeaderList; body?: string | Buffer }): void;
}

// Only what this UA implements.
const ALLOW = ['INVITE', 'ACK', 'CANCEL', 'OPTIONS', 'BYE', 'PRACK', 'INFO', 'UPDATE', 'REFER', 'MESSAGE', 'NOTIFY'];

export declare interface UserAgent {
  on(event: 'invite', fn: (inv: IncomingCall) => void): this;
  on(event: 'request', fn: (req: IncomingRequest) => void): this;
  on(event: 'call', fn: (call: Call) => void): this;
}

interface CallEntry {
  dialog: Dialog;
  call: Call;
}


export class UserAgent extends EventEmitter {
  /** The SIP element: transactions on {@link transport}, with this UA as its one transaction user. */
  readonly element: SipElement;
  readonly transport: TransportLayer;
  private readonly dialogs = new DialogTable<CallEntry>();
  private readonly calls = new WeakMap<InviteSession, Call>();
  /** The session of each INVITE received, until it is answered (CANCEL finds it, §9.2). */
  private readonly incoming = new WeakMap<SipRequest, ServerInviteSession>();
  private readonly mediaPort: number;
  private readonly sessionEnv: ClientSessionEnv & ServerSessionEnv;
  /**
   * The §8.2 checks of this UA: reliable provisionals (RFC 3262, `100rel`) and session timers
   * (RFC 4028, `timer`, unless turned off) are implemented; a Require of anything else gets 420.
   */
  private readonly uasPolicy: UasPolicy;
  private readonly timerSettings: SessionTimerSettings | false;
  private stopped = false;
  /** Our event subscriptions (RFC 6665): their NOTIFYs come to them. */
  private readonly subscriptions = new Set<ClientSubscription>();

  private constructor(private readonly opts: UserAgentOptions, transport: TransportLayer) {
    super();
    this.transport = transport;
    this.mediaPort = opts.mediaPort ?? 20000 + 2 * Math.floor(Math.random() * 10000);
    this.timerSettings = opts.sessionTimer === undefined ? DEFAULT_SESSION_TIMER : opts.sessionTimer;
    this.uasPolicy = { allow: ALLOW, supported: this.timerSettings ? ['100rel', 'timer', 'replaces'] : ['100rel', 'replaces'], accept: ['application/sdp'] };
    const user: TransactionUser = {
      uas: this.uasPolicy,
      hasDialog: (req) => this.findCall(req) !== undefined || (req.method === 'NOTIFY' && [...this.subscriptions].some((s) => s.matches(req))),
      receiveRequest: (req, tx) => this.receiveRequest(req, tx),
      receiveAck: (ack) => this.findCall(ack)?.call.session.receiveAck(ack),
      receiveCancel: (_cancel, invite) => this.receiveCancel(invite),
      receiveStrayResponse: (res) => this.reAck(res),
    };
    this.element = new SipElement({
      transport,
      resolver: new Resolver({ hosts: opts.hosts }),
      clock: opts.clock,
      timers: opts.timers,
      product: opts.product,
      maxForwards: opts.maxForwards,
      maxServerTransactions: opts.maxServerTransactions,
      users: () => ({ ua: user }),
      routes: [{ tu: 'ua' }],
    });
    const media = () => ({ address: this.mediaAddress(), port: this.mediaPort, codecs: this.opts.codecs });
    this.sessionEnv = {
      element: this.element,
      allow: ALLOW,
      bind: (s) => {
        const call = this.calls.get(s);
        if (call && s.dialog) this.dialogs.add({ dialog: s.dialog, call });
      },
      release: (s) => {
        const d = s.dialog;
        const e = d ? this.dialogs.get(d.callId, d.localTag, d.remoteTag) : undefined;
        if (e) this.dialogs.remove(e);
      },
      answer: (offer, previous) => createAnswer(offer, { ...media(), ...continuedOrigin(previous) }).sdp,
      offer: () => createOffer(media()),
      rejectingAnswer: (offer) => {
        try {
          return rejectingAnswer(offer, { address: this.mediaAddress() });
        } catch {
          return undefined; // a malformed offer has no valid answer
        }
      },
      contact: (kind) => this.element.uac.contactUri(kind),
      sessionTimer: this.timerSettings,
    };
  }

  /** Opens the listeners and returns a running user agent. */
  static async start(options: UserAgentOptions = {}): Promise<UserAgent> {
    const listen = (options.listen ?? ['udp:127.0.0.1:0']).map((l) => (typeof l === 'string' ? parseListenSpec(l) : l));
    const transport = new TransportLayer({ ...options.transport, listen });
    if (options.onTrace) transport.onTrace = options.onTrace;
    await transport.start();
    return new UserAgent(options, transport);
  }

  /**
   * Resolves once no transaction is live any more (or after `limitMs`), so that stopping then
   * loses nothing a peer may still ask for: over UDP a server transaction stays Completed for
   * Timer J = 64·T1 (RFC 3261 §17.2.2) to repeat its final response, e.g. the 200 to a BYE whose
   * first copy was lost. `limitMs` defaults to 64·T1 plus one second.
   */
  async settled(limitMs = 64 * this.element.timers.T1 + 1000): Promise<void> {
    const until = Date.now() + limitMs;
    for (;;) {
      const live = this.element.transactions.size;
      if ((live.clients === 0 && live.servers === 0) || Date.now() >= until) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.transport.stop();
  }

  // ---- events (RFC 6665) and publications (RFC 3903) ----------------------------------

  /**
   * Subscribes to `event` (`presence`, `presence.winfo`, `dialog` …) of `target`; resolves with
   * the subscription once the SUBSCRIBE has its final response (`subscription.state` is
   * `terminated` when it was refused). Its NOTIFYs arrive as `notify` events; it refreshes itself
   * before expiry until {@link ClientSubscription.unsubscribe}.
   */
  async subscribe(target: string, event: string, opts: RequestOptions & { expires?: number; accept?: string; refresh?: boolean } = {}): Promise<ClientSubscription> {
    const uriText = target.replace(/^<|>$/g, '');
    const kind = opts.transport ?? this.kindFor(uriText);
    const callId = newCallId(this.transport.sentBy(kind).host.replace(/[[\]]/g, ''));
    const fromTag = newTag();
    const expires = opts.expires ?? 3600;
    const headers: HeaderList = [['Event', event], ['Expires', String(expires)], ...(opts.accept ? ([['Accept', opts.accept]] as HeaderList) : []), ...(opts.headers ?? [])];
    const sub = new ClientSubscription({ element: this.element, event, callId, fromTag, expires, contact: this.element.uac.contactUri(kind), headers: opts.accept ? [['Accept', opts.accept]] : [], refresh: opts.refresh });
    this.subscriptions.add(sub);
    sub.once('terminated', () => this.subscriptions.delete(sub));
    const result = await this.requestWithDetails('SUBSCRIBE', target, { ...opts, headers, callId, fromTag, onTransaction: (tx) => sub.sending(tx.request) });
    sub.subscribed(result);
    return sub;
  }

  /**
   * Publishes event state (RFC 3903): `body` for an initial publication or a modification,
   * none for a refresh; `etag` (the previous SIP-ETag) for all but the initial one; `expires: 0`
   * removes it. Resolves with the response (its `SIP-ETag` is the next `etag`).
   */
  publish(target: string, opts: RequestOptions & { event?: string; etag?: string; expires?: number } = {}): Promise<SipResponse> {
    const headers: HeaderList = [['Event', opts.event ?? 'presence'], ...(opts.expires !== undefined ? ([['Expires', String(opts.expires)]] as HeaderList) : []), ...(opts.etag ? ([['SIP-If-Match', opts.etag]] as HeaderList) : []), ...(opts.headers ?? [])];
    return this.request('PUBLISH', target, { ...opts, headers, contentType: opts.body !== undefined ? (opts.contentType ?? 'application/pidf+xml') : undefined });
  }

  /** Our AOR. */
  get aor(): string {
    if (this.opts.from) return this.opts.from;
    const sb = this.transport.sentBy('udp');
    return `sip:switchboard@${sb.host}:${sb.port}`;
  }

  private fromValue(from?: string): string {
    const uri = from ?? this.aor;
    const dn = this.opts.displayName ? `"${this.opts.displayName}" ` : '';
    return `${dn}<${uri}>`;
  }

  private mediaAddress(): string {
    const h = this.opts.mediaAddress ?? this.transport.sentBy('udp').host;
    return h.startsWith('[') ? h.slice(1, -1) : h;
  }

  private kindFor(target: string, preferred?: TransportKind): TransportKind {
    try {
      const u = parseNameAddr(target, 'target').uri;
      if (u.kind === 'sip') return kindFromToken(u.transport) ?? preferred ?? (u.scheme === 'sips' ? 'tls' : 'udp');
    } catch {
      /* fall through */
    }
    return preferred ?? 'udp';
  }

  // ---- out-of-dialog requests (UAC) --------------------------------------------------

  /**
   * Sends a request outside a dialog and resolves with the final response, answering one
   * digest challenge per realm when credentials are known (RFC 3261 §22.2).
   */
  async request(method: string, target: string, opts: RequestOptions = {}): Promise<SipResponse> {
    const r = await this.requestWithDetails(method, target, opts);
    return r.response;
  }

  private async requestWithDetails(
    method: string,
    target: string,
    opts: RequestOptions & { onTransaction?: (tx: ClientTransaction, t: Target) => void; onExtra2xx?: (res: SipResponse) => void; callId?: string; fromTag?: string; to?: string; extraHeaders?: (kind: TransportKind) => HeaderList },
  ): Promise<SendResult> {
    const uac = this.element.uac;
    const uriText = target.replace(/^<|>$/g, '');
    const preferred = opts.transport ?? this.kindFor(uriText);
    const proxy = this.opts.outboundProxy;
    const targets = await uac.resolve(proxy ?? uriText, opts.transport);
    const preloaded: HeaderList = proxy ? [['Route', `<${proxy.includes(';lr') ? proxy : `${proxy};lr`}>`]] : [];
    const callId = opts.callId ?? newCallId(this.transport.sentBy(preferred).host.replace(/[[\]]/g, ''));
    const fromTag = opts.fromTag ?? newTag();
    const cseq = 1 + Math.floor(Math.random() * 10000);
    const build = (t: Target, auth: HeaderList, attempt: number): SipRequest => {
      const headers: HeaderList = [
        ['Via', uac.via(t.kind)],
        ['Max-Forwards', String(uac.maxForwards)],
        ['From', `${this.fromValue(opts.from)};tag=${fromTag}`],
        ['To', `<${opts.to ?? uriText}>`],
        ['Call-ID', callId],
        ['CSeq', `${cseq + attempt} ${method}`],
        ['User-Agent', this.element.product],
      ];
      if (isDialogCreating(method)) {
        if (!(opts.headers ?? []).some(([n]) => n.toLowerCase() === 'contact')) headers.push(['Contact', `<${uac.contactUri(t.kind)}>`]);
      }
      if (method === 'INVITE' || method === 'OPTIONS') {
        headers.push(['Allow', ALLOW.join(', ')]);
        if (this.uasPolicy.supported.length > 0) headers.push(['Supported', this.uasPolicy.supported.join(', ')]);
      }
      headers.push(...preloaded);
      if (opts.extraHeaders) headers.push(...opts.extraHeaders(t.kind));
      if (opts.headers) headers.push(...opts.headers);
      headers.push(...auth);
      if (opts.body !== undefined) headers.push(['Content-Type', opts.contentType ?? 'application/sdp']);
      return buildRequest({ method, uri: uriText, headers, body: opts.body });
    };
    return uac.sendAuthenticated(targets, build, opts.credentials ?? this.opts.credentials, {
      onProvisional: opts.onProvisional,
      onTransaction: opts.onTransaction,
      onExtra2xx: opts.onExtra2xx,
    });
  }

  /** OPTIONS (RFC 3261 §11). */
  options(target: string, opts: RequestOptions = {}): Promise<SipResponse> {
    return this.request('OPTIONS', target, { ...opts, headers: [['Accept', 'application/sdp'], ...(opts.headers ?? [])] });
  }

  /** MESSAGE (RFC 3428). */
  message(target: string, text: string, contentType = 'text/plain'): Promise<SipResponse> {
    return this.request('MESSAGE', target, { body: text, contentType });
  }

  /**
   * REGISTER (RFC 3261 §10.2) for `aor` at `registrar`; `contact` defaults to our listener
   * (`*` with expires 0 removes all bindings).
   */
  async register(registrar: string, opts: { aor?: string; contact?: string; expires?: number; credentials?: Credentials; callId?: string; transport?: TransportKind } = {}): Promise<SipResponse> {
    const aor = opts.aor ?? this.aor;
    const expires = opts.expires ?? 3600;
    const r = await this.requestWithDetails('REGISTER', registrar, {
      from: aor,
      to: aor,
      credentials: opts.credentials,
      transport: opts.transport,
      callId: opts.callId,
      extraHeaders: (kind) => [
        ['Contact', opts.contact === '*' ? '*' : `<${opts.contact ?? this.element.uac.contactUri(kind)}>`],
        ['Expires', String(expires)],
      ],
    });
    return r.response;
  }

  // ---- calls (UAC) -------------------------------------------------------------------

  /**
   * Places a call. Resolves when the INVITE gets a final response: `call.established` tells
   * whether it was answered; otherwise `call.finalResponse` holds the failure (486, 408 …).
   */
  async invite(target: string, opts: InviteOptions = {}): Promise<Call> {
    const offer = opts.sdp === null ? undefined : (opts.sdp ?? this.sessionEnv.offer());
    const session = new ClientInviteSession(this.sessionEnv, offer, (t) => `<${this.element.uac.contactUri(t.kind)}>`);
    const call = new Call('outgoing', session);
    this.calls.set(session, call);
    opts.onCall?.(call);
    const callId = newCallId(this.transport.sentBy(opts.transport ?? this.kindFor(target.replace(/^<|>$/g, ''))).host.replace(/[[\]]/g, ''));
    const fromTag = newTag();
    const send = (sessionExpires: Array<[string, string]>) =>
      this.requestWithDetails('INVITE', target, {
        ...opts,
        callId,
        fromTag,
        headers: [...(opts.require100rel ? ([['Require', '100rel']] as HeaderList) : []), ...sessionExpires, ...(opts.headers ?? [])],
        body: offer,
        contentType: 'application/sdp',
        onTransaction: (tx, t) => session.transactionStarted(tx, t),
        onProvisional: (res) => {
          session.provisional(res);
          opts.onProvisional?.(res);
        },
        onExtra2xx: (res) => session.extra2xx(res),
      });
    const timer = this.timerSettings;
    let result = await send(timer ? uacSessionTimerHeaders(timer) : []);
    // RFC 4028 §7.4: 422 Session Interval Too Small — once more with the Min-SE it named.
    const minSE = result.response.status === 422 && timer ? parseMinSE(result.response) : undefined;
    if (minSE !== undefined && timer && minSE <= 86_400) result = await send(uacSessionTimerHeaders(timer, Math.max(minSE, timer.minSE), Math.max(minSE, timer.expires)));
    await session.final(result);
    this.emit('call', call);
    return call;
  }

  /**
   * An SDP offer with our media address and port, limited to `codecs` (names as in SDP, in order
   * of preference; e.g. a dial-peer's `codec`); default: every codec we have.
   */
  offer(codecs?: readonly string[]): string {
    return codecs && codecs.length > 0 ? createOffer({ address: this.mediaAddress(), port: this.mediaPort, codecs: [...codecs] }) : this.sessionEnv.offer();
  }

  /**
   * The answer this UA gives to `offer` (its codecs, media address and port; RFC 3264 §6), e.g. to
   * send the same description in a 183 and in the 200. Throws when nothing in it is acceptable.
   */
  answerFor(offer: string): string {
    return this.sessionEnv.answer(offer);
  }

  /** A retransmitted 2xx whose transaction is gone: the session's ACK again (RFC 3261 §13.2.2.4). */
  private reAck(res: SipResponse): boolean {
    if (res.cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300) return false;
    const entry = this.dialogs.get(res.callId, res.from.tag ?? '', res.to.tag ?? '');
    return entry?.call.session.reAck(res) ?? false;
  }

  // ---- UAS ---------------------------------------------------------------------------

  private findCall(req: SipRequest): CallEntry | undefined {
    return this.dialogs.get(req.callId, req.to.tag ?? '', req.from.tag ?? '');
  }

  private receiveCancel(invite: InviteServerTransaction): void {
    const session = this.incoming.get(invite.request);
    if (session) session.cancelled();
    else if (invite.state === 'Proceeding') this.element.uas.respond(invite, invite.request, 487);
  }

  private receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    const entry = req.to.tag !== undefined ? this.findCall(req) : undefined;
    if (entry) return this.receiveInDialog(req, tx, entry);
    if (req.method === 'NOTIFY') {
      for (const s of this.subscriptions) if (s.matches(req)) return s.receiveNotify(req, tx);
    }
    switch (req.method) {
      case 'INVITE': {
        // RFC 3891: an INVITE that replaces one of our calls (attended transfer, call pickup).
        const replaced = req.hasHeader('Replaces') ? replacedCall(req, (id, local, remote) => this.dialogs.get(id, local, remote)?.call) : undefined;
        if (typeof replaced === 'number') return void this.element.uas.respond(tx, req, replaced, replaced === 481 ? { reason: 'Replaced Dialog Not Found' } : {});
        const session = new ServerInviteSession(this.sessionEnv, req, tx as InviteServerTransaction);
        if (!session.admitSessionInterval()) return; // 422 (RFC 4028 §8.1)
        const call = new Call('incoming', session);
        this.calls.set(session, call);
        this.incoming.set(req, session);
        const inv = new IncomingCall(req, call, session, (c) => this.emit('call', c));
        if (replaced !== undefined) {
          // The user is already in the replaced call: the new one is answered at once, the old one
          // ended (BYE, or CANCEL for an early dialog we placed) — RFC 3891 §3.
          inv.accept();
          replaced.emit('replaced', call);
          void (replaced.established ? replaced.bye('replaced') : replaced.cancel()).catch(() => {});
          return;
        }
        if (this.listenerCount('invite') === 0) {
          inv.reject(480);
          return;
        }
        this.emit('invite', inv);
        return;
      }
      case 'OPTIONS':
        this.element.uas.respond(tx, req, 200, {
          headers: [['Allow', ALLOW.join(', ')], ['Accept', 'application/sdp'], ['Supported', this.uasPolicy.supported.join(', ')], ['Accept-Language', 'en']],
        });
        return;
      default: {
        const incoming = this.incomingRequest(req, tx);
        if (this.listenerCount('request') > 0) this.emit('request', incoming);
        else if (req.method === 'MESSAGE') incoming.respond(200);
        else incoming.respond(481); // INFO, UPDATE, NOTIFY, PRACK outside any dialog (§12.2.2)
      }
    }
  }

  private incomingRequest(req: SipRequest, tx: ServerTransaction, call?: Call): IncomingRequest {
    return {
      request: req,
      call,
      respond: (status, o = {}) => {
        this.element.uas.respond(tx, req, status, o);
      },
    };
  }

  /** The session answers BYE, re-INVITE and UPDATE itself; anything else goes to the application (default 200). */
  private receiveInDialog(req: SipRequest, tx: ServerTransaction, entry: CallEntry): void {
    const { call } = entry;
    if (call.session.receiveRequest(req, tx)) return;
    if (req.method === 'REFER') return acceptRefer(this, req, tx, call);
    const incoming = this.incomingRequest(req, tx, call);
    if (this.listenerCount('request') > 0) this.emit('request', incoming);
    else incoming.respond(200);
  }
}
