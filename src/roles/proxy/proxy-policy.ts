/**
 * The proxy role's routing policy (the handbook's proxy: call routing, authentication,
 * authorisation, address resolution): served domains go to the location service, `tel:` and
 * digit URIs through a prefix table, foreign domains to their RFC 3263 next hop — and a request
 * from a foreign domain to a foreign domain is refused (never an open relay).
 *
 * @remarks Role (`roles/proxy`). Implements {@link ProxyPolicy} for `tu/proxy-core.ts`.
 */
import type { DigestVerifier } from '../../auth/index.js';
import { type SipRequest, type SipUri, percentDecode } from '../../sip/index.js';
import type { LocationStore } from '../../store/index.js';
import { type ProxyPolicy, type ProxyTarget, type RequestProcessor, type TargetDecision, runChain } from '../../tu/index.js';
import { bindingFlow, canonicalAor } from '../registrar/index.js';
import type { DialPlan } from '../../dialplan/index.js';
import { routeByDialPlan, telephoneNumber } from './dial-plan-routing.js';

export interface ProxyPolicyConfig {
  domains: string[];
  recordRoute: boolean;
  /** Record-Route only for these domains (Request-URI or From); empty = every request. */
  recordRouteDomains?: string[];
  /** Challenge callers from served domains with 407 (RFC 3261 §22.3). */
  authenticate: boolean;
  /** Source addresses (gateways, peers) that are never challenged. */
  trustedPeers: string[];
  /** Telephone numbers and `tel:` URIs are routed by this dial plan (docs/dialplan.md); none: 404. */
  dialPlan?: DialPlan;
  /** Where requests to our own address with no other target go (e.g. a downstream UAS). */
  defaultRoute?: string;
  forking: 'parallel' | 'sequential';
  sequentialTimeoutMs: number;
  recurseOn3xx: boolean;
  realm?: string;
  /** Next hop per Request-URI domain ('*' = any foreign domain), e.g. a redirect server. */
  domainRoutes?: Array<{ domain: string; target: string }>;
}

export interface ProxyPolicyDeps {
  location?: LocationStore;
  verifier?: DigestVerifier;
  /** Our own addresses (listeners) — a Request-URI naming one has no user-level target. */
  isOwnAddress: (uri: SipUri) => boolean;
  /** What the routing decided and why (dial plan hunting …). */
  log?: (line: string) => void;
  /**
   * A MESSAGE to a local user without a binding (RFC 3428 offline delivery, the presence role):
   * `stored` → 202 Accepted, `full` → 480 (the user's store is full), `no-user` → routing goes on.
   */
  storeMessage?: (req: SipRequest) => Promise<'stored' | 'full' | 'no-user'>;
}

/** What the routing processors know about one request, worked out once. */
export interface RoutingContext {
  /** Is the Request-URI's host one of our domains or addresses (Kamailio's "myself")? */
  local: boolean;
  inDialog: boolean;
  fromHost: string;
  /** The From names one of our domains. */
  fromUs: boolean;
  /** The source is a trusted peer (gateway, other proxy). */
  trusted: boolean;
}

type Processor = RequestProcessor<RoutingContext>;

/**
 * The routing policy as a chain of processors (see `tu/proxy-pipeline.ts`), in this order:
 * `authenticate` → `tel-dial-plan` → `sip-only` → for our domains `in-dialog` → `location` →
 * `dial-plan` → `default-route` → `not-found`; for foreign ones `relay-check` →
 * `domain-routes` → `request-uri`. {@link processors} names them; docs/proxy.md shows each.
 */
export class ProxyRoutingPolicy implements ProxyPolicy {
  readonly recurseOn3xx: boolean;
  readonly sequentialTimeoutMs: number;
  /** The target-determination chain (§16.5). */
  readonly processors: readonly Processor[];
  /** The chain for an initial request a pre-loaded Route carries (no target determination, §16.4). */
  readonly routedProcessors: readonly Processor[];

  /** The dial plan in force (replaced on reload; calls under way keep the hunt they started with). */
  dialPlan: DialPlan | undefined;

