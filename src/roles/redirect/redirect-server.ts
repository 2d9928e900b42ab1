/**
 * The redirect server (RFC 3261 §8.3, §21.3): answers requests with 3xx and a Contact set —
 * 302 for one location, 300 with q-values for several ("find me / follow me"), 301 / 380 from
 * static rules — taken from static rules or from the location service; 404 when the user is
 * unknown, 480 when known but not registered. It never forwards.
 *
 * @remarks Role (`roles/redirect`). Composes `store/`.
 */
import { type HeaderList, type SipRequest, percentDecode } from '../../sip/index.js';
import type { LocationStore, UserStore } from '../../store/index.js';
import { canonicalAor } from '../registrar/index.js';

export interface RedirectRule {
  /** Exact Request-URI user, or a digit prefix, or a domain (any that are set must match). */
  user?: string;
  prefix?: string;
  domain?: string;
  /** Contacts; `{user}` is replaced by the Request-URI user. */
  contacts: Array<string | { uri: string; q?: number }>;
  /** 300/301/302/380; default 302 for one contact, 300 for several. */
  status?: 300 | 301 | 302 | 305 | 380;
  /** Contact lifetime advertised with `expires` (seconds). */
  expires?: number;
}

export interface RedirectConfig {
  domains: string[];
  rules: RedirectRule[];
}

export class RedirectServer {
  constructor(
    private readonly cfg: RedirectConfig,
    private readonly deps: { location?: LocationStore; users?: UserStore; realm?: (domain: string) => string },
  ) {}

  /** Decides the 3xx (or 404/480) for a request. */
  async decide(req: SipRequest): Promise<{ status: number; reason?: string; headers: HeaderList }> {
    const uri = req.uri;
    if (uri.kind !== 'sip') return { status: 416, headers: [] };
    const user = uri.user !== undefined ? percentDecode(uri.user) : '';
    const host = uri.hostname.toLowerCase();
    for (const r of this.cfg.rules) {
      if (r.user !== undefined && r.user !== user) continue;
      if (r.prefix !== undefined && !user.startsWith(r.prefix)) continue;
      if (r.domain !== undefined && r.domain.toLowerCase() !== host) continue;
      const contacts = r.contacts.map((c) => (typeof c === 'string' ? { uri: c, q: undefined } : c));
      const status = r.status ?? (contacts.length > 1 ? 300 : 302);
      return { status, headers: contactHeaders(contacts.map((c) => ({ uri: c.uri.replace('{user}', uri.user ?? ''), q: c.q, expires: r.expires }))) };
    }
    if (this.deps.location && uri.user !== undefined) {
      const bindings = await this.deps.location.lookup(canonicalAor(uri));
      const now = Date.now();
      if (bindings.length > 0) {
        const contacts = bindings.map((b) => ({ uri: b.contact, q: b.q, expires: Math.max(0, Math.round((b.expires - now) / 1000)) }));
        return { status: contacts.length > 1 ? 300 : 302, headers: contactHeaders(contacts) };
      }
      if (this.deps.users) {
        const realm = this.deps.realm ? this.deps.realm(host) : host;
        const known = (await this.deps.users.getHa1(user, realm, 'MD5')) !== undefined;
        return known ? { status: 480, reason: 'User Not Registered', headers: [] } : { status: 404, headers: [] };
      }
      return { status: 480, headers: [] };
    }
    return { status: 404, headers: [] };
  }
}

function contactHeaders(contacts: Array<{ uri: string; q?: number; expires?: number }>): HeaderList {
  return contacts.map((c) => ['Contact', `<${c.uri}>${c.q !== undefined ? `;q=${c.q}` : ''}${c.expires !== undefined ? `;expires=${c.expires}` : ''}`] as [string, string]);
}
