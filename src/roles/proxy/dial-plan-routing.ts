/**
 * The proxy's routing of telephone numbers by the dial plan (docs/dialplan.md): the inbound
 * peer's translation, then the outbound peers in hunt order, each with its own translation,
 * target and transport; a number no peer matches gets `404` (IOS cause 1, unallocated number,
 * RFC 3398); the hunt moves on for the failures the plan hunts on.
 *
 * @remarks Role (`roles/proxy`).
 */
import { type DialPeer, type DialPlan, type DialPlanData, peerTarget } from '../../dialplan/index.js';
import { type SipResponse } from '../../sip/index.js';
import { syntheticCause } from '../../transaction/index.js';
import type { ProxyTarget, TargetDecision } from '../../tu/index.js';

/** A Request-URI user that is a telephone number: digits, `*`, `#`, an optional leading `+`, visual separators. */
export function telephoneNumber(user: string): string | undefined {
  const n = user.replace(/[-.()]/g, '');
  return /^\+?[0-9*#]+$/.test(n) && /[0-9]/.test(n) ? n : undefined;
}

export interface DialPlanRouting {
  plan: DialPlan;
  /** The bindings of a number in the location service (`session target registrar`). */
  registered(number: string): Promise<ProxyTarget[]>;
  log(line: string): void;
}

/** Where a call to `number` from `calling` goes by the dial plan. */
export async function routeByDialPlan(r: DialPlanRouting, number: string, calling: string | undefined, callId: string): Promise<TargetDecision> {
  const plan = r.plan;
  let called = number;
  // The inbound peer's incoming translation comes before outbound matching (Cisco doc 211306).
  const inbound = plan.translatesIncoming ? plan.inbound(number, calling) : undefined;
  if (inbound?.translationProfile?.incoming) {
    const t = plan.translate(inbound, 'incoming', 'called', called);
    if (t.kind === 'rejected') {
      r.log(`dial plan: ${callId}: ${number} rejected by rule ${t.rule} of inbound dial-peer ${inbound.tag}: 403`);
      return { kind: 'respond', status: 403, reason: 'Rejected by Translation Rule' };
    }
    called = t.number;
  }
  const matches = plan.outbound(called);
  if (matches.length === 0) {
    r.log(`dial plan: ${callId}: no dial-peer matches ${called}: 404`);
    return { kind: 'respond', status: 404, reason: 'No Dial-Peer Matches' };
  }
  const groups: ProxyTarget[][] = [];
  const peerOf = new Map<ProxyTarget, DialPeer>();
  const groupOf = new Map<ProxyTarget, number>();
  const tried: string[] = [];
  for (const { peer } of matches) {
    const t = plan.translate(peer, 'outgoing', 'called', called);
    if (t.kind === 'rejected') {
      tried.push(`${peer.tag} (rejected by rule ${t.rule})`);
      continue;
    }
    let targets: ProxyTarget[];
    try {
      const target = peerTarget(plan, peer, t.number);
      targets = target.kind === 'uri' ? [{ uri: target.uri }] : await r.registered(t.number);
    } catch (e) {
      tried.push(`${peer.tag} (${(e as Error).message})`);
      continue;
    }
    if (targets.length === 0) {
      tried.push(`${peer.tag} (not registered)`);
      continue;
    }
    for (const x of targets) {
      peerOf.set(x, peer);
      groupOf.set(x, groups.length);
    }
    groups.push(targets);
    tried.push(`${peer.tag}→${targets.map((x) => x.uri).join(',')}`);
    if (peer.huntstop) break; // nothing after a huntstop peer is ever tried
  }
  r.log(`dial plan: ${callId}: ${number}${called !== number ? ` (translated ${called})` : ''}: hunt ${tried.join(', ')}`);
  if (groups.length === 0) return { kind: 'respond', status: 404, reason: 'No Usable Dial-Peer' };
  return {
    kind: 'forward',
    targets: groups.flat(),
    hunt: {
      groups,
      noAnswerMs: plan.noAnswerTimeoutMs,
      next: (target, failure) => {
        const peer = peerOf.get(target);
        if (peer === undefined) return false;
        plan.used(peer);
        const cause = failure === 'no-answer' ? 'timeout' : huntCause(failure);
        const go = plan.huntsOn(peer, cause);
        const lastPeer = groupOf.get(target) === groups.length - 1;
        const why = !go ? (peer.huntstop ? 'huntstop: the hunt ends' : 'not a cause to hunt on: the hunt ends') : lastPeer ? 'no dial-peer left' : 'next dial-peer';
        r.log(`dial plan: ${callId}: dial-peer ${peer.tag} failed (${cause}), ${why}`);
        return go;
      },
    },
  };
}

/** The hunt cause of a failure: its status, or `timeout` / `transport` for the layer's synthetic ones. */
export function huntCause(res: SipResponse): number | 'timeout' | 'transport' {
  const c = syntheticCause(res);
  return c === 'timeout' ? 'timeout' : c === 'transport-error' ? 'transport' : res.status;
}

/**
 * The round-1 `proxy.routes` prefix table as a dial plan (migration: docs/dialplan.md): each
 * prefix is a pattern that matches longer numbers (IOS semantics without `$`), `strip` a
 * translation rule, `{number}` in the target the translated number.
 */
export function dialPlanFromPrefixRoutes(routes: ReadonlyArray<{ prefix: string; target: string; strip?: number }>): DialPlanData {
  const data: DialPlanData = { dialPeers: [], translationRules: {}, translationProfiles: {} };
  routes.forEach((r, i) => {
    const tag = i + 1;
    const escaped = r.prefix.replace(/[*#+]/g, (c) => `\\${c}`);
    const peer: DialPeer = { tag, destinationPattern: escaped === '' ? 'T' : escaped, sessionTarget: r.target };
    if (r.strip) {
      data.translationRules![`strip${tag}`] = [{ precedence: 1, match: `/^${'.'.repeat(r.strip)}\\(.*\\)/`, replace: '/\\1/' }];
      data.translationProfiles![`strip${tag}`] = { called: `strip${tag}` };
      peer.translationProfile = { outgoing: `strip${tag}` };
    }
    data.dialPeers.push(peer);
  });
  return data;
}
