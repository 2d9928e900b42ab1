/**
 * Where the B2BUA's leg B goes (`b2bua.target`): a fixed URI (`{user}` is leg A's Request-URI
 * user), `location` — the called user's bindings in the location service, highest q first — or
 * `dialplan` — the dial plan's peers in hunt order (docs/dialplan.md), each with its translation,
 * target and transport. Several targets are tried one after the other, moving on only for the
 * failures the route hunts on.
 *
 * @remarks Role (`roles/b2bua`).
 */
import { DEFAULT_HUNT_ON, type DialPlan } from '../../dialplan/index.js';
import type { SipRequest, SipResponse } from '../../sip/index.js';
import { percentDecode } from '../../sip/index.js';
import type { LocationStore } from '../../store/index.js';
import { huntCause, routeByDialPlan, telephoneNumber } from '../proxy/index.js';
import { bindingFlow } from '../registrar/index.js';
import type { Target } from '../../tu/index.js';

export interface LegBTarget {
  uri: string;
  /** The flow of a NATed (or outbound) binding: leg B goes there, the Request-URI stays the Contact. */
  destination?: Target;
  /** After this target failed with `failure`, may the next one be tried? */
  next(failure: SipResponse): boolean;
}

export type LegBRoute = { kind: 'respond'; status: number; reason?: string } | { kind: 'targets'; targets: LegBTarget[] };

export interface LegBRouting {
  /** `b2bua.target`: a SIP URI (with `{user}`), `location` or `dialplan`. */
  target: string;
  domains: readonly string[];
  location?: LocationStore;
  /** The dial plan in force (it may be reloaded). */
  dialPlan?: () => DialPlan | undefined;
  log(line: string): void;
}

/** The called user of leg A: the Request-URI user (a `tel:` URI's number). */
export function calledUser(req: SipRequest): string {
  const u = req.uri;
  return u.kind === 'sip' ? (u.user !== undefined ? percentDecode(u.user) : '') : u.kind === 'tel' ? u.number : '';
}

export async function routeLegB(r: LegBRouting, req: SipRequest): Promise<LegBRoute> {
  const user = calledUser(req);
  if (r.target === 'location') {
    if (!r.location) return { kind: 'respond', status: 480, reason: 'No Location Service' };
    for (const d of r.domains) {
      const bindings = await r.location.lookup(`sip:${user}@${d.toLowerCase()}`);
      if (bindings.length === 0) continue;
      const sorted = [...bindings].sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
      const hunts = new Set(DEFAULT_HUNT_ON);
      return { kind: 'targets', targets: sorted.map((b) => ({ uri: b.contact, destination: bindingFlow(b), next: (f) => hunts.has(huntCause(f)) })) };
    }
    r.log(`b2bua: ${req.callId}: ${user} has no binding in the location service: 404 to leg A`);
    return { kind: 'respond', status: 404, reason: 'User Not Registered' };
  }
  if (r.target === 'dialplan') {
    const plan = r.dialPlan?.();
    const number = telephoneNumber(user);
    if (!plan || number === undefined) {
      r.log(`b2bua: ${req.callId}: ${plan ? `${user} is not a telephone number` : 'no dial plan'}: 404 to leg A`);
      return { kind: 'respond', status: 404, reason: plan ? 'Not a Telephone Number' : 'No Dial Plan' };
    }
    const fu = req.from.uri;
    const calling = fu.kind === 'sip' && fu.user !== undefined ? telephoneNumber(percentDecode(fu.user)) : undefined;
    const d = await routeByDialPlan({ plan, registered: (n) => registered(r, n), log: r.log }, number, calling, req.callId);
    if (d.kind === 'respond') return d;
    const hunt = d.hunt!;
    return { kind: 'targets', targets: hunt.groups.flat().map((t) => ({ uri: t.uri, next: (f) => hunt.next(t, f) })) };
  }
  return { kind: 'targets', targets: [{ uri: r.target.replaceAll('{user}', user), next: () => false }] };
}

async function registered(r: LegBRouting, number: string): Promise<Array<{ uri: string }>> {
  if (!r.location) return [];
  for (const d of r.domains) {
    const bindings = await r.location.lookup(`sip:${number}@${d.toLowerCase()}`);
    if (bindings.length > 0) return bindings.map((b) => ({ uri: b.contact }));
  }
  return [];
}
