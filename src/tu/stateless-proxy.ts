/**
 * The stateless proxy (RFC 3261 §16.11), for a front-end or load-balancer role: each request
 * is validated (§16.3), route-processed (§16.4), sent to the first target of the policy and
 * forgotten; responses go back by their Via. No transaction is kept, so the branch is derived
 * from the incoming request's top Via branch: a retransmission (and the CANCEL or non-2xx ACK of
 * an INVITE) gets the same branch downstream.
 *
 * @remarks Layer 4 (`tu/`). Shares the policy and route processing of {@link ProxyCore}.
 */
import crypto from 'node:crypto';
import { type HeaderList, type SipRequest, createResponse, parseNameAddr } from '../sip/index.js';
import type { TransportKind } from '../transport/index.js';
import { type ProxyCore, type ProxyPolicy, STATELESS_BRANCH_PREFIX, forwardedRequest } from './proxy-core.js';
import type { Target, UserAgentCore } from './user-agent-core.js';

export class StatelessProxy {
  constructor(
    private readonly core: UserAgentCore,
    private readonly stateful: ProxyCore,
    private readonly policy: ProxyPolicy,
    private readonly supported: string[] = [],
  ) {}

  /** Answers or forwards `req`; never creates a transaction. */
  async receive(req: SipRequest): Promise<void> {
    const reply = (status: number, headers: HeaderList = []) => {
      if (req.method === 'ACK') return;
      this.core.transport.sendResponse(createResponse(req, status, { toTag: req.to.tag ? undefined : 'sl' + branchHash(req).slice(0, 8), headers }), req);
    };
    if (req.uri.kind === 'absolute') return reply(416);
    if (req.maxForwards === 0) return reply(483);
    const unsupported = req.optionTags('Proxy-Require').filter((t) => !this.supported.includes(t));
    if (unsupported.length > 0) return reply(420, [['Unsupported', unsupported.join(', ')]]);
    const routed = this.stateful.processRoutes(req);
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
    const nextHop = routes.length > 0 ? parseNameAddr(routes[0]!, 'Route').uriText : uri;
    let dests: Target[];
    try {
      dests = this.core.resolveSync(nextHop) ?? (await this.core.resolve(nextHop));
    } catch {
      dests = [];
    }
    const dest = dests[0];
    if (!dest) return reply(404);
    const kind: TransportKind = dest.kind;
    // §16.11: the same incoming request always yields the same branch (no state to remember it).
    const via = this.stateful.viaFor(kind, `${STATELESS_BRANCH_PREFIX}${branchHash(req)}`);
    const fwd = forwardedRequest(req, { uri, via, recordRoute: [], routes, receivedVia: false });
    this.core.transactions.sendStateless(fwd, { kind: 'request-destination', destination: dest });
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
