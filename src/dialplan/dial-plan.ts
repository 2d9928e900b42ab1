/**
 * A dial plan of IOS dial-peers (docs/dialplan.md): which peers an outbound call hunts through,
 * in which order, and which peer an inbound call matches.
 *
 * Outbound: every peer whose `destination-pattern` matches the called number, ordered by the
 * `dial-peer hunt` scheme — by default (0) the longest explicit match first, then the lower
 * `preference`, then — where IOS picks at random — the order of the plan, so that the same plan
 * always hunts the same way. Lookups walk an index of the patterns' literal prefixes, so their
 * cost depends on the number's length, not on the plan's size.
 *
 * Inbound (IOS trunk-side order, Cisco doc 211306): `incoming called-number` against the called
 * number, else `answer-address` against the calling number, else `destination-pattern` against
 * the calling number; within a step the longest explicit match; none → undefined (IOS dial-peer 0).
 *
 * @remarks Leaf (`dialplan/`).
 */
import { DialPlanError, type NumberPattern, compareExplicitness, compilePattern, normalizeNumber } from './pattern.js';
import { type TranslationResult, type TranslationRule, TranslationRuleSet } from './translation.js';

export type SessionTransport = 'udp' | 'tcp' | 'tls';

/** One `dial-peer voice TAG voip`. */
export interface DialPeer {
  tag: number;
  destinationPattern?: string;
  /** 0–10, lower first among equally long matches (IOS default 0). */
  preference?: number;
  /** A failure on this peer ends the hunt. */
  huntstop?: boolean;
  /**
   * Where calls go: `ipv4:ADDR[:PORT]`, `ipv6:[ADDR][:PORT]`, `dns:NAME[:PORT]` (RFC 3263),
   * `sip-server` (the plan's `sipServer`), `registrar` (the location service), or a SIP URI.
   */
  sessionTarget?: string;
  sessionTransport?: SessionTransport;
  /** `voice-class sip transport switch udp tcp`: UDP, but TCP for a request above the MTU (RFC 3261 §18.1.1). */
  transportSwitch?: boolean;
  codecs?: string[];
  dtmfRelay?: string[];
  translationProfile?: { incoming?: string; outgoing?: string };
  incomingCalledNumber?: string;
  answerAddress?: string;
  /**
   * `voice-class sip options-keepalive [up-interval S] [down-interval S] [retry N]`: the gateway
   * pings the session target with OPTIONS every `upInterval` s (IOS default 60); after `retry`
   * (default 5) unanswered pings the peer is busied out — skipped by the hunt — and pinged every
   * `downInterval` s (default 30) until it answers again.
   */
  optionsKeepalive?: { upInterval?: number; downInterval?: number; retry?: number };
}

/** The translation profile of `voice translation-profile NAME`: a rule table per number. */
export interface TranslationProfile {
  called?: string;
  calling?: string;
  redirectCalled?: string;
}

export interface DialPlanData {
  dialPeers: DialPeer[];
  translationRules?: Record<string, TranslationRule[]>;
  translationProfiles?: Record<string, TranslationProfile>;
  /** `dial-peer hunt 0`–`7` (default 0). */
  hunt?: number;
  /** Final statuses (and `timeout`, `transport`) that move the hunt to the next peer. */
  huntOn?: Array<number | 'timeout' | 'transport'>;
  /** How long a peer may ring before the next is tried (s); 0: as long as it rings. */
  noAnswerTimeout?: number;
  /** `sip-ua` / `sip-server`: the target of `session target sip-server`. */
  sipServer?: string;
}

/**
 * What hunts to the next peer by default: no answer in time, a transport failure, and the statuses
 * that say this route cannot take the call now (408, 480, 500, 502, 503, 504). 486 Busy Here and
 * every other status end the hunt (IOS: user busy stops hunting unless `voice hunt user-busy`).
 */
export const DEFAULT_HUNT_ON: ReadonlyArray<number | 'timeout' | 'transport'> = Object.freeze([408, 480, 500, 502, 503, 504, 'timeout', 'transport']);

/** The `dial-peer hunt` schemes (IOS command reference): the keys compared, in order. */
const HUNT_SCHEMES: Record<number, ReadonlyArray<'longest' | 'preference' | 'random' | 'lru'>> = {
  0: ['longest', 'preference', 'random'],
  1: ['longest', 'preference', 'lru'],
  2: ['preference', 'longest', 'random'],
  3: ['preference', 'longest', 'lru'],
  4: ['lru', 'longest', 'preference'],
  5: ['lru', 'preference', 'longest'],
  6: ['random'],
  7: ['lru'],
};

interface CompiledPeer {
  peer: DialPeer;
  /** Position in the plan: the deterministic stand-in for IOS's random tie-break. */
  order: number;
  destination?: NumberPattern;
  incomingCalled?: NumberPattern;
  answerAddress?: NumberPattern;
}

/** A dialled character → its slot in an index node (the 19 characters a number may carry). */
const SLOT: Record<string, number> = Object.fromEntries([...'0123456789ABCDEF*#+'].map((c, i) => [c, i]));

