/**
 * The stateless proxy (RFC 3261 §16.11), for a front-end or load-balancer role: each request
 * is validated (§16.3), route-processed (§16.4), sent to the first target of the policy and
 * forgotten; responses go back by their Via. No transaction is kept, so the branch is derived
 * from the incoming request's top Via branch: a retransmission (and the CANCEL or non-2xx ACK of
 * an INVITE) gets the same branch downstream.
 *
 * @remarks Layer 4 (`tu/`). A {@link TransactionUser} whose stateless band takes every request;
 * shares the policy and the forwarding mechanics ({@link forwardedRequest}) of the stateful proxy.
 */
import crypto from 'node:crypto';
import { type HeaderList, type SipRequest, type SipResponse, type SipUri, createResponse } from '../sip/index.js';
import type { TransportKind } from '../transport/index.js';
import { nextHop } from '../dialog/index.js';
import type { SipElement, TransactionUser } from './element.js';
import type { ProxyPolicy } from './proxy-core.js';
import { type ProcessorResult, STATELESS_VALIDATION, runChain } from './proxy-pipeline.js';
import { STATELESS_BRANCH_PREFIX, forwardStrayResponse, forwardedRequest, processRoutes, viaFor } from './proxy-forwarding.js';
import type { Target } from './uac-core.js';

export class StatelessProxy implements TransactionUser {
  constructor(
    private readonly el: SipElement,
    private readonly policy: ProxyPolicy,
    private readonly isLocal: (uri: SipUri) => boolean,
    private readonly supported: string[] = [],
  ) {}

  /** Every request routed here is taken before any transaction exists ({@link TransactionUser}). */
  receiveStateless(req: SipRequest): boolean {
    this.receive(req).catch((e: unknown) => this.el.requestFailed('stateless proxy', req, undefined, e));
    return true;
  }

  receiveRequest(): void {
    /* never reached: receiveStateless takes every request */
  }

  /** Responses go back by their Via (§16.11). */
  receiveStrayResponse(res: SipResponse): boolean {
    forwardStrayResponse(res, this.isLocal, (fwd, dest) => this.el.uac.sendStateless(fwd as unknown as SipRequest, dest));
    return true;
  }

  /** Answers or forwards `req`; never creates a transaction. */
  async receive(req: SipRequest): Promise<void> {
    const reply = (status: number, headers: HeaderList = []) => {
      if (req.method === 'ACK') return;
      this.el.transport.sendResponse(createResponse(req, status, { toTag: req.to.tag ? undefined : 'sl' + branchHash(req).slice(0, 8), headers }), req);
    };
    // §16.3 steps 2–5, the same chain as the stateful proxy's (§16.11: a stateless proxy validates too).
    const invalid = runChain(STATELESS_VALIDATION, req, { supported: this.supported, isLocal: this.isLocal, hash: '' }) as ProcessorResult;
    if (invalid?.kind === 'respond') return reply(invalid.status, invalid.headers);
    const routed = processRoutes(req, this.isLocal);
    let uri = routed.requestUri;
    let routes = routed.routes;
    if (routes.length === 0) {
      const d = await this.policy.decide(req);
      if (d.kind === 'respond') return reply(d.status, d.headers);
      const t = d.targets[0];
      if (!t) return reply(480);
      uri = t.uri;
      routes = [...(t.route ?? []), ...routes];
    }
    const hop = nextHop(routes, uri);
    let dests: Target[];
    try {
      dests = this.el.uac.resolveSync(hop) ?? (await this.el.uac.resolve(hop));
    } catch {
      dests = [];
    }
    const dest = dests[0];
    if (!dest) return reply(404);
    const kind: TransportKind = dest.kind;
    // §16.11: the same incoming request always yields the same branch (no state to remember it).
    const via = viaFor(this.el.transport, kind, `${STATELESS_BRANCH_PREFIX}${branchHash(req)}`);
    const fwd = forwardedRequest(req, { uri, via, recordRoute: [], routes, receivedVia: false });
    this.el.uac.sendStateless(fwd, dest);
  }
}

/**
 * §16.11: a hash of the incoming top Via branch (CANCEL and a non-2xx ACK share the INVITE's
 * branch, so they land on the same downstream transaction), plus the Request-URI and method
 * class for requests without an RFC 3261 branch.
 */
function branchHash(req: SipRequest): string {
  const via = req.topVia;
  const method = req.method === 'ACK' || req.method === 'CANCEL' ? 'INVITE' : req.method;
  const key = via.isRfc3261Branch ? `${via.branch}|${via.sentBy}|${method}` : `${req.uriText}|${req.callId}|${req.cseq.seq}|${req.from.tag ?? ''}|${via.sentBy}|${method}`;
  return crypto.createHash('md5').update(key).digest('hex').slice(0, 20);
}
