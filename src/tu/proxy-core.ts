/**
 * The stateful proxy core (RFC 3261 §16): request validation (§16.3), route processing
 * (§16.4), forwarding to a target set in parallel or sequentially (§16.5–§16.6), the response
 * context that picks the best response (§16.7), CANCEL (§16.10), Timer C, 3xx recursion,
 * and stateless forwarding of ACK for 2xx and of stray 2xx retransmissions.
 *
 * Policy (which targets, whether to record-route, authentication) comes from a
 * {@link ProxyPolicy} supplied by the proxy role; this file is mechanism only.
 *
 * @remarks Layer 4 (`tu/`). A {@link TransactionUser} of the {@link SipElement}: it sends through
 * the element's UAC core and answers through its UAS core.
 */
import crypto from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { type HeaderList, type SipRequest, type SipResponse, type SipUri, buildResponseFrom, createResponse, isRecordRouted, parseUri } from '../sip/index.js';
import { type ClientTransaction, type InviteServerTransaction, type ServerTransaction, buildCancel, syntheticCause } from '../transaction/index.js';
import type { TransportKind } from '../transport/index.js';
import type { Clock } from '../util/clock.js';
import { StateError } from '../util/errors.js';
import { nextHop } from '../dialog/index.js';
import type { SipElement, TransactionUser } from './element.js';
import { natReason } from './nat-detect.js';
import { type RoutedRequest, flowToken, forwardStrayResponse, forwardedRequest, loopHash, processRoutes, viaFor, withoutTopVia } from './proxy-forwarding.js';
import { type ProcessorResult, REQUEST_VALIDATION, runChain } from './proxy-pipeline.js';
import type { Target } from './uac-core.js';

const branchChannel = diagnostics.channel('sip:proxy:branch');

/** One place to send the request (§16.5): a URI plus an optional route (Path, RFC 3327). */
export interface ProxyTarget {
  uri: string;
  q?: number;
  /** Route header values to put in front of the request (e.g. a stored Path vector). */
  route?: string[];
  /** A pre-resolved destination (e.g. the flow a binding registered over). */
  destination?: Target;
  /**
   * `destination` is the far end's flow (a NATed phone, an outbound registration): our
   * Record-Route toward it carries a flow token, so requests within the dialog reach it too.
   */
  flow?: boolean;
}

export type TargetDecision =
  | { kind: 'forward'; targets: ProxyTarget[]; mode?: 'parallel' | 'sequential'; hunt?: Hunt }
  | { kind: 'respond'; status: number; reason?: string; headers?: HeaderList };

/**
 * Hunting through a dial plan's peers: one group of targets after the other, moving on only for
 * the failures `next` accepts (the others end the hunt); the caller gets the last failure (a
 * group that rang past `noAnswerMs` counts as a `no-answer` failure, answered 480 if it is the last).
 */
export interface Hunt {
  groups: ProxyTarget[][];
  next(target: ProxyTarget, failure: SipResponse | 'no-answer'): boolean;
  noAnswerMs?: number;
}

export interface ProxyPolicy {
  /** §16.5: where this request goes, or a local answer (404, 480, 403, 407 …). */
  decide(req: SipRequest): Promise<TargetDecision>;
  /**
   * An initial request routed by a Route that remains after ours (§16.4): a refusal (407, 403)
   * or undefined to forward it along the Route — so a pre-loaded Route is no way around
   * authentication and the relay check.
   */
  admitRouted?(req: SipRequest): Promise<TargetDecision | undefined>;
  /** §16.6 step 4: insert Record-Route for this request? */
  recordRoute(req: SipRequest): boolean;
  /** Recurse on 3xx contacts (§16.5) instead of forwarding the 3xx upstream. */
  recurseOn3xx?: boolean;
  /** Sequential forking: how long a branch may ring before the next group is tried (ms). */
  sequentialTimeoutMs?: number;
}

/**
 * The routing blocks of a Kamailio configuration, for a program that embeds the proxy
 * (`createServer(config, { proxyHooks })`). Each runs at its point of §16 and may change what
 * happens there; one that throws is reported as a fault and the proxy goes on as without it.
 */
