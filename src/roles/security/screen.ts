/**
 * Screening before any transaction (the stateless band of the element): what a SIP server on
 * the internet needs against the traffic it gets all day — known scanners, floods from one
 * address (Kamailio's pike) and password guessing (Kamailio's / fail2ban's ban on failed
 * authentications). Each drops what it catches without an answer by default: an answer tells
 * a scanner there is a server, and costs more than the request.
 *
 * @remarks Roles layer (`roles/`). Sources are IP addresses; a ban is on the source, never on
 * the account, so a user behind the same address as an attacker is locked out only for
 * `banTime`, and from any other address not at all (RFC 3261 §26.1.5, §26.3.2.4).
 */
import net from 'node:net';
import type { SipRequest } from '../../sip/index.js';

/** Scanner User-Agents (substring, case-insensitive): SIPVicious and its kin. */
export const DEFAULT_SCANNER_AGENTS: readonly string[] = [
  'friendly-scanner', 'sipvicious', 'sipcli', 'sip-scan', 'sipscan', 'vaxsipuseragent', 'iwar', 'sundayddr', 'sivus', 'smap', 'pplsip', 'friendly-request',
];

export interface ScreenConfig {
  /** Addresses and networks never screened ("127.0.0.0/8", "::1", "192.0.2.10"). */
  allow: string[];
  scanners: { enabled: boolean; userAgents: string[] };
  /** Pike-like: more than `requests` from one address within `window` s blocks it for `banTime` s. */
  rateLimit: { enabled: boolean; requests: number; window: number; banTime: number };
  /**
   * Failed authentications (wrong password, unknown user) scored per source address and per
   * user, each halving every `decay` s. A source whose score reaches `sourceFailures`, or that
   * fails for a user whose score reached `userFailures` (a guess spread over many addresses),
   * is banned for `banTime` s.
   */
  authBan: { enabled: boolean; sourceFailures: number; userFailures: number; decay: number; banTime: number };
  /** What a banned or rate-limited source gets: nothing (`drop`), or a stateless 403 / 503. */
  action: 'drop' | 'reject';
}

/** What to do with a request. */
export type ScreenVerdict = { kind: 'pass' } | { kind: 'drop'; why: string } | { kind: 'reject'; status: number; reason: string; why: string };

const PASS: ScreenVerdict = { kind: 'pass' };

/** A scanning source is logged again after this long. */
const SCANNER_LOG_INTERVAL_MS = 3_600_000;

/** Most addresses tracked at once per table; the oldest is forgotten beyond it (bounded memory). */
const MAX_TRACKED = 100_000;

/** A score that halves every `halfLifeMs`. */
interface Score {
  value: number;
  at: number;
}

function decayed(s: Score | undefined, now: number, halfLifeMs: number): number {
  if (s === undefined) return 0;
  return s.value * Math.pow(2, -(now - s.at) / halfLifeMs);
}

/** A Map that forgets its oldest entry beyond MAX_TRACKED. */
function remember<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > MAX_TRACKED) m.delete(m.keys().next().value as K);
}

export class Screen {
  private readonly allow = new net.BlockList();
  private readonly agents: string[];
  /** Source → until when it is banned, and why (for the log when it ends). */
  private readonly banned = new Map<string, { until: number; why: string; status: number; reason: string }>();
  /** Rate limit: source → [window start, count in this window, count in the previous one]. */
  private readonly windows = new Map<string, [number, number, number]>();
  private readonly sourceScores = new Map<string, Score>();
  private readonly userScores = new Map<string, Score>();
  /** Scanning source → when its drop was last logged. */
  private readonly scannersLogged = new Map<string, number>();
  /** Counters for operators. */
  readonly stats = { scanners: 0, rateLimited: 0, banned: 0, bans: 0 };

