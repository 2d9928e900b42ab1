/**
 * The stateful proxy core (RFC 3261 §16): request validation (§16.3), route processing
 * (§16.4), forwarding to a target set in parallel or sequentially (§16.5–§16.6), the response
 * context that picks the best response (§16.7), CANCEL (§16.10), Timer C, 3xx recursion,
 * and stateless forwarding of ACK for 2xx and of stray 2xx retransmissions.
 *
 * Policy (which targets, whether to record-route, authentication) comes from a
 * {@link ProxyPolicy} supplied by the proxy role; this file is mechanism only.
 *
 * @remarks Layer 4 (`tu/`). Uses the transaction and transport layers through
 * {@link UserAgentCore} (one transaction layer per process, shared with the UAS core).
 */
import crypto from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import {
  EditList, HEADER_KEYS, type HeaderList, type SipRequest, type SipResponse, type SipUri, buildResponseFrom, createResponse, firstValueEnd,
  isRecordRouted, parseMessage, parseNameAddr, parseUri,
} from '../sip/index.js';
import { type ClientTransaction, type InviteServerTransaction, type ServerTransaction, buildCancel, syntheticCause } from '../transaction/index.js';
import { type TransportKind, kindFromToken, viaToken } from '../transport/index.js';
import type { Clock } from '../util/clock.js';
import { StateError } from '../util/errors.js';
import type { Target, UserAgentCore } from './user-agent-core.js';

const branchChannel = diagnostics.channel('sip:proxy:branch');

/** One place to send the request (§16.5): a URI plus an optional route (Path, RFC 3327). */
export interface ProxyTarget {
  uri: string;
  q?: number;
  /** Route header values to put in front of the request (e.g. a stored Path vector). */
  route?: string[];
  /** A pre-resolved destination (e.g. the flow a binding registered over). */
  destination?: Target;
}

export type TargetDecision =
  | { kind: 'forward'; targets: ProxyTarget[]; mode?: 'parallel' | 'sequential' }
  | { kind: 'respond'; status: number; reason?: string; headers?: HeaderList };

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

/** How many times a failure hook may start a new round for one request. */
export const MAX_FAILURE_ROUNDS = 8;

export interface ProxyCoreOptions {
  core: UserAgentCore;
  policy: ProxyPolicy;
  /** Routing blocks of an embedding program (see {@link ProxyHooks}). */
  hooks?: ProxyHooks;
  /** Is this URI one of ours (an address, port and transport we listen on, or a served domain)? */
  isLocal: (uri: SipUri) => boolean;
  /** Option tags the proxy understands in Proxy-Require (§16.3 step 5). */
  supported?: string[];
  /** Timer C (§16.6 step 11): > 3 minutes for INVITE. */
  timerCMs?: number;
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
}

export class ProxyCore {
  private readonly core: UserAgentCore;
  private readonly policy: ProxyPolicy;
  private readonly isLocal: (uri: SipUri) => boolean;
  private readonly supported: string[];
  private readonly timerCMs: number;
  private readonly hooks: ProxyHooks;
  private readonly contexts = new Map<ServerTransaction, ResponseContext>();
  /** Responses made here for the received request (see {@link localResponse}). */
  private readonly local = new WeakSet<SipResponse>();
  private branchCounter = 0;

  constructor(opts: ProxyCoreOptions) {
    this.core = opts.core;
    this.policy = opts.policy;
    this.isLocal = opts.isLocal;
    this.supported = opts.supported ?? [];
    this.timerCMs = opts.timerCMs ?? 181_000;
    this.hooks = opts.hooks ?? {};
  }

  get activeContexts(): number {
    return this.contexts.size;
  }

  // ---- §16.3 – §16.6 -----------------------------------------------------------------

