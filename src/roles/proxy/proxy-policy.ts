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
import type { ProxyPolicy, ProxyTarget, TargetDecision } from '../../tu/index.js';
import { canonicalAor } from '../registrar/index.js';

export interface PrefixRoute {
  /** Digits the dialled number starts with ('' matches everything). */
  prefix: string;
  /** Where to send: a SIP URI; `{number}` is replaced by the dialled number. */
  target: string;
  /** Digits to strip from the front before substituting. */
  strip?: number;
}

export interface ProxyPolicyConfig {
  domains: string[];
  recordRoute: boolean;
  /** Record-Route only for these domains (Request-URI or From); empty = every request. */
  recordRouteDomains?: string[];
  /** Challenge callers from served domains with 407 (RFC 3261 §22.3). */
  authenticate: boolean;
  /** Source addresses (gateways, peers) that are never challenged. */
  trustedPeers: string[];
  /** Digit/tel routing (a simple dial plan). */
  prefixRoutes: PrefixRoute[];
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
}

export class ProxyRoutingPolicy implements ProxyPolicy {
  readonly recurseOn3xx: boolean;
  readonly sequentialTimeoutMs: number;

  constructor(private readonly cfg: ProxyPolicyConfig, private readonly deps: ProxyPolicyDeps) {
    this.recurseOn3xx = cfg.recurseOn3xx;
    this.sequentialTimeoutMs = cfg.sequentialTimeoutMs;
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

  /**
   * An initial request that carries a Route to another hop after our own entries (a pre-loaded
   * route, RFC 3261 §16.4) goes where that Route says, without target determination; it still
   * passes what makes this proxy no open relay: our users authenticate, and a foreign user may
   * use it only from a trusted peer. Undefined: forward it.
   */
  async admitRouted(req: SipRequest): Promise<TargetDecision | undefined> {
    if (req.to.tag !== undefined || req.method === 'ACK' || req.method === 'CANCEL') return undefined;
    const { fromHost, fromUs, trusted } = this.origin(req);
    const refused = await this.authenticate(req, fromHost, fromUs, trusted);
    if (refused) return refused;
    if (!fromUs && !trusted) return { kind: 'respond', status: 403, reason: 'Relaying Denied' };
    return undefined;
  }

  private origin(req: SipRequest): { fromHost: string; fromUs: boolean; trusted: boolean } {
    let fromHost = '';
    try {
      const f = req.from.uri;
      if (f.kind === 'sip') fromHost = f.hostname;
    } catch {
      /* validated earlier */
    }
    const trusted = req.source !== undefined && this.cfg.trustedPeers.includes(req.source.address);
    return { fromHost, fromUs: this.serves(fromHost), trusted };
  }

  /** Authentication of our own users (RFC 3261 §22.3), except in-dialog requests, ACK and CANCEL. */
  private async authenticate(req: SipRequest, fromHost: string, fromUs: boolean, trusted: boolean): Promise<TargetDecision | undefined> {
    const inDialog = req.to.tag !== undefined;
    if (!(this.cfg.authenticate && this.deps.verifier && fromUs && !trusted && !inDialog && req.method !== 'ACK' && req.method !== 'CANCEL')) return undefined;
    const realm = this.cfg.realm ?? fromHost.toLowerCase();
    const verdict = await this.deps.verifier.verify(req.header('Proxy-Authorization'), { method: req.method, realm, requestUri: req.uriText, source: req.source?.address });
    if (!verdict.ok) {
      if (verdict.reason === 'malformed') return { kind: 'respond', status: 400, reason: 'Malformed Proxy-Authorization' };
      return {
        kind: 'respond',
        status: 407,
        headers: this.deps.verifier.challenge(realm, { stale: verdict.reason === 'stale' }).map((c) => ['Proxy-Authenticate', c] as [string, string]),
      };
    }
    // Authorisation: the authenticated user must be the From user.
    const fu = req.from.uri;
    const fromUser = fu.kind === 'sip' && fu.user !== undefined ? percentDecode(fu.user) : '';
    if (verdict.username !== fromUser) return { kind: 'respond', status: 403, reason: 'From Does Not Match Authenticated User' };
    return undefined;
  }

  async decide(req: SipRequest): Promise<TargetDecision> {
    const ruri = req.uri;
    const inDialog = req.to.tag !== undefined;
    const { fromHost, fromUs, trusted } = this.origin(req);
    const refused = await this.authenticate(req, fromHost, fromUs, trusted);
    if (refused) return refused;

    // tel: and digit URIs through the prefix table (dial plan hook).
    if (ruri.kind === 'tel') return this.byPrefix(ruri.number.replace(/[-.()]/g, ''));
    if (ruri.kind !== 'sip') return { kind: 'respond', status: 416 };
    const host = ruri.hostname;
    if (this.serves(host) || this.deps.isOwnAddress(ruri)) {
      // An in-dialog request (our Record-Route already removed) whose Request-URI is the peer's
      // Contact — a host of a served domain (e.g. the domain is an IP) but not our own address
      // and port — goes straight there (§12.2.1.1 remote target, §16.5), never through the
      // location service (the Contact "bob-0x…@127.0.0.1:5264" is no AOR: 404 before).
      if (inDialog && !this.deps.isOwnAddress(ruri)) return { kind: 'forward', targets: [{ uri: req.uriText }] };
      if (ruri.user !== undefined && this.deps.location) {
        // user@our-address means the user in one of our domains (a redirect points here so).
        const aors = this.serves(host) ? [canonicalAor(ruri)] : this.cfg.domains.map((d) => canonicalAor(Object.assign(ruri.clone(), { host: d, port: undefined })));
        let bindings: Awaited<ReturnType<LocationStore['lookup']>> = [];
        for (const aor of aors) {
          bindings = await this.deps.location.lookup(aor);
          if (bindings.length > 0) break;
        }
        if (bindings.length > 0) {
          const targets: ProxyTarget[] = bindings.map((b) => {
            const t: ProxyTarget = { uri: b.contact, q: b.q, route: b.path };
            const flow = wsFlow(b.contact, b.received, b.path);
            if (flow) t.destination = flow;
            return t;
          });
          return { kind: 'forward', targets, mode: this.cfg.forking };
        }
      }
      if (ruri.user !== undefined && /^\+?[0-9*#]+$/.test(percentDecode(ruri.user)) && this.cfg.prefixRoutes.length > 0) {
        const d = this.byPrefix(percentDecode(ruri.user));
        if (d.kind === 'forward') return d;
      }
      if (this.cfg.defaultRoute) return { kind: 'forward', targets: [{ uri: this.defaultTarget(req) }] };
      if (inDialog) return { kind: 'respond', status: 404, reason: 'No Route for In-Dialog Request' };
      return { kind: 'respond', status: this.deps.location ? 404 : 480, reason: this.deps.location ? 'User Not Registered' : undefined };
    }
    // A foreign Request-URI: relay only for our users, trusted peers, or in-dialog requests.
    if (!fromUs && !trusted && !inDialog) return { kind: 'respond', status: 403, reason: 'Relaying Denied' };
    const dr = (this.cfg.domainRoutes ?? []).find((r) => r.domain.toLowerCase() === host.toLowerCase()) ?? (this.cfg.domainRoutes ?? []).find((r) => r.domain === '*');
    if (dr && !inDialog) return { kind: 'forward', targets: [{ uri: req.uriText, route: [`<${dr.target.includes(';lr') ? dr.target : `${dr.target};lr`}>`] }] };
    return { kind: 'forward', targets: [{ uri: req.uriText }] };
  }

  private defaultTarget(req: SipRequest): string {
    const d = this.cfg.defaultRoute!;
    const u = req.uri;
    // Keep the user part so the downstream sees who was called.
    if (u.kind === 'sip' && u.user !== undefined && /^sips?:[^@]+$/.test(d)) return d.replace(/^(sips?:)/, `$1${u.user}@`);
    return d;
  }

  private byPrefix(number: string): TargetDecision {
    let best: PrefixRoute | undefined;
    for (const r of this.cfg.prefixRoutes) {
      if (number.startsWith(r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
    }
    if (!best) return { kind: 'respond', status: 404, reason: 'No Route for Number' };
    const n = number.slice(best.strip ?? 0);
    return { kind: 'forward', targets: [{ uri: best.target.replace('{number}', n) }] };
  }
}

/**
 * A WebSocket client's Contact (RFC 7118 §5: "sip:x@y.invalid;transport=ws") cannot be resolved:
 * a request to it goes over the connection the REGISTER came on (`received`, e.g.
 * "ws:127.0.0.1:40312"), as Kamailio does with fix_nated_register(). Not with a Path (the edge
 * proxy owns the flow then).
 */
function wsFlow(contact: string, received: string | undefined, path: string[] | undefined): ProxyTarget['destination'] {
  if (!received || (path && path.length > 0)) return undefined;
  const m = /^(wss?):\[?([^\]]+?)\]?:(\d{1,5})$/.exec(received);
  if (!m) return undefined;
  if (!/;transport=wss?\b/i.test(contact) && !/@[^;>]*\.invalid\b/i.test(contact)) return undefined;
  return { kind: m[1] as 'ws' | 'wss', address: m[2]!, port: Number(m[3]) };
}
