/**
 * The server configuration (YAML), validated with a schema. Every key is documented in
 * docs/configuration.md; an unknown key or a bad value stops start-up with one line naming the
 * key, the value and what is allowed.
 *
 * @remarks App layer (`app/config`).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import v8 from 'node:v8';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseListenSpec } from '../../transport/index.js';
import { REDIS_URL_RE, redactUrl, redisOptionsFromUrl } from '../../store/index.js';
import { DEFAULT_SCANNER_AGENTS } from '../../roles/security/index.js';
import { SipError } from '../../util/errors.js';

const listenString = z.string().refine((s) => {
  try {
    parseListenSpec(s);
    return true;
  } catch {
    return false;
  }
}, { message: 'expected udp|tcp|tls|ws|wss:HOST[:PORT], e.g. udp:0.0.0.0:5060' });

const storeString = z.string().superRefine((s, ctx) => {
  if (s === 'memory' || s === 'sqlite') return;
  if (!REDIS_URL_RE.test(s)) {
    ctx.addIssue({ code: 'custom', message: 'expected memory, sqlite, redis://HOST:PORT, redis-sentinel://HOST:PORT/MASTER or redis-cluster://HOST:PORT,…' });
    return;
  }
  try {
    redisOptionsFromUrl(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export const RegistrarSchema = z.strictObject({
  minExpires: z.number().int().min(0).default(60),
  maxExpires: z.number().int().min(1).default(7200),
  defaultExpires: z.number().int().min(1).default(3600),
  maxContacts: z.number().int().min(1).default(10),
  authenticate: z.boolean().default(true),
  maxAuthFailures: z.number().int().min(1).default(3),
  authoritativeUsers: z.boolean().default(false),
});

export const AuthSchema = z.strictObject({
  realm: z.string().min(1).optional(),
  nonceSecret: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  nonceLifetime: z.number().int().min(10).default(300),
  // MD5 alone by default: baresip, SIPp and many phones answer only the topmost challenge and
  // know only MD5 (as Kamailio's and Asterisk's defaults assume). `[SHA-256, MD5]` offers both,
  // SHA-256 first, for clients that implement RFC 8760.
  algorithms: z.array(z.enum(['SHA-256', 'MD5'])).min(1).default(['MD5']),
});

export const TimersSchema = z.strictObject({
  T1: z.number().int().min(1).default(500),
  T2: z.number().int().min(1).default(4000),
  T4: z.number().int().min(1).default(5000),
  /**
   * IOS `sip-ua` `retry METHOD N`: most retransmissions of a request over UDP, by method (e.g.
   * `{invite: 6, bye: 10}`); after them the request times out (408) instead of waiting for
   * Timer B/F. Unlisted methods: Timer B/F alone (RFC 3261 §17.1).
   */
  retries: z.record(z.string().regex(/^[A-Za-z]+$/, { message: 'expected a method name, e.g. invite' }), z.number().int().min(0).max(10)).optional(),
});

export const TransportSchema = z.strictObject({
  udpMtu: z.number().int().min(200).max(65535).default(1300),
  udpToTcpSwitch: z.boolean().default(true),
  maxMessageSize: z.number().int().min(1024).max(65535).default(65535),
  idleTimeout: z.number().int().min(1).default(300),
  advertisedHost: z.string().min(1).optional(),
  tls: z.strictObject({ cert: z.string(), key: z.string(), ca: z.string().optional() }).optional(),
});