  /** A new request (not ACK, not CANCEL) the proxy is responsible for. */
  async receiveRequest(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const reply = (status: number, opts: { reason?: string; headers?: HeaderList } = {}) => this.core.respond(tx, req, status, opts);
    // §16.3 step 2: URI scheme.
    if (req.uri.kind === 'absolute') return void reply(416);
    // §16.3 step 3: Max-Forwards.
    const mf = req.maxForwards;
    if (mf === 0) return void reply(483);
    // §16.3 step 5: Proxy-Require.
    const unsupported = req.optionTags('Proxy-Require').filter((t) => !this.supported.includes(t));
    if (unsupported.length > 0) return void reply(420, { headers: [['Unsupported', unsupported.join(', ')]] });
    // §16.3 step 4: loop detection with the branch's loop-detection part (§16.6 step 8).
    const hash = loopHash(req);
    if (this.isLoop(req, hash)) return void reply(482);
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
    const ctx: ResponseContext = {
      req, tx, branches: [], pending: [], finalSent: false, sent2xx: false, best: undefined, challenges: [],
      cancelled: false, recordRoute: this.policy.recordRoute(req), groupTimer: undefined, hash, failureRounds: 0,
    };
    (ctx as ResponseContext & { routed?: typeof routed }).routed = routed;
    this.contexts.set(tx, ctx);
    ctx.pending = decision.mode === 'sequential' ? groupByQ(decision.targets) : [decision.targets];
    this.startNextGroup(ctx);
  }

  /** §16.4 (shared with the stateless proxy). */
  processRoutes(req: SipRequest): { requestUri: string; routes: string[]; flow?: Target } {
    let requestUri = req.uriText;
    let routes = req.route.map((r) => r.toString());
    // §16.4: a strict router upstream put our URI in the Request-URI; the real target is the last Route.
    const ru = req.uri;
    if (ru.kind === 'sip' && this.isLocal(ru) && routes.length > 0 && (ru.params.has('lr') || !ru.user)) {
      const last = parseNameAddr(routes[routes.length - 1]!, 'Route');
      if (!last.uri || last.uri.kind !== 'sip' || !this.isLocal(last.uri)) {
        requestUri = last.uriText;
        routes = routes.slice(0, -1);
      }
    }
    // §16.4: remove our own Route entries at the top (two after a transport switch, RFC 5658).
    // One of them may carry a flow token (see recordRouteUri): the flow the far end is on.
    let flow: Target | undefined;
    const src = req.source;
    while (routes.length > 0) {
      const top = parseNameAddr(routes[0]!, 'Route').uri;
      if (top.kind === 'sip' && this.isLocal(top)) {
        const f = parseFlowToken(top.user);
        if (f && !(src && f.kind === src.transport && f.address === src.address && f.port === src.port)) flow = f;
        routes = routes.slice(1);
      } else break;
    }
    return { requestUri, routes, flow };
  }