export interface ProxyHooks {
  /**
   * request_route: a new request that passed §16.3 and route processing, before target
   * determination (§16.5). A decision replaces the policy's — an answer, or targets to forward
   * to; undefined leaves it to the policy. Not called for requests a remaining Route carries.
   */
  request?(req: SipRequest): TargetDecision | undefined | Promise<TargetDecision | undefined>;
  /** branch_route: a copy about to go to `target` (§16.6); the header fields returned are added to it. */
  branch?(branch: { request: SipRequest; target: ProxyTarget; index: number }): HeaderList | undefined;
  /** onreply_route: every response a branch gets, provisional or final, before it is relayed (§16.7). */
  reply?(res: SipResponse, branch: { target: ProxyTarget; index: number }): void;
  /**
   * failure_route: every branch ended without a 2xx and `best` is about to go upstream (§16.7
   * step 6). Targets returned start a new round (serial forking, voicemail on busy); an answer
   * replaces `best`; undefined sends it. At most {@link MAX_FAILURE_ROUNDS} times per request.
   */
  failure?(req: SipRequest, best: SipResponse): TargetDecision | undefined | Promise<TargetDecision | undefined>;
}

/**
 * A media relay the proxy drives (Kamailio's `rtpengine_manage()`; issue 18): it sees every SDP
 * that crosses — offers and answers in requests and responses (RFC 3264, RFC 3261 §13.2.1) —
 * and may give each a new body (the relay's address and ports), and it is told when a session
 * ends. Each method returns undefined synchronously when it has nothing to do, so messages
 * without SDP and calls it does not relay cost one call.
 */
export interface ProxyMediaRelay {
  /**
   * A request about to be forwarded to `targets` (an initial INVITE's, for the decision to
   * relay; in-dialog requests to their next hop): its new body, undefined to leave it, or a
   * refusal (the relay is needed and unreachable) answered upstream instead.
   */
  request(req: SipRequest, targets: readonly ProxyTarget[]): Promise<Buffer | undefined | { status: number; reason: string }> | undefined;
  /** A response to `req` about to go upstream: its new body, or undefined to leave it. */
  response(res: SipResponse, req: SipRequest): Promise<Buffer | undefined> | undefined;
  /** A 2xx retransmission relayed statelessly (§16.7): the body its first copy got, if any. */
  retransmission(res: SipResponse): Buffer | undefined;
  /** The initial INVITE failed (a final ≥ 300 went upstream: busy, CANCEL's 487, timeout): the session is over. */
  failed(req: SipRequest, status: number): void;
}

/** How many times a failure hook may start a new round for one request. */
export const MAX_FAILURE_ROUNDS = 8;

export interface ProxyCoreOptions {
  element: SipElement;
  policy: ProxyPolicy;
  /** Routing blocks of an embedding program (see {@link ProxyHooks}). */
  hooks?: ProxyHooks;
  /** Is this URI one of ours (an address, port and transport we listen on, or a served domain)? */
  isLocal: (uri: SipUri) => boolean;
  /** Option tags the proxy understands in Proxy-Require (§16.3 step 5). */
  supported?: string[];
  /** Timer C (§16.6 step 11): > 3 minutes for INVITE. */
  timerCMs?: number;
  /** The media relay (rtpengine) for the SDP of the dialogs the proxy carries. */
  media?: ProxyMediaRelay;
}

/**
 * Where a branch (one forwarded copy, §16.6) stands:
 * - `Trying`: sent, nothing heard;
 * - `Proceeding`: a provisional response came (§16.7 step 2);
 * - `CancelPending`: to be cancelled, but §9.1 allows a CANCEL only after a provisional: it is
 *   sent when one comes, or never, if a final response (or Timer B's 408) comes first;
 * - `Cancelled`: CANCEL sent (§16.10), waiting for the final response (487);
 * - `Completed`: its final response is in (`final`).
 */
type BranchState = 'Trying' | 'Proceeding' | 'CancelPending' | 'Cancelled' | 'Completed';

const BRANCH_TRANSITIONS: Record<BranchState, readonly BranchState[]> = {
  Trying: ['Proceeding', 'CancelPending', 'Completed'],
  Proceeding: ['Cancelled', 'Completed'],
  CancelPending: ['Cancelled', 'Completed'],
  Cancelled: ['Completed'],
  Completed: [],
};

interface Branch {
  index: number;
  target: ProxyTarget;
  request: SipRequest | undefined;
  tx: ClientTransaction | undefined;
  dest: Target | undefined;
  state: BranchState;
  /** The final response, once `Completed`. */
  final: SipResponse | undefined;
  timerC: ReturnType<Clock['setTimer']> | undefined;
}

/** Moves a branch to `to`; a pair the table does not list is a bug, and throws. */
function moveBranch(branch: Branch, to: BranchState): void {
  if (!BRANCH_TRANSITIONS[branch.state].includes(to)) {
    throw new StateError('PROXY_ERR_BRANCH_STATE', `branch ${branch.index}: illegal transition ${branch.state}→${to}`);
  }
  branch.state = to;
}

