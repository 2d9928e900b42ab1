/**
 * The registrar (RFC 3261 §10.3; RFC 3327 Path; RFC 5626 §6 instance-id/reg-id): processes
 * REGISTER requests against the location service, with digest authentication (§22).
 *
 * @remarks Role (`roles/registrar`). Composes `store/` (location + users) and `auth/`;
 * answers through a `respond` callback so it can sit behind any UAS core.
 */
import type { DigestVerifier } from '../../auth/index.js';
import { type HeaderList, type NameAddr, type SipRequest, SipParseError, type SipUri, percentDecode } from '../../sip/index.js';
import type { Binding, LocationStore } from '../../store/index.js';
import { natReason } from '../../tu/index.js';

export interface RegistrarConfig {
  /** Domains served (host part of the Request-URI / To). */
  domains: string[];
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  /** Most bindings per AOR; more → 403. */
  maxContacts: number;
  /** Challenge REGISTER with digest (401). */
  authenticate: boolean;
  /** Realm per domain (default: the domain itself). */
  realm?: (domain: string) => string;
  /** Wrong credentials this many times for one Call-ID → 403 (instead of a new 401). */
  maxAuthFailures: number;
  /** A user store is authoritative: an unknown user gets 404. */
  authoritativeUsers: boolean;
}

export const DEFAULT_REGISTRAR_CONFIG: RegistrarConfig = {
  domains: [],
  minExpires: 60,
  maxExpires: 7200,
  defaultExpires: 3600,
  maxContacts: 10,
  authenticate: true,
  maxAuthFailures: 3,
  authoritativeUsers: false,
};

export type Respond = (status: number, opts?: { reason?: string; headers?: HeaderList }) => void;

export interface RegistrarDeps {
  location: LocationStore;
  verifier?: DigestVerifier;
  /** Does this user exist in the realm? (for 404 when the user store is authoritative) */
  userExists?: (user: string, realm: string) => Promise<boolean>;
  now?: () => number;
  /** Is this URI the server's own address (a REGISTER sent to sip:IP:PORT)? */
  isOwnAddress?: (uri: SipUri) => boolean;
}

/** Canonical AOR (§10.3 step 5): scheme, user (unescaped), lower-cased host, no port or parameters. */
export function canonicalAor(uri: SipUri): string {
  const user = uri.user !== undefined ? percentDecode(uri.user) : undefined;
  // An IPv6 reference keeps its brackets (RFC 3261 §25.1 `IPv6reference`): `sip:dave@[::1]`.
  const host = uri.hostname.includes(':') ? `[${uri.hostname.toLowerCase()}]` : uri.hostname.toLowerCase();
  return `${uri.scheme}:${user !== undefined ? `${user}@` : ''}${host}`;
}