  private isLoop(req: SipRequest, hash: string): boolean {
    for (const v of req.via) {
      const b = v.branch;
      if (!b || !b.startsWith('z9hG4bKsb')) continue;
      const host = v.hostname;
      let uri: SipUri;
      try {
        uri = parseUri(`sip:${host.includes(':') ? `[${host}]` : host}${v.port ? `:${v.port}` : ''}`) as SipUri;
      } catch {
        continue;
      }
      if (!this.isLocal(uri)) continue;
      // A spiral changes the Request-URI or route, hence the hash; a loop does not (§16.3 step 4).
      if (b.slice(9, 9 + hash.length) === hash) return true;
    }
    return false;
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
        if (status === 500) this.core.transport.reportFault({ where: 'proxy forward', error, ...this.core.transport.faultContext(ctx.req) });
        if (branch !== undefined) this.branchFinal(ctx, branch, this.localResponse(ctx, status, status === 513 ? 'Forwarded Request Too Large' : 'Proxy Error'));
      });
    }
    const seqMs = this.policy.sequentialTimeoutMs;
    if (ctx.pending.length > 0 && seqMs && ctx.req.method === 'INVITE') {
      ctx.groupTimer = this.core.clock.setTimer(seqMs, () => {
        // Sequential forking: this group rang too long; cancel it and try the next (find me / follow me).
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
    const nextHop = routes.length > 0 ? parseNameAddr(routes[0]!, 'Route').uriText : target.uri;
    let dests: Target[];
    try {
      dests = target.destination ? [target.destination] : (this.core.resolveSync(nextHop) ?? (await this.core.resolve(nextHop)));
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
          const outRR = this.recordRouteUri(dest.kind, dest);
          const inRR = this.recordRouteUri(inKind, req.source);
          if (outRR !== inRR) rr.push(`<${outRR}>`, `<${inRR}>`);
          else rr.push(`<${outRR}>`);
        }
      }
      return forwardedRequest(req, { uri: target.uri, via, recordRoute: rr, routes, receivedVia: true, headers: extra });
    };
    if (branchChannel.hasSubscribers) branchChannel.publish({ callId: req.callId, branch: branch.index, target: target.uri });
    const result = this.core.send(dests, build, {
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
    const k = this.core.transport.hasListener(kind) ? kind : 'udp';
    const sb = this.core.transport.viaSentBy(k);
    return `SIP/2.0/${viaToken(kind)} ${sb.host}:${sb.port};branch=${branch}`;
  }

  /**
   * Our Record-Route URI for one side. Toward a WebSocket peer it carries a flow token (the
   * peer's address, RFC 5626 §5.3-like) in the user part, because a WS client's Contact
   * ("…@xyz.invalid;transport=ws", RFC 7118 §5) cannot be resolved: in-dialog requests to it
   * go back over the connection named in our Route (see processRoutes).
   */
  private recordRouteUri(kind: TransportKind, peer?: { address: string; port: number }): string {
    const k = this.core.transport.hasListener(kind) ? kind : 'udp';
    const sb = this.core.transport.sentBy(k);
    const user = peer && (k === 'ws' || k === 'wss') ? `${flowToken(k, peer.address, peer.port)}@` : '';
    return `sip:${user}${sb.host}:${sb.port}${k === 'udp' ? '' : `;transport=${k}`};lr`;
  }

  private armTimerC(ctx: ResponseContext, branch: Branch): void {
    if (branch.timerC) this.core.clock.clearTimer(branch.timerC);
    branch.timerC = this.core.clock.setTimer(this.timerCMs, () => {
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
    if (branch.timerC) this.core.clock.clearTimer(branch.timerC);
    const st = res.status;
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
    if (ctx.groupTimer) this.core.clock.clearTimer(ctx.groupTimer);
    if (ctx.pending.length > 0 && !ctx.sent2xx && !ctx.cancelled && !(ctx.best && ctx.best.status >= 600)) {
      this.startNextGroup(ctx);
      return;
    }
    this.contexts.delete(ctx.tx);
    if (ctx.finalSent) return;
    const failed = ctx.best ?? this.localResponse(ctx, 408);
    if (this.hooks.failure && !ctx.cancelled && failed.status >= 300 && ctx.failureRounds < MAX_FAILURE_ROUNDS) {
      ctx.failureRounds++;
      void this.runHook('failure', ctx.req, () => this.hooks.failure!(ctx.req, failed)).then((d) => {
        if (d?.kind === 'forward' && d.targets.length > 0 && !ctx.cancelled) {
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
    let best = ctx.best ?? this.localResponse(ctx, 408);
    // §16.7 step 6: a 503 is passed upstream as 500; synthetic timeouts become 408.
    if (syntheticCause(best) === 'transport-error' || best.status === 503) best = withStatus(best, 500, 'Server Internal Error');
    if ((best.status === 401 || best.status === 407) && ctx.challenges.length > 0) best = withChallenges(best, ctx.challenges);
    this.forwardUpstream(ctx, best);
  }

  /**
   * A final response the proxy makes itself for the request (§16.7 step 6: no response, a next
   * hop that cannot be resolved, a copy that cannot be built). It carries the request's own
   * Vias, so it goes upstream as it is: stripping a "top Via" would remove the client's.
   */
  private localResponse(ctx: ResponseContext, status: number, reason?: string, headers?: HeaderList): SipResponse {
    const res = createResponse(ctx.req, status, { reason, headers, toTag: this.core.toTagFor(ctx.tx) });
    this.local.add(res);
    return res;
  }

  /** Runs an embedding program's hook; one that throws is a fault, and the proxy goes on without it. */
  private async runHook<T>(name: string, req: SipRequest, fn: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (error) {
      this.core.transport.reportFault({ where: `proxy ${name} hook`, error, ...this.core.transport.faultContext(req) });
      return undefined;
    }
  }

  private runHookSync<T>(name: string, req: SipRequest, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.core.transport.reportFault({ where: `proxy ${name} hook`, error, ...this.core.transport.faultContext(req) });
      return undefined;
    }
  }

  /** §16.7 step 9: forward with our Via removed. */
  private forwardUpstream(ctx: ResponseContext, res: SipResponse): void {
    let fwd: SipResponse;
    try {
      fwd = this.local.has(res) ? res : withoutTopVia(res);
    } catch (error) {
      // A response whose copy cannot be built (§16.7 step 9): upstream gets a 502 of ours.
      this.core.transport.reportFault({ where: 'proxy response', error, ...this.core.transport.faultContext(res) });
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
    void this.core.send([branch.dest!], () => cancel);
  }

  /** §16.10: a CANCEL for a proxied INVITE: cancel every pending branch. */
  receiveCancel(invite: ServerTransaction): boolean {
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
    const nextHop = routed.routes.length > 0 ? parseNameAddr(routed.routes[0]!, 'Route').uriText : routed.requestUri;
    const nh = parseUri(nextHop, 'Request-URI');
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
    const nextHop = routes.length > 0 ? parseNameAddr(routes[0]!, 'Route').uriText : uri;
    let dests: Target[];
    try {
      dests = destination && routes.length === 0 ? [destination] : (this.core.resolveSync(nextHop) ?? (await this.core.resolve(nextHop)));
    } catch {
      dests = [];
    }
    const dest = dests[0];
    if (!dest) return;
    const via = this.viaFor(dest.kind, `z9hG4bKsa${crypto.createHash('md5').update(ack.topVia.branch ?? ack.callId).digest('hex').slice(0, 16)}`);
    const fwd = forwardedRequest(ack, { uri, via, recordRoute: [], routes, receivedVia: false });
    this.core.transactions.sendStateless(fwd, { kind: 'request-destination', destination: dest });
  }

  /** A 2xx retransmission whose client transaction is gone: forward upstream by its Via (§16.7). */
  forwardStrayResponse(res: SipResponse): void {
    const vias = res.viaValues();
    if (vias.length < 2) return; // only our Via: nobody upstream
    let top;
    try {
      top = res.topVia;
      const b = top.branch ?? '';
      // Ours: a stateful branch (only its 2xx to INVITE outlive the transaction) or a stateless one.
      const statefulStray = b.startsWith('z9hG4bKsb') && res.cseq.method === 'INVITE' && res.status >= 200 && res.status < 300;
      if (!statefulStray && !b.startsWith(STATELESS_BRANCH_PREFIX)) return;
      const own = parseUri(`sip:${top.host}${top.port ? `:${top.port}` : ''}`);
      if (own.kind !== 'sip' || !this.isLocal(own)) return;
      const next = res.via[1]!;
      const fwd = withoutTopVia(res);
      const address = next.received ?? next.hostname;
      const port = next.rport ?? next.port ?? 5060;
      const kind = kindFromToken(next.transport) ?? 'udp';
      this.core.transactions.sendStateless(fwd, { kind: 'request-destination', destination: { kind, address: address.replace(/^\[|\]$/g, ''), port } satisfies Target });
    } catch {
      /* malformed Via in a stray response: drop */
    }
  }
}

/** Branch prefix of requests forwarded statelessly (RFC 3261 §16.11). */
export const STATELESS_BRANCH_PREFIX = 'z9hG4bKsl';

const FLOW_PREFIX = 'sbf-';

/** A flow token for a Record-Route user part: `sbf-` + base64url("kind|address|port"). */
function flowToken(kind: TransportKind, address: string, port: number): string {
  return FLOW_PREFIX + Buffer.from(`${kind}|${address}|${port}`).toString('base64url');
}

function parseFlowToken(user: string | undefined): Target | undefined {
  if (!user || !user.startsWith(FLOW_PREFIX)) return undefined;
  const m = /^(ws|wss|tcp|tls)\|([^|]+)\|(\d{1,5})$/.exec(Buffer.from(user.slice(FLOW_PREFIX.length), 'base64url').toString('utf8'));
  return m ? { kind: m[1] as TransportKind, address: m[2]!, port: Number(m[3]) } : undefined;
}

/**
 * §16.6 steps 2–8 on the received bytes (STYLE §12.3: forwarding by edit list): the new
 * Request-URI, our Via and Record-Route on top, Route lines replaced by the route computed for
 * this target (at the end), Max-Forwards decremented (70 when absent). With `receivedVia`, the
 * Via we received goes out with the `received`/`rport` the transport noted (RFC 3261 §18.2.1,
 * RFC 3581). Everything else — order, spelling, compact forms, unknown headers, the body and its
 * Content-Length — is copied byte for byte.
 */
export function forwardedRequest(
  req: SipRequest,
  o: { uri: string; via: string; recordRoute: string[]; routes: string[]; receivedVia: boolean; headers?: HeaderList },
): SipRequest {
  const e = new EditList(req).setStartLine(`${req.method} ${o.uri} SIP/2.0`);
  e.prependHeader('Via', o.via);
  for (const rr of o.recordRoute) e.prependHeader('Record-Route', rr);
  const topVia = o.receivedVia ? req.receivedTopVia : undefined;
  let mfDone = false;
  let viaDone = false;
  let lengthSeen = false;
  const n = req.headerCount;
  for (let j = 0; j < n; j++) {
    const k = req.lineKey(j);
    if (k === HEADER_KEYS.contentLength) lengthSeen = true;
    else if (k === HEADER_KEYS.route) e.deleteLine(j);
    else if (k === HEADER_KEYS.maxForwards) {
      if (!mfDone) e.replaceLine(j, 'Max-Forwards', String(Math.max(0, (req.maxForwards ?? 70) - 1)));
      else e.deleteLine(j);
      mfDone = true;
    } else if (k === HEADER_KEYS.via && !viaDone) {
      viaDone = true;
      if (topVia !== undefined) {
        // Only the first value of the first Via line changes; the values after it stay as written.
        const ve = req.lineValueEnd(j);
        const fe = firstValueEnd(req.raw, req.lineValueStart(j), ve);
        e.replaceLine(j, 'Via', fe < ve ? `${topVia}${req.raw.toString('utf8', fe, ve)}` : topVia);
      }
    }
  }
  if (!mfDone) e.appendHeader('Max-Forwards', '70');
  for (const r of o.routes) e.appendHeader('Route', r);
  for (const [name, value] of o.headers ?? []) e.appendHeader(name, value);
  // Optional over UDP, mandatory over a stream (§18.3, §20.14): the next hop may be TCP.
  if (!lengthSeen) e.appendHeader('Content-Length', String(req.body.length));
  return parseMessage(e.toBuffer()) as SipRequest;
}

/** §16.6 step 8 / §16.3 step 4: a hash over the fields a loop would leave unchanged. */
export function loopHash(req: SipRequest): string {
  // Not the topmost Via: when a request comes back to us, the top Via is the previous hop's
  // (our own, on a direct loop), with a fresh branch on every pass, so a hash over it never
  // matches the one in our earlier Via and a loop would only end when Max-Forwards reaches 0
  // (483 instead of 482). Branch uniqueness comes from the per-branch suffix, not from this hash.
  const fields = [
    req.uriText, req.to.tag ?? '', req.from.tag ?? '', req.callId, String(req.cseq.seq),
    req.headers('Route').join(','), req.headers('Proxy-Require').join(','), req.headers('Proxy-Authorization').join(','),
  ];
  return crypto.hash('md5', fields.join('\0'), 'hex').slice(0, 16);
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


/**
 * §16.7 step 3: the response without the topmost Via value (ours), every other byte as
 * received. The next Via is the one we forwarded, `received`/`rport` included (§18.2.1).
 */
export function withoutTopVia(res: SipResponse): SipResponse {
  const n = res.headerCount;
  for (let j = 0; j < n; j++) {
    if (res.lineKey(j) !== HEADER_KEYS.via) continue;
    const e = new EditList(res);
    const vs = res.lineValueStart(j);
    const ve = res.lineValueEnd(j);
    const fe = firstValueEnd(res.raw, vs, ve);
    if (fe >= ve) e.deleteLine(j);
    else e.replaceLine(j, 'Via', res.raw.toString('utf8', fe + 1, ve).trimStart());
    // Shorter than what was received and parsed, except where text was re-encoded: build limits.
    return parseMessage(e.toBuffer(), { limits: { maxMessageSize: 4 << 20, maxHeaders: 4096 } }) as SipResponse;
  }
  return res;
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