/** A response context (§16.7): one per proxied server transaction. */
interface ResponseContext {
  req: SipRequest;
  tx: ServerTransaction;
  branches: Branch[];
  pending: ProxyTarget[][];
  finalSent: boolean;
  sent2xx: boolean;
  best: SipResponse | undefined;
  challenges: HeaderList;
  cancelled: boolean;
  recordRoute: boolean;
  groupTimer: ReturnType<Clock['setTimer']> | undefined;
  hash: string;
  /** Rounds the failure hook started (see {@link MAX_FAILURE_ROUNDS}). */
  failureRounds: number;
  hunt?: Hunt;
  /** The last final failure a branch got (a hunt answers with it). */
  lastFailure?: SipResponse;
  /** The hunt's current group rang past its no-answer time. */
  noAnswer?: boolean;
  /** The media relay's body for every copy of the request (its rewritten SDP). */
  body?: Buffer;
  /** Responses waiting for the media relay, in order: later ones queue behind (a 200 never overtakes its 183). */
  upstream?: Promise<void>;
  /** Every branch is done: the context goes once nothing waits in `upstream`. */
  released?: boolean;
}

export class ProxyCore implements TransactionUser {
  private readonly el: SipElement;
  private readonly policy: ProxyPolicy;
  private readonly isLocal: (uri: SipUri) => boolean;
  private readonly supported: string[];
  private readonly timerCMs: number;
  private readonly hooks: ProxyHooks;
  private readonly media: ProxyMediaRelay | undefined;
  private readonly contexts = new Map<ServerTransaction, ResponseContext>();
  /** Responses made here for the received request (see {@link localResponse}). */
  private readonly local = new WeakSet<SipResponse>();
  private branchCounter = 0;

  constructor(opts: ProxyCoreOptions) {
    this.el = opts.element;
    this.policy = opts.policy;
    this.isLocal = opts.isLocal;
    this.supported = opts.supported ?? [];
    this.timerCMs = opts.timerCMs ?? 181_000;
    this.hooks = opts.hooks ?? {};
    this.media = opts.media;
  }

  get activeContexts(): number {
    return this.contexts.size;
  }

  // ---- §16.3 – §16.6 -----------------------------------------------------------------