export class Registrar {
  readonly config: RegistrarConfig;
  private readonly failures = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly deps: RegistrarDeps, config: Partial<RegistrarConfig> = {}) {
    this.config = { ...DEFAULT_REGISTRAR_CONFIG, ...config };
    this.now = deps.now ?? Date.now;
  }

  /** Is `host` one of our domains? */
  serves(host: string): boolean {
    const h = host.toLowerCase().replace(/^\[|\]$/g, '');
    return this.config.domains.some((d) => d.toLowerCase() === h);
  }

  /**
   * The challenge for a REGISTER that carries no credentials at all, given statelessly (RFC 3261
   * §8.2.7, §26.1.5): steps 1 and 5 pass and authentication is on, so {@link handle} would
   * answer exactly this 401 (the nonce is stateless too, RFC 7616 §3.3). `undefined` for
   * anything else, which goes through a server transaction.
   */
  statelessChallenge(req: SipRequest): { status: number; headers: HeaderList } | undefined {
    const verifier = this.deps.verifier;
    if (req.method !== 'REGISTER' || !this.config.authenticate || verifier === undefined) return undefined;
    if (req.hasHeader('Authorization')) return undefined;
    try {
      const ruri = req.uri;
      if (ruri.kind !== 'sip' || (!this.serves(ruri.hostname) && !this.deps.isOwnAddress?.(ruri))) return undefined;
      const to = req.to.uri;
      if (to.kind !== 'sip' || !this.serves(to.hostname)) return undefined;
      const domain = to.hostname.toLowerCase();
      const realm = this.config.realm ? this.config.realm(domain) : domain;
      return { status: 401, headers: verifier.challenge(realm).map((c) => ['WWW-Authenticate', c] as [string, string]) };
    } catch {
      return undefined; // malformed: the stateful path names the problem in a 400
    }
  }

  /** Processes one REGISTER (RFC 3261 §10.3 steps 1–8). */
  async handle(req: SipRequest, respond: Respond): Promise<void> {
    // Step 1: the Request-URI names a domain we serve (else a proxy would forward it).
    const ruri = req.uri;
    if (ruri.kind !== 'sip') return respond(416);
    if (!this.serves(ruri.hostname) && !this.deps.isOwnAddress?.(ruri)) return respond(403, { reason: `Domain ${ruri.hostname} Not Served Here` });
    // Step 5 (early, to know the AOR): To must be a SIP or SIPS URI of our domain.
    let to: SipUri;
    try {
      const t = req.to.uri;
      if (t.kind !== 'sip') return respond(400, { reason: 'To Is Not a SIP URI' });
      to = t;
    } catch (e) {
      return respond(400, { reason: (e as SipParseError).message ?? 'Malformed To' });
    }
    if (!this.serves(to.hostname)) return respond(403, { reason: `Domain ${to.hostname} Not Served Here` });
    const aor = canonicalAor(to);
    const domain = to.hostname.toLowerCase();
    const realm = this.config.realm ? this.config.realm(domain) : domain;

    // Steps 3–4: authenticate and authorise (§22.4): the authenticated user must own the AOR.
    if (this.config.authenticate && this.deps.verifier) {
      const verdict = await this.deps.verifier.verify(req.header('Authorization'), { method: 'REGISTER', realm, requestUri: req.uriText, source: req.source?.address });
      if (!verdict.ok) {
        const failKey = `${req.callId}|${to.user ?? ''}`;
        if (verdict.reason === 'unknown-user' && this.config.authoritativeUsers) return respond(404, { reason: 'User Not Found' });
        if (verdict.reason === 'bad-response' || verdict.reason === 'unknown-user') {
          const n = (this.failures.get(failKey) ?? 0) + 1;
          this.remember(failKey, n);
          if (n >= this.config.maxAuthFailures) return respond(403, { reason: 'Wrong Credentials' });
        }
        if (verdict.reason === 'malformed') return respond(400, { reason: `Malformed Authorization: ${verdict.detail}`.slice(0, 100) });
        const challenges = this.deps.verifier.challenge(realm, { stale: verdict.reason === 'stale' });
        return respond(401, { headers: challenges.map((c) => ['WWW-Authenticate', c] as [string, string]) });
      }
      this.failures.delete(`${req.callId}|${to.user ?? ''}`);
      const owner = to.user !== undefined ? percentDecode(to.user) : '';
      if (verdict.username !== owner) return respond(403, { reason: 'Authenticated User Does Not Own This AOR' });
    } else if (this.config.authoritativeUsers && this.deps.userExists && !(await this.deps.userExists(to.user ?? '', realm))) {
      return respond(404, { reason: 'User Not Found' });
    }

    // Step 6: Contact and Expires.
    let contacts: NameAddr[];
    try {
      contacts = req.contact;
      for (const c of contacts) if (!c.star) c.uri;
    } catch (e) {
      return respond(400, { reason: `Malformed Contact: ${(e as Error).message}`.slice(0, 100) });
    }
    const expiresHeader = req.header('Expires');
    let defaultExpires = this.config.defaultExpires;
    if (expiresHeader !== undefined) {
      const t = expiresHeader.trim();
      if (!/^\d{1,10}$/.test(t)) return respond(400, { reason: 'Expires Is Not a Number' });
      defaultExpires = Math.min(Number(t), 0xffffffff);
    }
    const now = this.now();
    const star = contacts.some((c) => c.star);
    if (star) {
      // §10.3 step 6: "*" only alone and with Expires: 0.
      if (contacts.length !== 1 || expiresHeader === undefined || defaultExpires !== 0) {
        return respond(400, { reason: 'Contact * Needs Expires 0 and No Other Contact' });
      }
    }
    const changes: Array<{ contact: string; expires: number; q: number; path?: string[]; instanceId?: string; regId?: number; received?: string; userAgent?: string; params?: string }> = [];
    const path = req.headerValues('Path');
    // Where the REGISTER came from; `;nat` when the phone is behind a NAT (Kamailio's
    // fix_nated_register): requests to the binding then go to that address, not the Contact.
    const nat = path.length === 0 && natReason(req) !== undefined;
    const received = req.source ? `${req.source.transport}:${req.source.address.includes(':') ? `[${req.source.address}]` : req.source.address}:${req.source.port}${nat ? ';nat' : ''}` : undefined;
    const userAgent = req.header('User-Agent')?.slice(0, 200);
    if (!star) {
      for (const c of contacts) {
        let exp = defaultExpires;
        const pe = c.param('expires');
        if (pe !== undefined) {
          if (pe === null || !/^\d{1,10}$/.test(pe)) return respond(400, { reason: 'Contact Expires Is Not a Number' });
          exp = Math.min(Number(pe), 0xffffffff);
        }
        // §10.3 step 6: shorter than the minimum (and not a removal) → 423 with Min-Expires.
        if (exp > 0 && exp < this.config.minExpires) {
          return respond(423, { headers: [['Min-Expires', String(this.config.minExpires)]] });
        }
        exp = Math.min(exp, this.config.maxExpires);
        const qp = c.param('q');
        let q = 1;
        if (qp !== undefined && qp !== null) {
          if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(qp)) return respond(400, { reason: 'Contact q-value Is Not 0-1' });
          q = Number(qp);
        }
        const inst = c.param('+sip.instance');
        const regIdRaw = c.param('reg-id');
        const params = [...c.params].filter(([k]) => k !== 'expires' && k !== 'q').map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`)).join('');
        changes.push({
          contact: c.uriText,
          expires: exp,
          q,
          path: path.length > 0 ? path : undefined,
          instanceId: inst ? inst.replace(/^"|"$/g, '') : undefined,
          regId: regIdRaw && /^\d+$/.test(regIdRaw) ? Number(regIdRaw) : undefined,
          received,
          userAgent,
          params: params || undefined,
        });
      }
    }
    // Step 7: apply atomically, refusing an older CSeq for the same Call-ID.
    let bindings: Binding[];
    if (contacts.length === 0) {
      bindings = await this.deps.location.lookup(aor); // a query (§10.2.3)
    } else {
      const r = await this.deps.location.apply(aor, {
        callId: req.callId,
        cseq: req.cseq.seq,
        now,
        changes,
        removeAll: star,
        maxContacts: this.config.maxContacts,
      });
      if (!r.ok) {
        if (r.reason === 'too-many-contacts') return respond(403, { reason: `Too Many Contacts (limit ${this.config.maxContacts})` });
        return respond(500, { reason: 'CSeq Out of Order' });
      }
      bindings = r.bindings;
    }
    // Step 8: 200 listing every current binding with its remaining expiry.
    const headers: HeaderList = [];
    for (const b of bindings) {
      const left = Math.max(0, Math.round((b.expires - now) / 1000));
      if (left <= 0) continue;
      headers.push(['Contact', `<${b.contact}>;expires=${left}${b.q !== 1 ? `;q=${b.q}` : ''}${b.instanceId ? `;+sip.instance="${b.instanceId}"` : ''}${b.regId !== undefined ? `;reg-id=${b.regId}` : ''}`]);
    }
    // RFC 3327 §5.3: echo the Path vector when the UA supports it.
    if (path.length > 0 && req.optionTags('Supported').includes('path')) for (const p of path) headers.push(['Path', p]);
    headers.push(['Date', new Date(now).toUTCString()]);
    respond(200, { headers });
  }

  private remember(key: string, n: number): void {
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
    this.failures.set(key, n);
  }
}