  constructor(
    private readonly cfg: ScreenConfig,
    private readonly log: (line: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    for (const a of cfg.allow) addAllowed(this.allow, a);
    this.agents = cfg.scanners.userAgents.map((a) => a.toLowerCase());
  }

  /** Never screened: the allow-list (and the proxy's trusted peers, which the server adds). */
  isAllowed(address: string): boolean {
    const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
    return net.isIP(address) !== 0 && this.allow.check(address, type);
  }

  /** The verdict for a request, before any transaction exists. */
  check(req: SipRequest): ScreenVerdict {
    const source = req.source?.address;
    if (source === undefined || this.isAllowed(source)) return PASS;
    const now = this.now();
    const ban = this.banned.get(source);
    if (ban !== undefined) {
      if (now < ban.until) {
        this.stats.banned++;
        return this.refuse(`banned (${ban.why})`, ban.status, ban.reason);
      }
      this.banned.delete(source);
      this.log(`security: ban of ${source} ended (${ban.why})`);
    }
    if (this.cfg.scanners.enabled && this.agents.length > 0) {
      const ua = req.header('User-Agent')?.toLowerCase();
      if (ua !== undefined && this.agents.some((a) => ua.includes(a))) {
        this.stats.scanners++;
        const why = `scanner User-Agent "${req.header('User-Agent')!.slice(0, 60)}"`;
        // One line per scanning source and hour: what an operator asks about, not a flood of lines.
        const last = this.scannersLogged.get(source);
        if (last === undefined || now - last >= SCANNER_LOG_INTERVAL_MS) {
          remember(this.scannersLogged, source, now);
          this.log(`security: dropping requests from ${source}: ${why}`);
        }
        return { kind: 'drop', why };
      }
    }
    if (this.cfg.rateLimit.enabled && this.overRate(source, now)) {
      this.stats.rateLimited++;
      const { requests, window, banTime } = this.cfg.rateLimit;
      this.ban(source, banTime, `more than ${requests} requests in ${window} s`, 503, 'Service Unavailable');
      return this.refuse('rate limit', 503, 'Service Unavailable');
    }
    return PASS;
  }

  /** A failed authentication (see DigestVerifier's onGuessFailed). */
  authFailed(source: string | undefined, user: string, realm: string): void {
    const c = this.cfg.authBan;
    if (!c.enabled || source === undefined || this.isAllowed(source)) return;
    const now = this.now();
    const half = c.decay * 1000;
    const s = decayed(this.sourceScores.get(source), now, half) + 1;
    remember(this.sourceScores, source, { value: s, at: now });
    const key = `${user}@${realm}`;
    const u = decayed(this.userScores.get(key), now, half) + 1;
    remember(this.userScores, key, { value: u, at: now });
    // Rounded: N failures in a short burst have decayed a hair below N, and N is what is documented.
    if (Math.round(s) >= c.sourceFailures) this.ban(source, c.banTime, `${Math.round(s)} failed authentications`);
    else if (Math.round(u) >= c.userFailures) this.ban(source, c.banTime, `failed authentication for ${key}, which failed ${Math.round(u)} times from several addresses`);
  }

  /** A verified credential: the source's own failures are forgiven (a user who mistyped once). */
  authSucceeded(source: string | undefined): void {
    if (source !== undefined) this.sourceScores.delete(source);
  }

  private ban(source: string, seconds: number, why: string, status = 403, reason = 'Forbidden'): void {
    remember(this.banned, source, { until: this.now() + seconds * 1000, why, status, reason });
    this.stats.bans++;
    this.log(`security: ignoring ${source} for ${seconds} s: ${why}`);
  }

  private refuse(why: string, status: number, reason: string): ScreenVerdict {
    return this.cfg.action === 'reject' ? { kind: 'reject', status, reason, why } : { kind: 'drop', why };
  }

  /** Sliding window over two fixed windows (the previous one weighted by its overlap). */
  private overRate(source: string, now: number): boolean {
    const span = this.cfg.rateLimit.window * 1000;
    let w = this.windows.get(source);
    if (w === undefined || now - w[0] >= 2 * span) w = [now, 0, 0];
    else if (now - w[0] >= span) w = [w[0] + span, 0, w[1]];
    w[1]++;
    remember(this.windows, source, w);
    const overlap = 1 - (now - w[0]) / span;
    return w[1] + w[2] * overlap > this.cfg.rateLimit.requests;
  }
}

/** One allow-list entry: an address, or a network in CIDR notation. */
function addAllowed(list: net.BlockList, entry: string): void {
  const [addr, bits] = entry.split('/');
  const type = net.isIPv6(addr!) ? 'ipv6' : 'ipv4';
  if (net.isIP(addr!) === 0) throw new RangeError(`not an IP address or network: "${entry}"`);
  if (bits === undefined) list.addAddress(addr!, type);
  else list.addSubnet(addr!, Number(bits), type);
}