export const ProxySchema = z.strictObject({
  /** RFC 3261 §16.11: forward without transactions (front end / load balancer). */
  stateless: z.boolean().default(false),
  recordRoute: z.boolean().default(true),
  /** Record-Route only for requests whose Request-URI or From is in one of these domains (empty: all). */
  recordRouteDomains: z.array(z.string().min(1)).default([]),
  authenticate: z.boolean().default(true),
  trustedPeers: z.array(z.string().min(1)).default([]),
  defaultRoute: z.string().regex(/^sips?:/, { message: 'expected a sip: or sips: URI' }).optional(),
  routes: z.array(z.strictObject({ prefix: z.string().regex(/^[0-9*#+]*$/, { message: 'expected digits' }), target: z.string().regex(/^sips?:/, { message: 'expected a sip: URI' }), strip: z.number().int().min(0).optional() })).default([]),
  forking: z.enum(['parallel', 'sequential']).default('parallel'),
  sequentialTimeout: z.number().int().min(1).default(15),
  recurseOn3xx: z.boolean().default(false),
  timerC: z.number().int().min(181).default(181),
  /** Next hop per Request-URI domain ('*' = any foreign domain), e.g. a redirect server. */
  domainRoutes: z.array(z.strictObject({ domain: z.string().min(1), target: z.string().regex(/^sips?:/, { message: 'expected a sip: URI' }) })).default([]),
});

export const RedirectSchema = z.strictObject({
  rules: z.array(z.strictObject({
    user: z.string().optional(),
    prefix: z.string().optional(),
    domain: z.string().optional(),
    contacts: z.array(z.union([z.string().regex(/^(sips?|tel):/, { message: 'expected a sip:, sips: or tel: URI' }), z.strictObject({ uri: z.string().regex(/^(sips?|tel):/), q: z.number().min(0).max(1).optional() })])).min(1),
    status: z.union([z.literal(300), z.literal(301), z.literal(302), z.literal(305), z.literal(380)]).optional(),
    expires: z.number().int().min(0).optional(),
  })).default([]),
});

const cidr = z.string().refine((v) => {
  const [a, b, ...rest] = v.split('/');
  if (rest.length > 0 || net.isIP(a!) === 0) return false;
  if (b === undefined) return true;
  const n = Number(b);
  return /^\d+$/.test(b) && n <= (net.isIPv6(a!) ? 128 : 32);
}, { message: 'expected an IP address or network (CIDR), e.g. 192.0.2.0/24' });

/** The B2BUA role (handbook call flow 4): where leg B goes and how. */
export const B2buaSchema = z.strictObject({
  /** Leg B's Request-URI; `{user}` is replaced by the user part of leg A's Request-URI. */
  target: z.union([z.literal('location'), z.literal('dialplan'), z.string().regex(/^sips?:/, { message: 'expected location, dialplan, or a sip: or sips: URI, e.g. sip:{user}@192.0.2.10:5060' })]).default('sip:{user}@127.0.0.1:5090'),
  /** `delayed`: leg B's INVITE carries no SDP, its 2xx offers (the handbook); `forward`: leg A's offer goes to leg B. */
  offer: z.enum(['delayed', 'forward']).default('delayed'),
  /** Header fields copied from leg A's INVITE to leg B's (`X-*` for a prefix); nothing else crosses (topology hiding). */
  copyHeaders: z.array(z.string().regex(/^[A-Za-z0-9!%'`~_.+-]+\*?$/, { message: 'expected a header name, or a prefix ending in *' })).default([]),
  /** Session timers (RFC 4028) on each leg: the interval asked for and the smallest accepted (s); false: off. */
  sessionTimer: z.union([z.literal(false), z.strictObject({ expires: z.number().int().min(90).default(1800), minSE: z.number().int().min(90).default(90) }).refine((v) => v.expires >= v.minSE, { message: 'expires must not be below minSE' })]).default({ expires: 1800, minSE: 90 }),
  /**
   * A REFER from either leg: `handle` — the B2BUA calls the Refer-To target itself and joins it to
   * the remaining leg (with Replaces naming one of its own legs: joins the two remaining legs);
   * `pass` — relayed to the other leg, whose UA does the transfer.
   */
  refer: z.enum(['handle', 'pass']).default('handle'),
  /**
   * DTMF in NOTIFY (Cisco telephone-event) or INFO (application/dtmf-relay): `convert` — sent on
   * the other leg by the method that leg agreed on (both legs are offered NOTIFY-based relay);
   * `pass` — relayed as it came. RFC 4733 events stay in the media, end to end.
   */
  dtmf: z.enum(['convert', 'pass']).default('convert'),
  /** The codecs that may cross the B2BUA (names as in SDP: PCMU, PCMA, G729, telephone-event …); empty: any both ends have. */
  codecs: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'expected a codec name, e.g. PCMU' })).default([]),
  /** A leg B failure status → the status leg A gets, e.g. {"503": 480}; unlisted: the same. */
  failureStatus: z.record(z.string().regex(/^[3-6]\d\d$/, { message: 'expected a status code 300–699' }), z.number().int().min(300).max(699)).default({}),
});

/** The gateway role (docs/gateway.md): the handbook's `sip-ua` settings that apply to a SIP gateway. */
export const GatewaySchema = z.strictObject({
  /** `registrar ipv4:…` / `dns:…`: where the numbers register, a SIP URI (none: no registration). */
  registrar: z.string().regex(/^sips?:/, { message: 'expected a sip: URI, e.g. sip:192.0.2.10:5060' }).optional(),
  /** The numbers the gateway registers (E.164 with an optional +, or extensions). */
  numbers: z.array(z.string().regex(/^\+?[0-9*#]+$/, { message: 'expected a number, e.g. +14085550100 or 3401' })).default([]),
  /** The AOR domain of the numbers (default: the registrar's host). */
  domain: z.string().min(1).optional(),
  /** `authentication username U password P`: digest credentials for the registrar. */
  authentication: z.strictObject({ username: z.string().min(1), password: z.string().min(1) }).optional(),
  /** `timers expires` (IOS: registration interval), seconds. */
  expires: z.number().int().min(60).max(86_400).default(3600),
  /** true: a 183 with the SDP answer (early media) before the 200; false (default, and `disable-early-media`): 180, then 200. */
  earlyMedia: z.boolean().default(false),
  /** `set pstn-cause CAUSE sip-status STATUS` (cause → SIP) over RFC 3398's table. */
  pstnCause: z.record(z.string().regex(/^\d{1,3}$/), z.number().int().min(400).max(699)).default({}),
  /** `set sip-status STATUS pstn-cause CAUSE` (SIP → cause) over RFC 3398's table. */
  sipStatus: z.record(z.string().regex(/^[4-6]\d\d$/), z.number().int().min(1).max(127)).default({}),
  /** `redirection` (default on; `no redirection`: false): the gateway's own calls follow a 3xx to its Contacts. */
  redirection: z.boolean().default(true),
  /** `remote-party-id`: outbound INVITEs carry the calling number in a Remote-Party-ID. */
  remotePartyId: z.boolean().default(false),
  /** `asserted-id pai|ppi` (RFC 3325): outbound INVITEs carry the calling number in P-Asserted-Identity or P-Preferred-Identity. */
  assertedId: z.enum(['pai', 'ppi']).optional(),
  /** `timers expires` (IOS: ms, default 180000): the Expires of an outbound INVITE, seconds; 0: none. */
  inviteExpires: z.number().int().min(0).max(86_400).default(180),
  /** `max-forwards N`: the Max-Forwards of every request the gateway originates. */
  maxForwards: z.number().int().min(1).max(255).default(70),
  /** `notify telephone-event max-duration`: the Duration offered for NOTIFY-based DTMF relay, ms. */
  notifyMaxDuration: z.number().int().min(500).max(3000).default(2000),
  /** NAT keep-alive towards the registrar: OPTIONS or a double CRLF every `interval` s (0: off). */
  keepalive: z.strictObject({
    interval: z.number().int().min(0).max(3600).default(0),
    method: z.enum(['options', 'crlf']).default('options'),
  }).default({ interval: 0, method: 'options' }),
});

const expiryLimits = (def: number) => z.strictObject({
  defaultExpires: z.number().int().min(1).max(86_400).default(def),
  minExpires: z.number().int().min(1).max(86_400).default(60),
  maxExpires: z.number().int().min(1).max(604_800).default(86_400),
}).default({ defaultExpires: def, minExpires: 60, maxExpires: 86_400 });

const watcherList = z.array(z.string().regex(/^(sips?:[^@\s]+@[^\s]+|[A-Za-z0-9.-]+)$/, { message: 'expected a watcher AOR (sip:bob@example.com) or a domain' }));

/** The presence role (docs/presence.md): SUBSCRIBE/NOTIFY, PUBLISH, watcher policy, offline MESSAGE. */
export const PresenceSchema = z.strictObject({
  /** Digest authentication of SUBSCRIBE and PUBLISH with the registrar's users. */
  authenticate: z.boolean().default(true),
  /** Who may watch without a rule: `domain` (users of the served domains), `open`, `confirm` (pending), `closed`. */
  policy: z.enum(['domain', 'open', 'confirm', 'closed']).default('domain'),
  /** Per presentity (its AOR): watchers allowed, blocked (403), polite-blocked (always shown closed). */
  rules: z.record(z.string().regex(/^sips?:[^@\s]+@[^\s]+$/, { message: 'expected a presentity AOR, e.g. sip:alice@example.com' }), z.strictObject({
    allow: watcherList.optional(),
    block: watcherList.optional(),
    politeBlock: watcherList.optional(),
  })).default({}),
  /** SUBSCRIBE: granted without Expires (RFC 3856: 3600), the least (423 below) and the most. */
  subscriptions: expiryLimits(3600),
  /** PUBLISH (RFC 3903): the same limits for publications. */
  publications: expiryLimits(3600),
  /** AORs (voicemail servers) that may PUBLISH anyone's message-summary (RFC 3842); the account itself always may. */
  messageSummaryPublishers: watcherList.default([]),
  /** MESSAGE to a local user who is not registered: stored (202) and delivered at the next registration. */
  messages: z.strictObject({
    enabled: z.boolean().default(true),
    limit: z.number().int().min(1).max(10_000).default(100),
    expires: z.number().int().min(60).max(31_536_000).default(604_800),
  }).default({ enabled: true, limit: 100, expires: 604_800 }),
});

/** Screening before any transaction (roles/security): scanners, floods, password guessing. */
export const SecuritySchema = z.strictObject({
  /** Never screened; the host itself by default (a benchmark or a local app is not an attacker). */
  allow: z.array(cidr).default(['127.0.0.0/8', '::1']),
  scanners: z.strictObject({
    enabled: z.boolean().default(true),
    userAgents: z.array(z.string().min(1)).default([...DEFAULT_SCANNER_AGENTS]),
  }).default({ enabled: true, userAgents: [...DEFAULT_SCANNER_AGENTS] }),
  rateLimit: z.strictObject({
    enabled: z.boolean().default(true),
    requests: z.number().int().min(1).default(300),
    window: z.number().min(0.1).default(2),
    banTime: z.number().min(1).default(60),
  }).default({ enabled: true, requests: 300, window: 2, banTime: 60 }),
  authBan: z.strictObject({
    enabled: z.boolean().default(true),
    sourceFailures: z.number().int().min(1).default(10),
    userFailures: z.number().int().min(1).default(30),
    decay: z.number().min(1).default(300),
    banTime: z.number().min(1).default(600),
  }).default({ enabled: true, sourceFailures: 10, userFailures: 30, decay: 300, banTime: 600 }),
  action: z.enum(['drop', 'reject']).default('drop'),
});

const adminListen = z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[^:[\]\s]+)?:?\d{1,5}$/, { message: 'expected HOST:PORT, e.g. 127.0.0.1:8080' });

/** The admin listener (docs/operations.md): API, web console, /metrics. Off without `listen`. */
export const AdminSchema = z.strictObject({
  /** HOST:PORT; loopback unless you give another address (then set a token). */
  listen: adminListen.optional(),
  /** Bearer token every API route and /metrics want (401 without it). */
  token: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /** The recent-message buffer behind the call pages: at most this many messages and bytes. */
  messages: z.strictObject({
    count: z.number().int().min(0).max(1_000_000).default(10_000),
    bytes: z.number().int().min(0).max(1024 * 1024 * 1024).default(32 * 1024 * 1024),
  }).default({ count: 10_000, bytes: 32 * 1024 * 1024 }),
  /** Prometheus metrics at /metrics. */
  metrics: z.boolean().default(true),
});

/** Phones behind NAT (docs/nat.md): keep-alives to their NAT mappings. */
export const NatSchema = z.strictObject({
  keepalive: z.strictObject({
    /** Seconds between two pings of a NATed UDP binding (0: none). Home routers forget idle UDP mappings after 20–60 s. */
    interval: z.number().int().min(0).max(3600).default(15),
    /** `options` (answered: failures remove the binding) or `crlf` (a bare CRLFCRLF). */
    method: z.enum(['options', 'crlf']).default('options'),
    /** Unanswered OPTIONS in a row before the binding is removed. */
    maxFailures: z.number().int().min(1).max(100).default(3),
  }).default({ interval: 15, method: 'options', maxFailures: 3 }),
});

/** The media relay (docs/nat.md): rtpengine, driven over its ng control protocol. */
export const MediaSchema = z.strictObject({
  /** ng control sockets (`udp:IP:PORT`), in order of preference: a silent one fails over to the next. */
  rtpengine: z.array(z.string().regex(/^udp:(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/, { message: 'expected udp:IP:PORT, e.g. udp:127.0.0.1:2223' })).default([]),
  /** `nat`: calls with a party behind a NAT (the default); `always`: every call; `off`. Needs `rtpengine`. */
  relay: z.enum(['off', 'nat', 'always']).default('nat'),
  /** ICE candidates in relayed SDP: `remove` (the relay is the path), `force`, `default` (left as they are). */
  ice: z.enum(['remove', 'force', 'default']).default('remove'),
  /** Extra ng flags for every offer and answer (e.g. trust-address, asymmetric). */
  flags: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_=.:-]*$/, { message: 'expected an ng flag, e.g. trust-address' })).default([]),
  /** Seconds rtpengine keeps a call after Switchboard deletes it (0: released at once). */
  deleteDelay: z.number().int().min(0).max(3600).default(0),
  /** Milliseconds to wait for an answer before resending an ng command. */
  timeout: z.number().int().min(50).max(10_000).default(500),
  /** Resends to one rtpengine before failing over to the next. */
  retries: z.number().int().min(0).max(10).default(2),
});

/** HEP v3 export of every message sent and received (Homer, sngrep -L). */
export const HepSchema = z.strictObject({
  target: z.string().regex(/^udp:(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/, { message: 'expected udp:IP:PORT, e.g. udp:127.0.0.1:9060' }),
  captureId: z.number().int().min(0).max(0xffffffff).default(2001),
  password: z.string().min(1).optional(),
});

/** The server's log (pino): level and line format. */
export const LogSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `text`: `switchboard: message key=value` lines; `json`: one JSON object per line (journald, Loki). */
  format: z.enum(['text', 'json']).default('text'),
});

export const UserSchema = z.strictObject({
  user: z.string().min(1),
  password: z.string().min(1),
  domain: z.string().min(1).optional(),
});

export const ConfigSchema = z.strictObject({
  domains: z.array(z.string().min(1)).default([]),
  listen: z.array(listenString).min(1).default(['udp:0.0.0.0:5060', 'tcp:0.0.0.0:5060']),
  roles: z.array(z.enum(['registrar', 'proxy', 'redirect', 'gateway', 'b2bua', 'presence'])).default(['registrar', 'proxy', 'presence']),
  store: storeString.default('sqlite'),
  db: z.string().min(1).default('./switchboard.db'),
  /** SQLite file sharing: `shared` (CLI and other processes may use the file) or `exclusive`. */
  dbLocking: z.enum(['shared', 'exclusive']).default('shared'),
  /** SQLite group commit: registrations within this many ms share one transaction (0: each alone). */
  dbCommitDelay: z.number().int().min(0).max(100).default(5),
  redisPrefix: z.string().default('sb:'),
  registrar: RegistrarSchema.default(RegistrarSchema.parse({})),
  presence: PresenceSchema.default(PresenceSchema.parse({})),
  auth: AuthSchema.default(AuthSchema.parse({})),
  timers: TimersSchema.default(TimersSchema.parse({})),
  proxy: ProxySchema.default(ProxySchema.parse({})),
  redirect: RedirectSchema.default(RedirectSchema.parse({})),
  b2bua: B2buaSchema.default(B2buaSchema.parse({})),
  gateway: GatewaySchema.default(GatewaySchema.parse({})),
  /** Static host map for RFC 3263 resolution (tests, closed networks): name → "IP[:PORT]". */
  hosts: z.record(z.string(), z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+)(:\d{1,5})?$/, { message: 'expected IP[:PORT]' })).default({}),
  transport: TransportSchema.default(TransportSchema.parse({})),
  security: SecuritySchema.default(SecuritySchema.parse({})),
  admin: AdminSchema.default(AdminSchema.parse({})),
  nat: NatSchema.default(NatSchema.parse({})),
  media: MediaSchema.default(MediaSchema.parse({})),
  hep: HepSchema.optional(),
  log: LogSchema.default(LogSchema.parse({})),
  /**
   * The dial plan (docs/dialplan.md): a file (YAML or IOS text; relative to the working
   * directory) or the plan itself. Telephone numbers and `tel:` URIs the proxy routes go by it;
   * reloaded on SIGHUP. Replaces `proxy.routes`.
   */
  dialPlan: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  /** A YAML user list; when present it is the user store (instead of the database). */
  users: z.array(UserSchema).optional(),
  /**
   * Worker processes sharing the (UDP only) listeners, Kamailio's `children`: each datagram
   * goes to the worker its Call-ID hashes to. See {@link checkWorkers}.
   */
  workers: z.number().int().min(1).max(64).default(1),
  /**
   * Most server transactions alive at once per process; beyond it new requests get a stateless
   * 503 with Retry-After (RFC 3261 §21.5.4). Default: see {@link defaultMaxServerTransactions}.
   */
  maxServerTransactions: z.number().int().min(1).default(() => defaultMaxServerTransactions()),
});

/**
 * One server transaction per 16 KiB of the V8 heap limit (265,000 on a 4 GiB heap): a
 * transaction with its messages takes about 8 KiB (a proxied call, measured), so a full table
 * takes about half the heap. Each transaction lives about 32 s (64·T1) after its final response,
 * so this is also about 8,000 new server transactions per second sustained.
 */
function defaultMaxServerTransactions(): number {
  return Math.max(1000, Math.floor(v8.getHeapStatistics().heap_size_limit / 16384));
}

export type Config = z.infer<typeof ConfigSchema> & { name?: string };
/** A configuration as written (the YAML's shape): every key with a default may be left out. */
export type ConfigInput = z.input<typeof ConfigSchema>;

/** A configuration mistake, printed as one line (exit code 2). */
export class ConfigError extends SipError {
  override name = 'ConfigError';
  constructor(message: string) {
    super('CONFIG_ERR', message);
  }
}

function describeValue(input: unknown, path: PropertyKey[]): string {
  let v: unknown = input;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  if (v === undefined) return 'missing';
  // A URL's password (redis://user:pass@…) never goes into an error message.
  const s = JSON.stringify(typeof v === 'string' ? redactUrl(v) : v);
  return s && s.length > 60 ? s.slice(0, 57) + '...' : String(s);
}

/** Validates a parsed config object; throws {@link ConfigError} naming key, value and what is allowed. */
export function validateConfig(input: unknown, source = 'config'): Config {
  const r = ConfigSchema.safeParse(input ?? {});
  if (r.success) {
    checkCrossFields(r.data, source);
    return r.data;
  }
  const issue = r.error.issues[0]!;
  const key = issue.path.map(String).join('.') || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `${issue.path.map(String).join('.')}.` : '';
    throw new ConfigError(`${source}: unknown key "${where}${issue.keys[0]}"`);
  }
  throw new ConfigError(`${source}: ${key} = ${describeValue(input, issue.path)}: ${issue.message}`);
}

