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
 * @remarks Role (`roles/user-agent`). Composes `tu/` (UA cores), `dialog/`, `sdp/`, `auth/`.
 */
import { EventEmitter } from 'node:events';
import { answerChallenge, selectChallenge, formatCredentials } from '../../auth/index.js';
import { Dialog, DialogTable } from '../../dialog/index.js';
import { createAnswer, createOffer, negotiate, rejectingAnswer } from '../../sdp/index.js';
import { type HeaderList, type SipRequest, type SipResponse, buildRequest, isDialogCreating, parseNameAddr } from '../../sip/index.js';
import { buildCancel, type ClientTransaction, type ServerTransaction, type InviteServerTransaction, type TimerConfig } from '../../transaction/index.js';
import {
  type ListenSpec, type ResolverOptions, type TraceEvent, type TransportKind, type TransportLayerOptions,
  Resolver, TransportLayer, kindFromToken, parseListenSpec,
} from '../../transport/index.js';
import { type Target, UserAgentCore } from '../../tu/index.js';
import type { Clock } from '../../util/clock.js';
import { newCallId, newTag } from '../../util/ids.js';
import { Call, type CallOwner } from './call.js';
import { IncomingCall, type IncomingCallOwner } from './incoming-call.js';
import { RequestError } from '../../util/errors.js';

export interface Credentials {
  username: string;
  password: string;
}

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
  /** Every message sent and received. */
  onTrace?: (ev: TraceEvent) => void;
  /** Outbound proxy (RFC 3261 §8.1.2): out-of-dialog requests go there, with a pre-loaded Route. */
  outboundProxy?: string;
  /** Most server transactions alive at once; beyond it a stateless 503 (default: no limit). */
  maxServerTransactions?: number;
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
}

/** An incoming request outside INVITE dialogs (MESSAGE, INFO, NOTIFY, other extension). */
export interface IncomingRequest {
  request: SipRequest;
  /** Call within the dialog the request belongs to, if any. */
  call?: Call;
  respond(status: number, opts?: { reason?: string; headers?: HeaderList; body?: string | Buffer }): void;
}

// Only what this UA implements: PRACK (RFC 3262) comes with reliable provisionals.
const ALLOW = ['INVITE', 'ACK', 'CANCEL', 'OPTIONS', 'BYE', 'INFO', 'UPDATE', 'MESSAGE', 'NOTIFY'];

export declare interface UserAgent {
  on(event: 'invite', fn: (inv: IncomingCall) => void): this;
  on(event: 'request', fn: (req: IncomingRequest) => void): this;
  on(event: 'call', fn: (call: Call) => void): this;
}

interface CallEntry {
  dialog: Dialog;
  call: Call;
}

export class UserAgent extends EventEmitter implements CallOwner, IncomingCallOwner {
  readonly core: UserAgentCore;
  readonly transport: TransportLayer;
  private readonly dialogs = new DialogTable<CallEntry>();
  private readonly pendingInvites = new WeakMap<Call, { tx?: ClientTransaction; target?: Target; cancelRequested?: boolean; provisional?: boolean; ist?: InviteServerTransaction }>();
  private readonly mediaPort: number;
  /** The ACK sent for each call's 2xx, sent again for a retransmitted 2xx (§13.2.2.4). */
  private readonly lastAcks = new WeakMap<Call, { ack: SipRequest; target: Target }>();
  private stopped = false;
  /** Calls with a re-INVITE of ours still waiting for its final response (glare, RFC 3261 §14.2). */
  private readonly reinviting = new WeakSet<Call>();

