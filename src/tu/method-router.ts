/**
 * Which transaction user takes a request (RFC 3261 §8.2, §16): a request within a dialog goes
 * to the TU that holds the dialog; any other by the first rule of a table that matches it. The
 * table is data (docs/architecture.md shows the server's), so where a request goes can be read
 * in one place.
 *
 * @remarks Layer 4 (`tu/`). Used by the {@link SipElement}; the rules come from `app/`.
 */
import type { SipRequest } from '../sip/index.js';

/** One line of the routing table; a field left out matches everything. */
export interface RouteRule {
  /** The name of the TU that takes a request this rule matches. */
  readonly tu: string;
  /** Methods (upper case) this rule is for. */
  readonly methods?: readonly string[];
  /**
   * `server`: the Request-URI names this server itself — no user part, one of our addresses or
   * domains, and no Route to another hop (a proxy's own OPTIONS ping, §11). `user`: it names
   * someone (a user part, or a tel: URI). `no-user`: a SIP URI with no user part, whatever host.
   */
  readonly requestUri?: 'server' | 'user' | 'no-user';
  /** Event packages (the Event header's, RFC 6665 §8.2.1) this rule is for (SUBSCRIBE, PUBLISH). */
  readonly events?: readonly string[];
  /** Request-URI hosts (lower case) this rule is for: the domains a role serves itself. */
  readonly domains?: readonly string[];
}

/** What the router asks about TUs and addresses; given by the element. */
export interface RouterContext {
  /** Is this request addressed to this server (see {@link RouteRule.requestUri})? */
  addressedToServer(req: SipRequest): boolean;
  /** The TU holding the dialog a To-tagged request names, if one does. */
  dialogOwner(req: SipRequest): string | undefined;
}

export class MethodRouter {
  constructor(readonly rules: readonly RouteRule[]) {}

  /** The TU for `req`, or undefined when no rule matches (the element answers 501/405). */
  select(req: SipRequest, ctx: RouterContext): string | undefined {
    if (req.to.tag !== undefined) {
      const owner = ctx.dialogOwner(req);
      if (owner !== undefined) return owner;
    }
    for (const rule of this.rules) if (matches(rule, req, ctx)) return rule.tu;
    return undefined;
  }
}

function matches(rule: RouteRule, req: SipRequest, ctx: RouterContext): boolean {
  // An ACK or CANCEL goes where its INVITE went: method lists name the INVITE only.
  const method = req.method === 'ACK' || req.method === 'CANCEL' ? 'INVITE' : req.method;
  if (rule.methods !== undefined && !rule.methods.includes(method)) return false;
  if (rule.events !== undefined && !rule.events.includes((req.header('Event') ?? '').split(';')[0]!.trim().toLowerCase())) return false;
  if (rule.domains !== undefined) {
    const u = req.uri;
    if (u.kind !== 'sip' || !rule.domains.includes(u.hostname.toLowerCase())) return false;
  }
  switch (rule.requestUri) {
    case undefined:
      return true;
    case 'server':
      return ctx.addressedToServer(req);
    case 'no-user': {
      const u = req.uri;
      return u.kind === 'sip' && u.user === undefined;
    }
    case 'user': {
      const u = req.uri;
      return u.kind === 'tel' || (u.kind === 'sip' && u.user !== undefined);
    }
  }
}