/**
 * Rules between keys that a key alone cannot state: each expiry range ordered (the least ≤ the
 * default ≤ the most), and the TLS certificate and key files readable — named by their key and
 * path, not left to a raw ENOENT at start.
 */
function checkCrossFields(cfg: Config, source: string): void {
  const ranges: Array<[string, { minExpires: number; defaultExpires: number; maxExpires: number }]> = [
    ['registrar', cfg.registrar], ['presence.subscriptions', cfg.presence.subscriptions], ['presence.publications', cfg.presence.publications],
  ];
  for (const [key, r] of ranges) {
    if (r.minExpires > r.maxExpires) throw new ConfigError(`${source}: ${key}.minExpires = ${r.minExpires} is above ${key}.maxExpires = ${r.maxExpires}`);
    if (r.defaultExpires < r.minExpires || r.defaultExpires > r.maxExpires) throw new ConfigError(`${source}: ${key}.defaultExpires = ${r.defaultExpires} is outside ${key}.minExpires..maxExpires (${r.minExpires}..${r.maxExpires})`);
  }
  const tls = cfg.transport.tls;
  if (tls) {
    for (const k of ['cert', 'key', 'ca'] as const) {
      const path = tls[k];
      if (path === undefined) continue;
      try {
        fs.accessSync(path, fs.constants.R_OK);
      } catch (e) {
        throw new ConfigError(`${source}: transport.tls.${k} = ${JSON.stringify(path)}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
  }
}

/**
 * Several workers must share everything a request can depend on: the location service (a
 * registration at one worker is looked up at another), the SQLite file, and the connections
 * (hence UDP listeners only). Checked after the command-line flags are applied.
 */
export function checkWorkers(cfg: Config, source: string): void {
  if (cfg.workers === 1) return;
  const v = `${source}: workers = ${cfg.workers}`;
  if (cfg.roles.includes('gateway')) throw new ConfigError(`${v}: the gateway role runs in one process (set workers: 1)`);
  // Leg B's Call-ID is new: its requests would hash to another worker than leg A's.
  if (cfg.roles.includes('b2bua')) throw new ConfigError(`${v}: the b2bua role runs in one process (set workers: 1)`);
  // A connection lives in the worker that accepted or opened it, but a request for the peer at
  // its other end (a registered TCP/WS client, a flow token in a Record-Route) may be handled by
  // any worker: until connections can be reached across workers, several workers mean UDP only.
  const stream = cfg.listen.find((l) => !l.startsWith('udp:'));
  if (stream) throw new ConfigError(`${v}: listen = "${stream}": with several workers every listener must be udp (a connection belongs to one worker); use workers: 1 for tcp, tls, ws and wss`);
  if (cfg.store === 'memory' && (cfg.roles.includes('registrar') || cfg.roles.includes('redirect'))) {
    throw new ConfigError(`${v}: a memory store is private to each worker, so bindings would not be shared; use store: sqlite or a redis:// URL, or workers: 1`);
  }
  if (cfg.store === 'sqlite' && cfg.dbLocking === 'exclusive') throw new ConfigError(`${v}: dbLocking = "exclusive" lets one process open the database; use dbLocking: shared or workers: 1`);
}

/**
 * The media relay needs an rtpengine (`media.rtpengine` or `--rtpengine`) when told to relay
 * every call, and a stateful proxy or the B2BUA to drive it. Checked after the flags.
 */
export function checkMedia(cfg: Config, source: string): void {
  const m = cfg.media;
  if (m.relay === 'always' && m.rtpengine.length === 0) throw new ConfigError(`${source}: media.relay = "always" needs media.rtpengine (an ng socket, e.g. udp:127.0.0.1:2223) or --rtpengine`);
  if (m.relay !== 'off' && m.rtpengine.length > 0 && cfg.proxy.stateless && cfg.roles.includes('proxy') && !cfg.roles.includes('b2bua')) {
    throw new ConfigError(`${source}: media.rtpengine: the media relay needs the stateful proxy (proxy.stateless = true forwards without seeing the answers)`);
  }
}

/**
 * Validates a whole file: one server, or several under `servers:` (each entry has a `name` and
 * overrides the top-level keys), so the handbook's multi-server flow runs from one file.
 */
export function validateFile(input: unknown, source: string): Config[] {
  if (input === null || input === undefined) return [validateConfig({}, source)];
  if (typeof input !== 'object' || Array.isArray(input)) throw new ConfigError(`${source}: expected a mapping of keys at the top level`);
  const { servers, ...top } = input as Record<string, unknown>;
  if (servers === undefined) return [validateConfig(top, source)];
  if (!Array.isArray(servers) || servers.length === 0) throw new ConfigError(`${source}: servers = ${JSON.stringify(servers)}: expected a non-empty list of servers`);
  const names = new Set<string>();
  const configs = servers.map((entry, i) => {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new ConfigError(`${source}: servers.${i}: expected a mapping`);
    const { name, ...rest } = entry as Record<string, unknown>;
    const n = typeof name === 'string' && name.length > 0 ? name : `server${i + 1}`;
    if (names.has(n)) throw new ConfigError(`${source}: servers.${i}.name = "${n}": names must be unique`);
    names.add(n);
    const merged: Record<string, unknown> = { ...top };
    for (const [k, v] of Object.entries(rest)) {
      const base = merged[k];
      merged[k] = v && typeof v === 'object' && !Array.isArray(v) && base && typeof base === 'object' && !Array.isArray(base) ? { ...(base as object), ...(v as object) } : v;
    }
    const cfg = validateConfig(merged, `${source} (servers.${i} "${n}")`);
    cfg.name = n;
    return cfg;
  });
  const many = configs.find((c) => c.workers > 1);
  if (many) throw new ConfigError(`${source}: servers.${configs.indexOf(many)}.workers = ${many.workers}: a file with several servers runs them in one process (set workers: 1, or give each server its own file)`);
  return configs;
}

/** Reads and validates a YAML file (one or several servers). */
export function loadConfigFile(file: string): Config[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateFile(data, file);
}

/** The host's first non-internal IPv4 address, the default served domain. */
export function hostAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