  /** A new request (not ACK, not CANCEL) the proxy is responsible for ({@link TransactionUser}). */
  receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    this.handleRequest(req, tx).catch((e: unknown) => this.el.requestFailed('proxy', req, tx, e, 'Proxy Error'));
  }

  /** An ACK for a 2xx: relayed statelessly ({@link TransactionUser}). */
  receiveAck(ack: SipRequest): void {
    this.forwardAck(ack).catch((e: unknown) => this.el.requestFailed('proxy ACK', ack, undefined, e));
  }

  /** §16.10: a CANCEL for a proxied INVITE cancels its branches; one still being decided gets 487 ({@link TransactionUser}). */
  receiveCancel(_cancel: SipRequest, invite: InviteServerTransaction): void {
    if (!this.cancelBranches(invite) && invite.state === 'Proceeding') this.el.uas.respond(invite, invite.request, 487);
  }

  /** A response no branch matched: relayed by its Via when it is ours to relay ({@link TransactionUser}). */
  receiveStrayResponse(res: SipResponse): boolean {
    this.forwardStrayResponse(res);
    return true;
  }

  private async handleRequest(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const reply = (status: number, opts: { reason?: string; headers?: HeaderList } = {}) => this.el.uas.respond(tx, req, status, opts);
    // §16.3 steps 2–5 (step 1, the syntax, was the transport's): a chain of processors.
    const hash = loopHash(req);
    const invalid = runChain(REQUEST_VALIDATION, req, { supported: this.supported, isLocal: this.isLocal, hash }) as ProcessorResult;
    if (invalid?.kind === 'respond') return void reply(invalid.status, { reason: invalid.reason, headers: invalid.headers });
    // §16.4: strict-route compatibility and our own Route entries.
    const routed = this.processRoutes(req);
    // 100 Trying for INVITE right away (§16.2: a stateful proxy MAY; avoids upstream retransmits).
    if (req.method === 'INVITE') reply(100);
    let decision: TargetDecision;
    if (routed.routes.length > 0) {
      // A Route remains: forward to it without target determination (§16.5 step 1 note, §16.6 step 6/7).
      decision = (await this.policy.admitRouted?.(req)) ?? { kind: 'forward', targets: [{ uri: routed.requestUri }] };
    } else if (routed.flow && req.to.tag !== undefined) {
      // Our Record-Route named the WebSocket flow of the far end: its Contact is not reachable
      // (RFC 7118 §5, "xyz.invalid"), the connection it came from is.
      decision = { kind: 'forward', targets: [{ uri: routed.requestUri, destination: routed.flow }] };
    } else {
      decision = (await this.runHook('request', req, () => this.hooks.request?.(req))) ?? (await this.policy.decide(req));
    }
    if (decision.kind === 'respond') return void reply(decision.status, { reason: decision.reason, headers: decision.headers });
    if (decision.targets.length === 0) return void reply(480);
    let body: Buffer | undefined;
    const relayed = this.media?.request(req, decision.hunt ? decision.hunt.groups.flat() : decision.targets);
    if (relayed !== undefined) {
      const r = await relayed;
      if (r !== undefined && !Buffer.isBuffer(r)) return void reply(r.status, { reason: r.reason });
      body = r;
    }
    // A CANCEL that came while the targets or the relay were being worked out was answered
    // (487, §16.10 with no branch to cancel): nothing is forwarded, and the relay lets go.
    if (req.method === 'INVITE' && (tx as InviteServerTransaction).state !== 'Proceeding') {
      this.media?.failed(req, 487);
      return;
    }
    const ctx: ResponseContext = {
      req, tx, branches: [], pending: [], finalSent: false, sent2xx: false, best: undefined, challenges: [],
      cancelled: false, recordRoute: this.policy.recordRoute(req), groupTimer: undefined, hash, failureRounds: 0, body,
    };
    (ctx as ResponseContext & { routed?: typeof routed }).routed = routed;
    this.contexts.set(tx, ctx);
    ctx.hunt = decision.hunt;
    ctx.pending = decision.hunt ? [...decision.hunt.groups] : decision.mode === 'sequential' ? groupByQ(decision.targets) : [decision.targets];
    this.startNextGroup(ctx);
  }

  /** §16.4 (shared with the stateless proxy). */
  processRoutes(req: SipRequest): RoutedRequest {
    return processRoutes(req, this.isLocal);
  }

  private startNextGroup(ctx: ResponseContext): void {
    const group = ctx.pending.shift();
    if (!group) return this.maybeFinish(ctx);
    for (const t of group) {
      this.forward(ctx, t).catch((error: unknown) => {
        // A copy that cannot be built (over the size or header limits of §18.1.1 / our parser)
        // or any other failure: that branch ends with our own final response (§16.7 step 6
        // would send a 500 for "no response"; 513 says why), reported as a fault.
        const branch = ctx.branches.find((b) => b.target === t && !b.final);
        const code = (error as { code?: string }).code;
        // A copy over the size or header limits is the request's doing, not a fault: 513.
        const status = code === 'SIP_ERR_TOO_LARGE' || code === 'SIP_ERR_HEADER_COUNT' ? 513 : 500;
        if (status === 500) this.el.transport.reportFault({ where: 'proxy forward', error, ...this.el.transport.faultContext(ctx.req) });
        if (branch !== undefined) this.branchFinal(ctx, branch, this.localResponse(ctx, status, status === 513 ? 'Forwarded Request Too Large' : 'Proxy Error'));
      });
    }
    const seqMs = ctx.hunt ? ctx.hunt.noAnswerMs : this.policy.sequentialTimeoutMs;
    ctx.noAnswer = false;
    if ((ctx.pending.length > 0 || ctx.hunt) && seqMs && ctx.req.method === 'INVITE') {
      ctx.groupTimer = this.el.clock.setTimer(seqMs, () => {
        // Sequential forking: this group rang too long; cancel it and try the next (find me / follow me).
        ctx.noAnswer = true;
        for (const b of ctx.branches) if (!b.final) this.cancelBranch(b);
      });
    }
  }

  /** §16.6: forward one copy of the request to one target. */
  private async forward(ctx: ResponseContext, target: ProxyTarget): Promise<void> {
    const branch: Branch = { index: ++this.branchCounter, target, request: undefined, tx: undefined, dest: undefined, state: 'Trying', final: undefined, timerC: undefined };
    ctx.branches.push(branch);
    const req = ctx.req;
    const routed = (ctx as ResponseContext & { routed?: { requestUri: string; routes: string[] } }).routed!;
    const routes = [...(target.route ?? []), ...routed.routes];
    // §16.6 step 6/7: next hop is the top Route, else the Request-URI.
    const hop = nextHop(routes, target.uri);
    let dests: Target[];
    try {
      dests = target.destination ? [target.destination] : (this.el.uac.resolveSync(hop) ?? (await this.el.uac.resolve(hop)));
    } catch {
      dests = [];
    }
    if (dests.length === 0) {
      this.branchFinal(ctx, branch, this.localResponse(ctx, 404, 'Next Hop Not Resolvable'));
      return;
    }
    const inKind = (req.source?.transport ?? 'udp') as TransportKind;
    const extra = this.hooks.branch ? this.runHookSync('branch', req, () => this.hooks.branch!({ request: req, target, index: branch.index })) : undefined;
    let attempt = 0;
    const build = (dest: Target): SipRequest => {
      // §16.6 step 8: our Via on top, branch = loop-detection hash + unique part.
      const via = this.viaFor(dest.kind, `z9hG4bKsb${ctx.hash}.${branch.index}${attempt++ ? `.${attempt}` : ''}`);
      // §16.6 step 4: Record-Route (double when the transport changes, RFC 5658).
      const rr: string[] = [];
      if (ctx.recordRoute && isRecordRouted(req.method)) {
        if (req.to.tag === undefined) {
          const outRR = this.recordRouteUri(dest.kind, dest, target.flow === true);
          const inRR = this.recordRouteUri(inKind, req.source, natReason(req) !== undefined);
          if (outRR !== inRR) rr.push(`<${outRR}>`, `<${inRR}>`);
          else rr.push(`<${outRR}>`);
        }
      }
      return forwardedRequest(req, { uri: target.uri, via, recordRoute: rr, routes, receivedVia: true, headers: extra, body: ctx.body });
    };
    if (branchChannel.hasSubscribers) branchChannel.publish({ callId: req.callId, branch: branch.index, target: target.uri });
    const result = this.el.uac.send(dests, build, {
      onTransaction: (tx, dest) => {
        branch.tx = tx;
        branch.dest = dest;
        branch.request = tx.request;
        if (req.method === 'INVITE') this.armTimerC(ctx, branch);
        if (ctx.cancelled) this.cancelBranch(branch);
      },
      onProvisional: (res) => {
        if (this.hooks.reply) this.runHookSync('reply', req, () => this.hooks.reply!(res, { target, index: branch.index }));
        this.branchProvisional(ctx, branch, res);
      },
      onExtra2xx: (res) => this.forwardUpstream(ctx, res),
    });
    const { response } = await result;
    if (this.hooks.reply) this.runHookSync('reply', req, () => this.hooks.reply!(response, { target, index: branch.index }));
    this.branchFinal(ctx, branch, response);
  }

  viaFor(kind: TransportKind, branch: string): string {
    return viaFor(this.el.transport, kind, branch);
  }

  /**
   * Our Record-Route URI for one side. Toward a WebSocket peer it carries a flow token (the
   * peer's address, RFC 5626 §5.3-like) in the user part, because a WS client's Contact
   * ("…@xyz.invalid;transport=ws", RFC 7118 §5) cannot be resolved: in-dialog requests to it
   * go back over the connection named in our Route (see processRoutes).
   */
  private recordRouteUri(kind: TransportKind, peer?: { address: string; port: number }, natted = false): string {
    const k = this.el.transport.hasListener(kind) ? kind : 'udp';
    const sb = this.el.transport.sentBy(k);
    // …and toward a peer behind a NAT (Kamailio's add_contact_alias, done in the Record-Route):
    // its Contact names a private address, the token the public one the dialog must use.
    const user = peer && (k === 'ws' || k === 'wss' || natted) ? `${flowToken(k, peer.address, peer.port)}@` : '';
    return `sip:${user}${sb.host}:${sb.port}${k === 'udp' ? '' : `;transport=${k}`};lr`;
  }

  private armTimerC(ctx: ResponseContext, branch: Branch): void {
    if (branch.timerC) this.el.clock.clearTimer(branch.timerC);
    branch.timerC = this.el.clock.setTimer(this.timerCMs, () => {
      // §16.6 step 11 / §16.8: Timer C fired — CANCEL a ringing branch, else act as if 408.
      if (branch.state === 'Proceeding') this.cancelBranch(branch);
      else if (branch.state === 'Trying' || branch.state === 'CancelPending') this.branchFinal(ctx, branch, this.localResponse(ctx, 408));
    });
  }

  // ---- §16.7 response processing -----------------------------------------------------

  private branchProvisional(ctx: ResponseContext, branch: Branch, res: SipResponse): void {
    if (branch.state === 'Trying') moveBranch(branch, 'Proceeding');
    else if (branch.state === 'CancelPending') this.sendCancel(branch);
    if (ctx.req.method === 'INVITE' && res.status > 100) this.armTimerC(ctx, branch); // §16.7 step 2
    if (res.status === 100 || ctx.finalSent) return; // §16.7 step 5: 100 is not forwarded
    this.forwardUpstream(ctx, res);
  }

  private branchFinal(ctx: ResponseContext, branch: Branch, res: SipResponse): void {
    if (branch.state === 'Completed') return;
    moveBranch(branch, 'Completed');
    branch.final = res;
    if (branch.timerC) this.el.clock.clearTimer(branch.timerC);
    const st = res.status;
    if (st >= 300) ctx.lastFailure = res;
    if (st >= 200 && st < 300) {
      // §16.7 step 5: every 2xx to INVITE is forwarded at once; the rest are cancelled (§16.7 step 10).
      this.forwardUpstream(ctx, res);
      res.compact(); // kept only as the branch's outcome from here on
      ctx.sent2xx = true;
      ctx.finalSent = true;
      for (const b of ctx.branches) if (!b.final) this.cancelBranch(b);
      ctx.pending = [];
    } else if (st >= 600) {
      // §16.7 step 5: a 6xx cancels the other branches.
      this.store(ctx, res);
      for (const b of ctx.branches) if (!b.final) this.cancelBranch(b);
      ctx.pending = [];
    } else if (st >= 300 && st < 400 && this.policy.recurseOn3xx && !ctx.cancelled) {
      // §16.5: recurse into the contacts of a 3xx as new branches.
      let contacts: ProxyTarget[] = [];
      try {
        contacts = res.contact.filter((c) => !c.star).map((c) => ({ uri: c.uriText, q: c.param('q') ? Number(c.param('q')) : 1 }));
      } catch {
        contacts = [];
      }
      const tried = new Set(ctx.branches.map((b) => b.target.uri));
      const fresh = contacts.filter((c) => !tried.has(c.uri)).sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
      if (fresh.length > 0) ctx.pending.unshift(fresh);
      else this.store(ctx, res);
    } else {
      this.store(ctx, res);
    }
    this.maybeFinish(ctx);
  }

  private store(ctx: ResponseContext, res: SipResponse): void {
    if (res.status === 401 || res.status === 407) {
      // §16.7 step 7: collect every challenge into the response we send.
      for (const v of res.headers('WWW-Authenticate')) ctx.challenges.push(['WWW-Authenticate', v]);
      for (const v of res.headers('Proxy-Authenticate')) ctx.challenges.push(['Proxy-Authenticate', v]);
    }
    if (!ctx.best || better(res, ctx.best)) ctx.best = res;
  }

  private maybeFinish(ctx: ResponseContext): void {
    if (ctx.branches.some((b) => !b.final)) return;
    if (ctx.groupTimer) this.el.clock.clearTimer(ctx.groupTimer);
    // A hunt moves on only for the failures it hunts on (the last branch tried decides).
    const last = ctx.branches[ctx.branches.length - 1];
    if (ctx.hunt && !ctx.sent2xx && !ctx.cancelled && last && !ctx.hunt.next(last.target, ctx.noAnswer ? 'no-answer' : (last.final ?? ctx.lastFailure!))) ctx.pending = [];
    if (ctx.pending.length > 0 && !ctx.sent2xx && !ctx.cancelled && !(ctx.best && ctx.best.status >= 600)) {
      this.startNextGroup(ctx);
      return;
    }
    // A final response still waiting for the media relay keeps the context: a CANCEL crossing it
    // must find the request answered (§16.10), not be taken for one with nothing to cancel (487).
    ctx.released = true;
    if (ctx.upstream === undefined) this.contexts.delete(ctx.tx);
    if (ctx.finalSent) return;
    const failed = ctx.best ?? this.localResponse(ctx, 408);
    if (this.hooks.failure && !ctx.cancelled && failed.status >= 300 && ctx.failureRounds < MAX_FAILURE_ROUNDS) {
      ctx.failureRounds++;
      void this.runHook('failure', ctx.req, () => this.hooks.failure!(ctx.req, failed)).then((d) => {
        if (d?.kind === 'forward' && d.targets.length > 0 && !ctx.cancelled) {
          ctx.released = false;
          this.contexts.set(ctx.tx, ctx);
          ctx.pending = d.mode === 'sequential' ? groupByQ(d.targets) : [d.targets];
          this.startNextGroup(ctx);
        } else if (d?.kind === 'respond') {
          ctx.finalSent = true;
          this.forwardUpstream(ctx, this.localResponse(ctx, d.status, d.reason, d.headers));
        } else this.sendBest(ctx);
      });
      return;
    }
    this.sendBest(ctx);
  }

  /** §16.7 step 6: the best response goes upstream. */
  private sendBest(ctx: ResponseContext): void {
    if (ctx.finalSent) return;
    ctx.finalSent = true;
    // A hunt answers with its last failure (IOS), a last peer that did not answer with 480.
    let best = (ctx.hunt ? (ctx.noAnswer ? this.localResponse(ctx, 480, 'No Answer') : ctx.lastFailure) : undefined) ?? ctx.best ?? this.localResponse(ctx, 408);
    // A next hop we could not send to (no route, a refused connection, ICMP unreachable): the
    // callee is not reachable now — 480 (RFC 3261 §21.4.18), not a server error; the log says why.
    if (syntheticCause(best) === 'transport-error') {
      const failed = ctx.branches.filter((b) => b.final && syntheticCause(b.final) === 'transport-error');
      const where = failed.map((b) => `${b.target.uri}${b.dest ? ` at ${b.dest.kind}:${b.dest.address}:${b.dest.port}` : ''}`).join(', ');
      this.el.onUndeliverable?.(ctx.req, `${where || 'the next hop'}: no route or refused`);
      best = withStatus(best, 480, 'Temporarily Unavailable (Destination Unreachable)');
    }
    // §16.7 step 6: a 503 is passed upstream as 500; synthetic timeouts become 408.
    if (best.status === 503) best = withStatus(best, 500, 'Server Internal Error');
    if ((best.status === 401 || best.status === 407) && ctx.challenges.length > 0) best = withChallenges(best, ctx.challenges);
    this.forwardUpstream(ctx, best);
  }

  /**
   * A final response the proxy makes itself for the request (§16.7 step 6: no response, a next
   * hop that cannot be resolved, a copy that cannot be built). It carries the request's own
   * Vias, so it goes upstream as it is: stripping a "top Via" would remove the client's.
   */
  private localResponse(ctx: ResponseContext, status: number, reason?: string, headers?: HeaderList): SipResponse {
    const res = createResponse(ctx.req, status, { reason, headers, toTag: this.el.uas.toTagFor(ctx.tx) });
    this.local.add(res);
    return res;
  }

  /** Runs an embedding program's hook; one that throws is a fault, and the proxy goes on without it. */
  private async runHook<T>(name: string, req: SipRequest, fn: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (error) {
      this.el.transport.reportFault({ where: `proxy ${name} hook`, error, ...this.el.transport.faultContext(req) });
      return undefined;
    }
  }

  private runHookSync<T>(name: string, req: SipRequest, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.el.transport.reportFault({ where: `proxy ${name} hook`, error, ...this.el.transport.faultContext(req) });
      return undefined;
    }
  }

  /**
   * §16.7 step 9: forward with our Via removed — with the media relay's SDP when it rewrites
   * this one. A response waiting for the relay holds back the ones after it, so the order
   * upstream is the order they came in.
   */
  private forwardUpstream(ctx: ResponseContext, res: SipResponse): void {
    const own = this.local.has(res);
    if (this.media && res.status >= 300 && ctx.req.method === 'INVITE' && ctx.req.to.tag === undefined) this.media.failed(ctx.req, res.status);
    const relayed = own || !this.media ? undefined : this.media.response(res, ctx.req);
    if (relayed === undefined && ctx.upstream === undefined) return this.sendUpstream(ctx, res, own, undefined);
    const turn: Promise<void> = (ctx.upstream ?? Promise.resolve()).then(async () => {
      const body = relayed === undefined ? undefined : await relayed.catch(() => undefined);
      this.sendUpstream(ctx, res, own, body);
    });
    ctx.upstream = turn;
    void turn.finally(() => {
      if (ctx.upstream !== turn) return;
      ctx.upstream = undefined;
      if (ctx.released && this.contexts.get(ctx.tx) === ctx) this.contexts.delete(ctx.tx);
    });
  }

  private sendUpstream(ctx: ResponseContext, res: SipResponse, own: boolean, body: Buffer | undefined): void {
    let fwd: SipResponse;
    try {
      fwd = own ? res : withoutTopVia(res, body);
    } catch (error) {
      // A response whose copy cannot be built (§16.7 step 9): upstream gets a 502 of ours.
      this.el.transport.reportFault({ where: 'proxy response', error, ...this.el.transport.faultContext(res) });
      if (res.status < 200) return;
      fwd = this.localResponse(ctx, 502, 'Bad Response From Next Hop');
    }
    (ctx.tx as InviteServerTransaction).respond(fwd);
  }

  private cancelBranch(branch: Branch): void {
    if (!branch.tx || !branch.dest) return; // not sent yet: onTransaction cancels it
    if (branch.state === 'Trying') moveBranch(branch, 'CancelPending'); // §9.1: wait for a provisional
    else if (branch.state === 'Proceeding') this.sendCancel(branch);
  }

  /** §16.10 / §9.1: the CANCEL of a branch that has had a provisional response. */
  private sendCancel(branch: Branch): void {
    moveBranch(branch, 'Cancelled');
    const cancel = buildCancel(branch.tx!.request);
    void this.el.uac.send([branch.dest!], () => cancel);
  }

  /** §16.10: a CANCEL for a proxied INVITE: cancel every pending branch. False when the INVITE has no response context. */
  private cancelBranches(invite: ServerTransaction): boolean {
    const ctx = this.contexts.get(invite);
    if (!ctx) return false;
    ctx.cancelled = true;
    ctx.pending = [];
    for (const b of ctx.branches) if (!b.final) this.cancelBranch(b);
    return true;
  }

  /** Is this server transaction proxied (so the UAS core must not answer a CANCEL with 487)? */
  handles(tx: ServerTransaction): boolean {
    return this.contexts.has(tx);
  }

  // ---- stateless parts ---------------------------------------------------------------

  /** ACK for a 2xx (its own transaction): forward statelessly along the route (§16.11-like). */
  async forwardAck(ack: SipRequest): Promise<void> {
    const mf = ack.maxForwards;
    if (mf === 0) return;
    const routed = this.processRoutes(ack);
    const nh = parseUri(nextHop(routed.routes, routed.requestUri), 'Request-URI');
    if (routed.routes.length === 0 && routed.flow) return this.sendAck(ack, routed, routed.requestUri, [], routed.flow);
    if (nh.kind === 'sip' && this.isLocal(nh) && routed.routes.length === 0) {
      let d: TargetDecision;
      try {
        d = await this.policy.decide(ack);
      } catch {
        return;
      }
      if (d.kind !== 'forward' || d.targets.length === 0) return;
      return this.sendAck(ack, routed, d.targets[0]!.uri, d.targets[0]!.route ?? [], d.targets[0]!.destination);
    }
    return this.sendAck(ack, routed, routed.requestUri, []);
  }

  private async sendAck(ack: SipRequest, routed: { requestUri: string; routes: string[] }, uri: string, extraRoutes: string[], destination?: Target): Promise<void> {
    const routes = [...extraRoutes, ...routed.routes];
    const hop = nextHop(routes, uri);
    let dests: Target[];
    try {
      dests = destination && routes.length === 0 ? [destination] : (this.el.uac.resolveSync(hop) ?? (await this.el.uac.resolve(hop)));
    } catch {
      dests = [];
    }
    const dest = dests[0];
    if (!dest) return;
    const via = this.viaFor(dest.kind, `z9hG4bKsa${crypto.createHash('md5').update(ack.topVia.branch ?? ack.callId).digest('hex').slice(0, 16)}`);
    // An ACK with SDP is the answer to an offer in a 2xx (RFC 3261 §13.2.1): the relay's turn too.
    const relayed = ack.body.length > 0 ? this.media?.request(ack, []) : undefined;
    const r = relayed === undefined ? undefined : await relayed;
    const fwd = forwardedRequest(ack, { uri, via, recordRoute: [], routes, receivedVia: false, body: Buffer.isBuffer(r) ? r : undefined });
    this.el.uac.sendStateless(fwd, dest);
  }

  /** A 2xx retransmission whose client transaction is gone: forward upstream by its Via (§16.7). */
  forwardStrayResponse(res: SipResponse): void {
    const media = this.media;
    forwardStrayResponse(res, this.isLocal, (fwd, dest) => this.el.uac.sendStateless(fwd as unknown as SipRequest, dest), media && ((r) => media.retransmission(r)));
  }
}