/** Peers indexed by the literal prefix of one of their patterns (a trie over the dialled characters). */
class PrefixIndex {
  private readonly root: IndexNode = { next: undefined, here: [] };

  add(prefix: string, peer: CompiledPeer): void {
    let node = this.root;
    for (const ch of prefix) {
      const slot = SLOT[ch];
      if (slot === undefined) break; // cannot happen: a literal is one of those characters
      node.next ??= new Array<IndexNode | undefined>(19).fill(undefined);
      node = node.next[slot] ??= { next: undefined, here: [] };
    }
    node.here.push(peer);
  }

  /** Every peer whose prefix starts `n` (a superset of the matches, tested by the caller). */
  candidates(n: string): CompiledPeer[] {
    const out: CompiledPeer[] = this.root.here.slice();
    let node: IndexNode | undefined = this.root;
    for (let i = 0; i < n.length && node.next !== undefined; i++) {
      const slot = SLOT[n[i]!];
      node = slot === undefined ? undefined : node.next[slot];
      if (node === undefined) break;
      for (const p of node.here) out.push(p);
    }
    return out;
  }
}
interface IndexNode { next: Array<IndexNode | undefined> | undefined; here: CompiledPeer[] }

export interface OutboundMatch {
  peer: DialPeer;
  pattern: string;
}

export class DialPlan {
  readonly peers: readonly DialPeer[];
  readonly hunt: number;
  readonly huntOn: ReadonlySet<number | 'timeout' | 'transport'>;
  readonly noAnswerTimeoutMs: number;
  readonly sipServer: string | undefined;
  private readonly compiled: CompiledPeer[];
  private readonly outboundIndex = new PrefixIndex();
  private readonly calledIndex = new PrefixIndex();
  private readonly answerIndex = new PrefixIndex();
  /** Some peer has an incoming translation profile: only then does routing need the inbound peer. */
  readonly translatesIncoming: boolean;
  private readonly rules = new Map<string, TranslationRuleSet>();
  private readonly profiles: Record<string, TranslationProfile>;
  /** When each peer (by tag) was last chosen, for the least-recent-use schemes. */
  private readonly lastUsed = new Map<number, number>();
  private useCounter = 0;

  constructor(data: DialPlanData, private readonly random: () => number = Math.random) {
    this.peers = data.dialPeers;
    this.hunt = data.hunt ?? 0;
    if (!(this.hunt in HUNT_SCHEMES)) throw new DialPlanError('DIALPLAN_ERR_PLAN', `dial-peer hunt ${this.hunt}: expected 0 to 7`);
    this.huntOn = new Set(data.huntOn ?? DEFAULT_HUNT_ON);
    this.noAnswerTimeoutMs = (data.noAnswerTimeout ?? 0) * 1000;
    this.sipServer = data.sipServer;
    this.profiles = data.translationProfiles ?? {};
    for (const [name, rules] of Object.entries(data.translationRules ?? {})) this.rules.set(name, new TranslationRuleSet(rules));
    const tags = new Set<number>();
    this.compiled = data.dialPeers.map((peer, order) => {
      if (tags.has(peer.tag)) throw new DialPlanError('DIALPLAN_ERR_PLAN', `dial-peer ${peer.tag} is defined twice`);
      tags.add(peer.tag);
      const at = (p: string | undefined, what: string) => {
        if (p === undefined) return undefined;
        try {
          return compilePattern(p);
        } catch (e) {
          throw new DialPlanError('DIALPLAN_ERR_PATTERN', `dial-peer ${peer.tag} ${what}: ${(e as Error).message}`);
        }
      };
      for (const [dir, name] of Object.entries(peer.translationProfile ?? {})) {
        if (name !== undefined && this.profiles[name] === undefined) throw new DialPlanError('DIALPLAN_ERR_PLAN', `dial-peer ${peer.tag} translation-profile ${dir} ${name}: no such profile`);
      }
      return { peer, order, destination: at(peer.destinationPattern, 'destination-pattern'), incomingCalled: at(peer.incomingCalledNumber, 'incoming called-number'), answerAddress: at(peer.answerAddress, 'answer-address') };
    });
    for (const [name, prof] of Object.entries(this.profiles)) {
      for (const table of [prof.called, prof.calling, prof.redirectCalled]) {
        if (table !== undefined && !this.rules.has(table)) throw new DialPlanError('DIALPLAN_ERR_PLAN', `translation-profile ${name}: no voice translation-rule ${table}`);
      }
    }
    for (const c of this.compiled) {
      if (c.destination) this.outboundIndex.add(c.destination.prefix, c);
      if (c.incomingCalled) this.calledIndex.add(c.incomingCalled.prefix, c);
      if (c.answerAddress) this.answerIndex.add(c.answerAddress.prefix, c);
    }
    this.translatesIncoming = data.dialPeers.some((p) => p.translationProfile?.incoming !== undefined);
  }