  constructor(private readonly cfg: ProxyPolicyConfig, private readonly deps: ProxyPolicyDeps) {
    this.dialPlan = cfg.dialPlan;
    this.recurseOn3xx = cfg.recurseOn3xx;
    this.sequentialTimeoutMs = cfg.sequentialTimeoutMs;
    const authenticate: Processor = { name: 'authenticate', process: (req, c) => this.authenticate(req, c) };
    const ours = (name: string, fn: Processor['process']): Processor => ({ name, process: (req, c) => (c.local ? fn(req, c) : undefined) });
    const foreign = (name: string, fn: Processor['process']): Processor => ({ name, process: (req, c) => (c.local ? undefined : fn(req, c)) });
    this.processors = [
      authenticate,
      // tel: URIs through the dial plan (RFC 3966 visual separators dropped).
      { name: 'tel-dial-plan', process: (req, c) => (req.uri.kind === 'tel' && !c.inDialog ? this.byDialPlan(req, req.uri.number.replace(/[-.()]/g, ''), true) : undefined) },
      { name: 'sip-only', process: (req) => (req.uri.kind !== 'sip' ? { kind: 'respond', status: 416 } : undefined) },
      // An in-dialog request (our Record-Route already removed) whose Request-URI is the peer's
      // Contact — a host of a served domain (e.g. the domain is an IP) but not our own address
      // and port — goes straight there (§12.2.1.1 remote target, §16.5), never through the
      // location service (the Contact "bob-0x…@127.0.0.1:5264" is no AOR).
      ours('in-dialog', (req, c) => (c.inDialog && !this.deps.isOwnAddress(req.uri as SipUri) ? { kind: 'forward', targets: [{ uri: req.uriText }] } : undefined)),
      ours('location', (req) => this.location(req)),
      // RFC 3428 §7: a MESSAGE for a user who is not registered is kept and delivered later (202).
      ours('offline-message', async (req, c) => {
        if (req.method !== 'MESSAGE' || c.inDialog || !this.deps.storeMessage) return undefined;
        const r = await this.deps.storeMessage(req);
        if (r === 'stored') return { kind: 'respond', status: 202, reason: 'Accepted (Stored for Delivery)' };
        if (r === 'full') return { kind: 'respond', status: 480, reason: 'Message Store Full' };
        return undefined;
      }),
      // A telephone number (with or without user=phone) through the dial plan, when there is one.
      // Only a new call: a request within a dialog is never routed to a dial-peer (§12.2: it follows its dialog).
      ours('dial-plan', (req, c) => {
        if (c.inDialog) return undefined;
        const u = req.uri as SipUri;
        const n = this.dialPlan && u.user !== undefined ? telephoneNumber(percentDecode(u.user)) : undefined;
        return n !== undefined ? this.byDialPlan(req, n, false) : undefined;
      }),
      ours('default-route', (req) => (this.cfg.defaultRoute ? { kind: 'forward', targets: [{ uri: this.defaultTarget(req) }] } : undefined)),
      ours('not-found', (_req, c) => {
        if (c.inDialog) return { kind: 'respond', status: 404, reason: 'No Route for In-Dialog Request' };
        return { kind: 'respond', status: this.deps.location ? 404 : 480, reason: this.deps.location ? 'User Not Registered' : undefined };
      }),
      // A foreign Request-URI: relay only for our users, trusted peers, or in-dialog requests.
      foreign('relay-check', (_req, c) => (!c.fromUs && !c.trusted && !c.inDialog ? { kind: 'respond', status: 403, reason: 'Relaying Denied' } : undefined)),
      foreign('domain-routes', (req, c) => {
        const host = (req.uri as SipUri).hostname.toLowerCase();
        const routes = this.cfg.domainRoutes ?? [];
        const dr = routes.find((r) => r.domain.toLowerCase() === host) ?? routes.find((r) => r.domain === '*');
        if (!dr || c.inDialog) return undefined;
        return { kind: 'forward', targets: [{ uri: req.uriText, route: [`<${dr.target.includes(';lr') ? dr.target : `${dr.target};lr`}>`] }] };
      }),
      foreign('request-uri', (req) => ({ kind: 'forward', targets: [{ uri: req.uriText }] })),
    ];
    this.routedProcessors = [
      authenticate,
      { name: 'routed-relay-check', process: (_req, c) => (!c.fromUs && !c.trusted ? { kind: 'respond', status: 403, reason: 'Relaying Denied' } : undefined) },
    ];
  }

  private serves(host: string): boolean {
    const h = host.toLowerCase();
    return this.cfg.domains.some((d) => d.toLowerCase() === h);
  }

  /** §16.6 step 4, configurable on/off and per domain. */
  recordRoute(req: SipRequest): boolean {
    if (!this.cfg.recordRoute) return false;
    const only = this.cfg.recordRouteDomains ?? [];
    if (only.length === 0) return true;
    const hosts: string[] = [];
    for (const u of [req.uri, req.from.uri]) if (u.kind === 'sip') hosts.push(u.hostname.toLowerCase());
    return only.some((d) => hosts.includes(d.toLowerCase()));
  }

  private context(req: SipRequest): RoutingContext {
    let fromHost = '';
    try {
      const f = req.from.uri;
      if (f.kind === 'sip') fromHost = f.hostname;
    } catch {
      /* validated earlier */
    }
    const u = req.uri;
    return {
      local: u.kind === 'sip' && (this.serves(u.hostname) || this.deps.isOwnAddress(u)),
      inDialog: req.to.tag !== undefined,
      fromHost,
      fromUs: this.serves(fromHost),
      trusted: req.source !== undefined && this.cfg.trustedPeers.includes(req.source.address),
    };
  }