  private constructor(private readonly opts: UserAgentOptions, transport: TransportLayer) {
    super();
    const options = opts;
    this.transport = transport;
    this.core = new UserAgentCore({
      transport,
      resolver: new Resolver({ hosts: options.hosts }),
      clock: options.clock,
      timers: options.timers,
      allow: ALLOW,
      // No option tag is implemented yet (replaces, norefersub, 100rel, timer come with REFER,
      // PRACK and session timers): a Require of any of them gets 420 (§8.2.2.3).
      supported: [],
      product: options.product,
      maxServerTransactions: options.maxServerTransactions,
    });
    this.mediaPort = options.mediaPort ?? 20000 + 2 * Math.floor(Math.random() * 10000);
    this.core.hasDialog = (req) => this.findCall(req) !== undefined;
    this.core.onRequest = (req, tx) => this.receiveRequest(req, tx);
    this.core.onAck = (ack) => this.receiveAck(ack);
    this.core.onCancel = (_c, invite) => {
      for (const e of this.dialogs.values()) {
        if (e.call.invite === invite) e.call.end('cancelled');
      }
      const c = this.inviteCalls.get(invite);
      c?.end('cancelled');
    };
    this.core.onStray2xx = (res) => this.reAck(res);
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
  async settled(limitMs = 64 * this.core.timers.T1 + 1000): Promise<void> {
    const until = Date.now() + limitMs;
    for (;;) {
      const live = this.core.transactions.size;
      if ((live.clients === 0 && live.servers === 0) || Date.now() >= until) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.transport.stop();
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

  private async requestWithDetails(method: string, target: string, opts: RequestOptions & { onTransaction?: (tx: ClientTransaction, t: Target) => void; onExtra2xx?: (res: SipResponse) => void; callId?: string; fromTag?: string; to?: string; extraHeaders?: (kind: TransportKind) => HeaderList }) {
    const uriText = target.replace(/^<|>$/g, '');
    const preferred = opts.transport ?? this.kindFor(uriText);
    const proxy = this.opts.outboundProxy;
    const targets = await this.core.resolve(proxy ?? uriText, opts.transport);
    const preloaded: HeaderList = proxy ? [['Route', `<${proxy.includes(';lr') ? proxy : `${proxy};lr`}>`]] : [];
    const callId = opts.callId ?? newCallId(this.transport.sentBy(preferred).host.replace(/[[\]]/g, ''));
    const fromTag = opts.fromTag ?? newTag();
    let cseq = 1 + Math.floor(Math.random() * 10000);
    const creds = opts.credentials ?? this.opts.credentials;
    let auth: Array<[string, string]> = [];
    const tried = new Set<string>();
    let last: Awaited<ReturnType<UserAgentCore['send']>> | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await this.core.send(targets, (t) => {
        const headers: HeaderList = [
          ['Via', this.core.via(t.kind)],
          ['Max-Forwards', '70'],
          ['From', `${this.fromValue(opts.from)};tag=${fromTag}`],
          ['To', `<${opts.to ?? uriText}>`],
          ['Call-ID', callId],
          ['CSeq', `${cseq} ${method}`],
          ['User-Agent', this.core.product],
        ];
        if (isDialogCreating(method)) {
          if (!(opts.headers ?? []).some(([n]) => n.toLowerCase() === 'contact')) headers.push(['Contact', `<${this.core.contactUri(t.kind)}>`]);
        }
        if (method === 'INVITE' || method === 'OPTIONS') {
          headers.push(['Allow', ALLOW.join(', ')]);
          if (this.core.supported.length > 0) headers.push(['Supported', this.core.supported.join(', ')]);
        }
        headers.push(...preloaded);
        if (opts.extraHeaders) headers.push(...opts.extraHeaders(t.kind));
        if (opts.headers) headers.push(...opts.headers);
        headers.push(...auth);
        if (opts.body !== undefined) headers.push(['Content-Type', opts.contentType ?? 'application/sdp']);
        return buildRequest({ method, uri: uriText, headers, body: opts.body });
      }, { onProvisional: opts.onProvisional, onTransaction: opts.onTransaction, onExtra2xx: opts.onExtra2xx });
      last = result;
      const st = result.response.status;
      if ((st === 401 || st === 407) && creds && attempt < 2) {
        const header = st === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
        const challenge = selectChallenge(result.response.headers(header));
        if (!challenge) return result;
        // RFC 3261 §22.2: a second challenge for a realm we answered means wrong credentials,
        // unless the nonce was only stale (RFC 7616 §3.3).
        const key = challenge.realm;
        if (tried.has(key) && !challenge.stale) return result;
        tried.add(key);
        const cred = answerChallenge(challenge, { username: creds.username, password: creds.password, method, uri: uriText });
        auth = [[st === 401 ? 'Authorization' : 'Proxy-Authorization', formatCredentials(cred)]];
        cseq++;
        continue;
      }
      return result;
    }
    return last!;
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
  register(registrar: string, opts: { aor?: string; contact?: string; expires?: number; credentials?: Credentials; callId?: string; transport?: TransportKind } = {}): Promise<SipResponse> {
    const aor = opts.aor ?? this.aor;
    const expires = opts.expires ?? 3600;
    return this.requestWithDetails('REGISTER', registrar, {
      from: aor,
      to: aor,
      credentials: opts.credentials,
      transport: opts.transport,
      callId: opts.callId,
      extraHeaders: (kind) => [
        ['Contact', opts.contact === '*' ? '*' : `<${opts.contact ?? this.core.contactUri(kind)}>`],
        ['Expires', String(expires)],
      ],
    }).then((r) => {
      // REGISTER's To is the AOR, not the registrar (§10.2): rebuild is done by the caller-facing API.
      return r.response;
    });
  }

  // ---- calls (UAC) -------------------------------------------------------------------

  /**
   * Places a call. Resolves when the INVITE gets a final response: `call.established` tells
   * whether it was answered; otherwise `call.finalResponse` holds the failure (486, 408 …).
   */
  async invite(target: string, opts: InviteOptions = {}): Promise<Call> {
    const call = new Call('outgoing', this);
    const pending: { tx?: ClientTransaction; target?: Target; cancelRequested?: boolean; provisional?: boolean } = {};
    this.pendingInvites.set(call, pending);
    const offer = opts.sdp === null ? undefined : (opts.sdp ?? createOffer({ address: this.mediaAddress(), port: this.mediaPort, codecs: this.opts.codecs }));
    call.localSdp = offer;
    let transportKind: TransportKind = 'udp';
    const { response, request, target: dest } = await this.requestWithDetails('INVITE', target, {
      ...opts,
      body: offer,
      contentType: 'application/sdp',
      onTransaction: (tx, t) => {
        pending.tx = tx;
        pending.target = t;
        transportKind = t.kind;
        call.invite = tx.request;
      },
      onProvisional: (res) => {
        pending.provisional = true;
        if (res.to.tag && res.status > 100 && !call.dialog && res.contact.length > 0) {
          call.dialog = Dialog.asUac(call.invite!, res, `<${this.core.contactUri(transportKind)}>`);
        }
        if (res.status > 100 && call.state === 'calling') call.state = 'early';
        if (res.body.length > 0 && res.contentType === 'application/sdp') call.remoteSdp = res.body.toString('utf8');
        call.emit('progress', res);
        opts.onProvisional?.(res);
        if (pending.cancelRequested && pending.tx) this.sendCancel(pending.tx, pending.target!);
      },
      onExtra2xx: (res) => this.ackExtra2xx(call, res),
    });
    call.invite = request;
    call.finalResponse = response;
    if (response.status >= 200 && response.status < 300) {
      const dialog = Dialog.asUac(request, response, `<${this.core.contactUri(dest.kind)}>`);
      call.dialog = dialog;
      if (dest.kind !== 'udp') dialog.flowId = undefined;
      const remote = response.body.length > 0 ? response.body.toString('utf8') : undefined;
      let ackBody: string | undefined;
      /** Why the session cannot go on, when the 2xx's SDP cannot be used (§13.2.2.4). */
      let sdpFailure: string | undefined;
      if (offer === undefined && remote) {
        // Delayed offer: the 2xx carries the offer, the ACK the answer (RFC 3261 §13.2.1).
        try {
          const ans = createAnswer(remote, { address: this.mediaAddress(), port: this.mediaPort, codecs: this.opts.codecs });
          ackBody = ans.sdp;
          call.localSdp = ans.sdp;
        } catch (e) {
          // §13.2.2.4: "generate a valid answer in the ACK and then send a BYE immediately".
          sdpFailure = `offer in the 2xx not acceptable: ${(e as Error).message}`;
          try {
            ackBody = rejectingAnswer(remote, { address: this.mediaAddress() });
          } catch {
            ackBody = undefined; // a malformed offer has no valid answer
          }
        }
      } else if (offer === undefined) sdpFailure = 'no offer in the 2xx to an INVITE without one (RFC 3261 §13.2.1)';
      call.remoteSdp = remote ?? call.remoteSdp;
      if (offer && remote) {
        try {
          negotiate(offer, remote);
        } catch (e) {
          sdpFailure = `answer in the 2xx not usable: ${(e as Error).message}`;
        }
      }
      this.dialogs.add({ dialog, call });
      call.state = 'established';
      // The 2xx is ACKed whatever its SDP (the dialog exists, §13.2.2.4); a session that cannot
      // be used is then ended with BYE.
      await this.sendAck(call, ackBody);
      if (sdpFailure !== undefined) {
        call.sdpFailure = sdpFailure;
        await call.bye('sdp-failed');
        this.emit('call', call);
        return call;
      }
      if (pending.cancelRequested) {
        // A 2xx crossed our CANCEL: the call is up, so end it with BYE (RFC 3261 §9.1).
        await call.bye();
      }
      call.emit('established');
    } else {
      call.end(`failed:${response.status}`);
    }
    this.emit('call', call);
    return call;
  }

  /** ACK for a 2xx (RFC 3261 §13.2.2.4): a new request within the dialog, same CSeq number. */
  private async sendAck(call: Call, body?: string): Promise<void> {
    const dialog = call.dialog!;
    const targets = await this.dialogTargets(dialog);
    const t = targets[0];
    if (!t) return;
    const ack = dialog.createRequest('ACK', {
      via: this.core.via(t.kind),
      cseq: call.invite!.cseq.seq,
      body,
      headers: body ? [['Content-Type', 'application/sdp']] : [],
    });
    this.lastAcks.set(call, { ack, target: t });
    this.core.transactions.sendStateless(ack, { kind: 'request-destination', destination: t });
  }

  /** A retransmitted 2xx: the ACK is sent again (RFC 3261 §13.2.2.4). */
  private reAck(res: SipResponse): void {
    const entry = this.dialogs.get(res.callId, res.from.tag ?? '', res.to.tag ?? '');
    if (!entry) return;
    const last = this.lastAcks.get(entry.call);
    if (last && last.ack.cseq.seq === res.cseq.seq) {
      this.core.transactions.sendStateless(last.ack, { kind: 'request-destination', destination: last.target });
    }
  }

  /** A 2xx from another fork (or a retransmission) after the first: ACK it; BYE a second dialog. */
  private ackExtra2xx(call: Call, res: SipResponse): void {
    if (call.dialog && res.to.tag === call.dialog.remoteTag) {
      this.reAck(res);
      return;
    }
    const d = Dialog.asUac(call.invite!, res, call.dialog?.localContact ?? '');
    void (async () => {
      const t = (await this.dialogTargets(d))[0];
      if (!t) return;
      const ack = d.createRequest('ACK', { via: this.core.via(t.kind), cseq: call.invite!.cseq.seq });
      this.core.transactions.sendStateless(ack, { kind: 'request-destination', destination: t });
      const bye = d.createRequest('BYE', { via: this.core.via(t.kind) });
      await this.core.send([t], () => bye);
    })();
  }

  /** Where requests within a dialog go: the first route, else the remote target (§12.2.1.1). */
  private async dialogTargets(dialog: Dialog): Promise<Target[]> {
    const { requestUri, routes } = dialog.requestTarget();
    const next = routes.length > 0 ? parseNameAddr(routes[0]!, 'Route').uriText : requestUri;
    const targets = await this.core.resolve(next);
    if (dialog.flowId !== undefined && routes.length === 0) return targets.map((t) => ({ ...t, flowId: dialog.flowId }));
    return targets;
  }

  // ---- CallOwner -------------------------------------------------------------------

  async sendInDialog(call: Call, method: string, opts: { body?: string | Buffer; contentType?: string; headers?: Array<[string, string]> } = {}): Promise<SipResponse> {
    const dialog = call.dialog;
    if (!dialog) throw new RequestError('UA_ERR_NO_DIALOG', 'the call has no dialog');
    const targets = await this.dialogTargets(dialog);
    const headers: HeaderList = [...(opts.headers ?? [])];
    if (opts.body !== undefined) headers.push(['Content-Type', opts.contentType ?? 'application/sdp']);
    if (method === 'INVITE') this.reinviting.add(call);
    let sent;
    try {
      sent = await this.core.send(targets, (t) =>
        dialog.createRequest(method, { via: this.core.via(t.kind), headers, body: opts.body }),
      );
    } finally {
      if (method === 'INVITE') this.reinviting.delete(call);
    }
    const { response, request } = sent;
    dialog.receiveResponse(response);
    if (method === 'INVITE' && response.status >= 200 && response.status < 300) {
      const t = targets[0]!;
      const ack = dialog.createRequest('ACK', { via: this.core.via(t.kind), cseq: request.cseq.seq });
      this.core.transactions.sendStateless(ack, { kind: 'request-destination', destination: t });
    }
    if ((response.status === 481 || response.status === 408) && method !== 'BYE') call.end(`failed:${response.status}`);
    return response;
  }

  async cancel(call: Call): Promise<void> {
    const p = this.pendingInvites.get(call);
    if (!p) return;
    p.cancelRequested = true;
    // RFC 3261 §9.1: CANCEL only after a provisional response has been received.
    if (p.tx && p.provisional) this.sendCancel(p.tx, p.target!);
  }

  private sendCancel(tx: ClientTransaction, target: Target): void {
    if (tx.state !== 'Proceeding' && tx.state !== 'Calling') return;
    const cancel = buildCancel(tx.request);
    void this.core.send([target], () => cancel);
  }

  release(call: Call): void {
    if (call.direction === 'incoming' && call.invite) this.core.stopRetransmit2xx(call.invite);
    if (call.dialog) {
      const e = this.dialogs.get(call.dialog.callId, call.dialog.localTag, call.dialog.remoteTag);
      if (e) this.dialogs.remove(e);
    }
  }

  // ---- UAS ---------------------------------------------------------------------------

  private readonly inviteCalls = new WeakMap<SipRequest, Call>();
  private readonly incomingByTx = new WeakMap<IncomingCall, InviteServerTransaction>();

  private findCall(req: SipRequest): CallEntry | undefined {
    return this.dialogs.get(req.callId, req.to.tag ?? '', req.from.tag ?? '');
  }

  private receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    const entry = req.to.tag !== undefined ? this.findCall(req) : undefined;
    if (entry) return this.receiveInDialog(req, tx, entry);
    switch (req.method) {
      case 'INVITE': {
        const call = new Call('incoming', this);
        call.invite = req;
        call.remoteSdp = req.body.length > 0 ? req.body.toString('utf8') : undefined;
        this.inviteCalls.set(req, call);
        const inv = new IncomingCall(req, call, this);
        this.incomingByTx.set(inv, tx as InviteServerTransaction);
        if (this.listenerCount('invite') === 0) {
          inv.reject(480);
          return;
        }
        this.emit('invite', inv);
        return;
      }
      case 'OPTIONS':
        this.core.respond(tx, req, 200, {
          headers: [['Allow', ALLOW.join(', ')], ['Accept', 'application/sdp'], ['Supported', this.core.supported.join(', ')], ['Accept-Language', 'en']],
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
        this.core.respond(tx, req, status, o);
      },
    };
  }

  private receiveInDialog(req: SipRequest, tx: ServerTransaction, entry: CallEntry): void {
    const { dialog, call } = entry;
    if (!dialog.receiveRequest(req)) {
      // RFC 3261 §12.2.2: lower CSeq than the remote sequence number → 500.
      this.core.respond(tx, req, 500, { reason: 'CSeq Out of Order' });
      return;
    }
    switch (req.method) {
      case 'BYE':
        this.core.respond(tx, req, 200);
        call.end('remote-bye');
        return;
      case 'INVITE':
      case 'UPDATE': {
        if (req.method === 'INVITE' && this.reinviting.has(call)) {
          // RFC 3261 §14.2: our own re-INVITE is outstanding → 491; the peer retries later.
          this.core.respond(tx, req, 491);
          return;
        }
        // Target refresh with a new offer: answer with our codecs (RFC 3264 §8).
        if (req.body.length > 0) {
          try {
            const ans = createAnswer(req.body, { address: this.mediaAddress(), port: this.mediaPort, codecs: this.opts.codecs });
            call.remoteSdp = req.body.toString('utf8');
            call.localSdp = ans.sdp;
            const res = this.core.respond(tx, req, 200, { headers: [['Contact', dialog.localContact], ['Content-Type', 'application/sdp']], body: ans.sdp });
            if (req.method === 'INVITE') this.core.retransmit2xx(req, res, () => {});
          } catch {
            this.core.respond(tx, req, 488);
          }
        } else {
          const res = this.core.respond(tx, req, 200, { headers: [['Contact', dialog.localContact], ['Content-Type', 'application/sdp']], body: call.localSdp });
          if (req.method === 'INVITE') this.core.retransmit2xx(req, res, () => {});
        }
        call.emit('request', req);
        return;
      }
      default: {
        const incoming = this.incomingRequest(req, tx, call);
        call.emit('request', req);
        if (this.listenerCount('request') > 0) this.emit('request', incoming);
        else incoming.respond(200);
      }
    }
  }

  private receiveAck(ack: SipRequest): void {
    const entry = this.findCall(ack);
    if (!entry) return;
    if (ack.body.length > 0 && ack.contentType === 'application/sdp') entry.call.remoteSdp = ack.body.toString('utf8');
  }

  // ---- IncomingCallOwner -----------------------------------------------------------

  progress(inv: IncomingCall, status: number, sdp?: string): void {
    const tx = this.incomingByTx.get(inv)!;
    const req = inv.request;
    const localTag = this.core.toTagFor(tx);
    const contact = `<${this.core.contactUri((req.source?.transport ?? 'udp') as TransportKind)}>`;
    const headers: HeaderList = [['Contact', contact]];
    if (sdp) headers.push(['Content-Type', 'application/sdp']);
    this.core.respond(tx, req, status, { toTag: localTag, headers, body: sdp });
    if (inv.call.state === 'calling') inv.call.state = 'early';
  }

  accept(inv: IncomingCall, sdp?: string): Call {
    const tx = this.incomingByTx.get(inv)!;
    const req = inv.request;
    const call = inv.call;
    if (inv.answered || tx.state !== 'Proceeding') return call;
    inv.answered = true;
    let body = sdp;
    if (body === undefined) {
      const offer = inv.offer;
      if (offer) {
        try {
          body = createAnswer(offer, { address: this.mediaAddress(), port: this.mediaPort, codecs: this.opts.codecs }).sdp;
        } catch {
          // RFC 3264 §6: no common codec → 488 Not Acceptable Here.
          this.core.respond(tx, req, 488);
          call.end('failed:488');
          return call;
        }
      } else {
        body = createOffer({ address: this.mediaAddress(), port: this.mediaPort, codecs: this.opts.codecs });
      }
    }
    const kind = (req.source?.transport ?? 'udp') as TransportKind;
    const contact = `<${this.core.contactUri(kind)}>`;
    const localTag = this.core.toTagFor(tx);
    const dialog = Dialog.asUas(req, localTag, contact, 'Confirmed');
    if (kind !== 'udp') dialog.flowId = req.source?.connectionId;
    call.dialog = dialog;
    call.localSdp = body;
    this.dialogs.add({ dialog, call });
    const res = this.core.respond(tx, req, 200, { toTag: localTag, headers: [['Contact', contact], ['Allow', ALLOW.join(', ')], ['Content-Type', 'application/sdp']], body });
    call.state = 'established';
    this.core.retransmit2xx(req, res, () => {
      // RFC 3261 §13.3.1.4: no ACK within 64·T1 — confirm then end the session with BYE.
      void call.bye('no-ack').catch(() => {});
    });
    this.emit('call', call);
    call.emit('established');
    return call;
  }

  reject(inv: IncomingCall, status: number, reason?: string): void {
    const tx = this.incomingByTx.get(inv)!;
    if (inv.answered || tx.state !== 'Proceeding') return;
    inv.answered = true;
    this.core.respond(tx, inv.request, status, { reason });
    inv.call.end(`failed:${status}`);
  }
}