function groupByQ(targets: ProxyTarget[]): ProxyTarget[][] {
  const sorted = [...targets].sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
  const groups: ProxyTarget[][] = [];
  for (const t of sorted) {
    const last = groups[groups.length - 1];
    if (last && (last[0]!.q ?? 1) === (t.q ?? 1)) last.push(t);
    else groups.push([t]);
  }
  return groups;
}

/** §16.7 step 6: 6xx first, then the lowest class; within 4xx prefer a specific answer. */
function better(a: SipResponse, b: SipResponse): boolean {
  const ca = Math.floor(a.status / 100);
  const cb = Math.floor(b.status / 100);
  if (cb === 6) return false;
  if (ca === 6) return true;
  if (ca !== cb) return ca < cb;
  // Prefer a real answer over a synthetic timeout, and 401/407/415/420/484 which the UAC can act on.
  const rank = (r: SipResponse) => (syntheticCause(r) ? 0 : [401, 407, 415, 420, 484].includes(r.status) ? 2 : 1);
  return rank(a) > rank(b);
}


function withStatus(res: SipResponse, status: number, reason: string): SipResponse {
  const headers: HeaderList = res.headerLines().filter(([n]) => !/^(content-length|l)$/i.test(n));
  return buildResponseFrom({ status, reason, headers, body: res.body });
}

function withChallenges(res: SipResponse, challenges: HeaderList): SipResponse {
  const headers: HeaderList = res.headerLines().filter(([n]) => !/^(content-length|l|www-authenticate|proxy-authenticate)$/i.test(n));
  const seen = new Set<string>();
  for (const c of challenges) {
    const key = c.join(':');
    if (!seen.has(key)) headers.push(c);
    seen.add(key);
  }
  return buildResponseFrom({ status: res.status, reason: res.reason, headers, body: res.body });
}