  /** §16.5: where this request goes, or a local answer — the first processor that decides. */
  async decide(req: SipRequest): Promise<TargetDecision> {
    return (await runChain(this.processors, req, this.context(req))) ?? { kind: 'forward', targets: [{ uri: req.uriText }] };
  }

  /**
   * An initial request that carries a Route to another hop after our own entries (a pre-loaded
   * route, RFC 3261 §16.4) goes where that Route says, without target determination; it still
   * passes what makes this proxy no open relay: our users authenticate, and a foreign user may
   * use it only from a trusted peer. Undefined: forward it.
   */
  async admitRouted(req: SipRequest): Promise<TargetDecision | undefined> {
    if (req.to.tag !== undefined || req.method === 'ACK' || req.method === 'CANCEL') return undefined;
    return runChain(this.routedProcessors, req, this.context(req));
  }

  /** Authentication of our own users (RFC 3261 §22.3), except in-dialog requests, ACK and CANCEL. */
  private async authenticate(req: SipRequest, c: RoutingContext): Promise<TargetDecision | undefined> {
    if (!(this.cfg.authenticate && this.deps.verifier && c.fromUs && !c.trusted && !c.inDialog && req.method !== 'ACK' && req.method !== 'CANCEL')) return undefined;
    const realm = this.cfg.realm ?? c.fromHost.toLowerCase();
    const verdict = await this.deps.verifier.verify(req.header('Proxy-Authorization'), { method: req.method, realm, requestUri: req.uriText, source: req.source?.address });
    if (!verdict.ok) {
      if (verdict.reason === 'malformed') return { kind: 'respond', status: 400, reason: 'Malformed Proxy-Authorization' };
      return {
        kind: 'respond',
        status: 407,
        headers: this.deps.verifier.challenge(realm, { stale: verdict.reason === 'stale' }).map((h) => ['Proxy-Authenticate', h] as [string, string]),
      };
    }
    // Authorisation: the authenticated user must be the From user.
    const fu = req.from.uri;
    const fromUser = fu.kind === 'sip' && fu.user !== undefined ? percentDecode(fu.user) : '';
    if (verdict.username !== fromUser) return { kind: 'respond', status: 403, reason: 'From Does Not Match Authenticated User' };
    return undefined;
  }

  /** The location service (§16.5): the bindings of the AOR, each a target (with its Path). */
  private async location(req: SipRequest): Promise<TargetDecision | undefined> {
    const ruri = req.uri as SipUri;
    if (ruri.user === undefined || !this.deps.location) return undefined;
    // user@our-address means the user in one of our domains (a redirect points here so).
    const aors = this.serves(ruri.hostname) ? [canonicalAor(ruri)] : this.cfg.domains.map((d) => canonicalAor(Object.assign(ruri.clone(), { host: d, port: undefined })));
    for (const aor of aors) {
      const bindings = await this.deps.location.lookup(aor);
      if (bindings.length === 0) continue;
      const targets: ProxyTarget[] = bindings.map((b) => {
        const t: ProxyTarget = { uri: b.contact, q: b.q, route: b.path };
        const flow = bindingFlow(b);
        if (flow) {
          t.destination = flow;
          t.flow = true;
        }
        return t;
      });
      return { kind: 'forward', targets, mode: this.cfg.forking };
    }
    return undefined;
  }

  private defaultTarget(req: SipRequest): string {
    const d = this.cfg.defaultRoute!;
    const u = req.uri;
    // Keep the user part so the downstream sees who was called.
    if (u.kind === 'sip' && u.user !== undefined && /^sips?:[^@]+$/.test(d)) return d.replace(/^(sips?:)/, `$1${u.user}@`);
    return d;
  }

  /** A number through the dial plan; a `tel:` URI without one gets 404 (§16.5: no target). */
  private byDialPlan(req: SipRequest, number: string, tel: boolean): Promise<TargetDecision> | TargetDecision | undefined {
    const plan = this.dialPlan;
    if (!plan) return tel ? { kind: 'respond', status: 404, reason: 'No Route for Number' } : undefined;
    const fu = req.from.uri;
    const calling = fu.kind === 'sip' && fu.user !== undefined ? telephoneNumber(percentDecode(fu.user)) : fu.kind === 'tel' ? fu.number : undefined;
    return routeByDialPlan({ plan, registered: (n) => this.registered(n), log: this.deps.log ?? (() => {}) }, number, calling, req.callId);
  }

  /** `session target registrar`: the number's bindings in the location service, in one of our domains. */
  private async registered(number: string): Promise<ProxyTarget[]> {
    if (!this.deps.location) return [];
    for (const d of this.cfg.domains) {
      const bindings = await this.deps.location.lookup(`sip:${number}@${d.toLowerCase()}`);
      if (bindings.length > 0) {
        return bindings.map((b) => {
          const flow = bindingFlow(b);
          return { uri: b.contact, q: b.q, route: b.path, ...(flow ? { destination: flow, flow: true } : {}) };
        });
      }
    }
    return [];
  }
}