  /** The peers an outbound call to `number` hunts through, in order (empty: no peer matches → 404). */
  outbound(number: string): OutboundMatch[] {
    const n = normalizeNumber(number);
    const matches = this.outboundIndex.candidates(n).filter((c) => c.destination!.test(n));
    const keys = HUNT_SCHEMES[this.hunt]!;
    const shuffled = keys.includes('random') && this.hunt === 6 ? new Map(matches.map((c) => [c, this.random()])) : undefined;
    matches.sort((a, b) => {
      for (const k of keys) {
        let d = 0;
        if (k === 'longest') d = compareExplicitness(a.destination!.explicitness, b.destination!.explicitness);
        else if (k === 'preference') d = (a.peer.preference ?? 0) - (b.peer.preference ?? 0);
        else if (k === 'lru') d = (this.lastUsed.get(a.peer.tag) ?? 0) - (this.lastUsed.get(b.peer.tag) ?? 0);
        else if (shuffled) d = shuffled.get(a)! - shuffled.get(b)!;
        if (d !== 0) return d;
      }
      return a.order - b.order;
    });
    return matches.map((c) => ({ peer: c.peer, pattern: c.destination!.source }));
  }

  /** A peer was tried (least recent use, `dial-peer hunt` 1, 3, 4, 5, 7). */
  used(peer: DialPeer): void {
    this.lastUsed.set(peer.tag, ++this.useCounter);
  }

  /** The inbound peer of a call (IOS trunk-side order), or undefined (IOS: dial-peer 0). */
  inbound(called: string, calling: string | undefined): DialPeer | undefined {
    const byCalled = this.longest(this.calledIndex.candidates(normalizeNumber(called)), (c) => c.incomingCalled, normalizeNumber(called));
    if (byCalled) return byCalled;
    if (calling === undefined) return undefined;
    const n = normalizeNumber(calling);
    return this.longest(this.answerIndex.candidates(n), (c) => c.answerAddress, n) ?? this.longest(this.outboundIndex.candidates(n), (c) => c.destination, n);
  }

  private longest(cands: readonly CompiledPeer[], which: (c: CompiledPeer) => NumberPattern | undefined, n: string): DialPeer | undefined {
    let best: CompiledPeer | undefined;
    for (const c of cands) {
      const p = which(c);
      if (!p?.test(n)) continue;
      if (!best || compareExplicitness(p.explicitness, which(best)!.explicitness) < 0 || (compareExplicitness(p.explicitness, which(best)!.explicitness) === 0 && c.order < best.order)) best = c;
    }
    return best?.peer;
  }

  /** The number after the peer's translation profile (`incoming` or `outgoing`) for `which` number. */
  translate(peer: DialPeer, direction: 'incoming' | 'outgoing', which: keyof TranslationProfile, number: string): TranslationResult {
    const name = peer.translationProfile?.[direction];
    const table = name !== undefined ? this.profiles[name]?.[which] : undefined;
    const rules = table !== undefined ? this.rules.get(table) : undefined;
    return rules ? rules.apply(number) : { kind: 'translated', number, rule: undefined };
  }

  /** Does this final response (or `timeout` / `transport`) move the hunt on from `peer`? */
  huntsOn(peer: DialPeer, cause: number | 'timeout' | 'transport'): boolean {
    return !peer.huntstop && this.huntOn.has(cause);
  }
}

/** Where a peer sends a call: a SIP URI to forward to, or the location service's bindings of the number. */
export type PeerTarget = { kind: 'uri'; uri: string } | { kind: 'registrar' };

/**
 * The Request-URI a call to `number` gets on `peer` (its `session target` and `session
 * transport`): `ipv4:192.0.2.1:5060` → `sip:NUMBER@192.0.2.1:5060`, with `;transport=tcp` or
 * `tls` as configured; `dns:gw.example.com` → `sip:NUMBER@gw.example.com` (RFC 3263 decides the
 * rest); `sip-server` → the plan's `sipServer`; `registrar` → the location service; a SIP URI as
 * written, `{number}` replaced.
 */
export function peerTarget(plan: DialPlan, peer: DialPeer, number: string): PeerTarget {
  let target = peer.sessionTarget;
  if (target === undefined) throw new DialPlanError('DIALPLAN_ERR_PLAN', `dial-peer ${peer.tag} has no session target`);
  if (target === 'registrar') return { kind: 'registrar' };
  if (target === 'sip-server') {
    if (plan.sipServer === undefined) throw new DialPlanError('DIALPLAN_ERR_PLAN', `dial-peer ${peer.tag}: session target sip-server, but the plan has no sipServer`);
    target = plan.sipServer;
  }
  const transport = peer.sessionTransport ?? 'udp';
  const param = transport === 'udp' ? '' : `;transport=${transport}`;
  const m = /^(ipv4|ipv6|dns):(.+)$/i.exec(target);
  if (m) return { kind: 'uri', uri: `sip:${number}@${m[2]}${param}` };
  if (/^sips?:/i.test(target)) return { kind: 'uri', uri: target.replaceAll('{number}', number) };
  throw new DialPlanError('DIALPLAN_ERR_PLAN', `dial-peer ${peer.tag}: session target '${target}' is not ipv4:, ipv6:, dns:, sip-server, registrar or a SIP URI`);
}
