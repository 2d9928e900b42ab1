/**
 * The composition root: builds the stack from a {@link Config} and wires the roles.
 *
 * @remarks App layer (`app/`). Transport → transactions → UAS core → registrar (REGISTER),
 * with the location and user stores opened from config. The proxy role plugs in here.
 */
import fs from 'node:fs';
import net from 'node:net';
import { DigestVerifier, NonceService } from '../auth/index.js';
import { NatKeepalive, Registrar, RegistrarUser } from '../roles/registrar/index.js';
import { ProxyRoutingPolicy, dialPlanFromPrefixRoutes } from '../roles/proxy/index.js';
import { DialPlan, DialPlanError, dialPlanData, loadDialPlan } from '../dialplan/index.js';
import { Screen } from '../roles/security/index.js';
import { RedirectServer, RedirectUser } from '../roles/redirect/index.js';
import { B2bua, type B2buaCallConfig } from '../roles/b2bua/index.js';
import type { SipUri } from '../sip/index.js';
import { type Stores, openStores } from '../store/index.js';
import { Resolver, type TraceEvent, TransportLayer, describeFault, limitLines, parseListenSpec } from '../transport/index.js';
import { OptionsUas, ProxyCore, type ProxyHooks, type RouteRule, SipElement, StatelessProxy, type TransactionUser, type UasPolicy } from '../tu/index.js';
import os from 'node:os';
import { type Config, ConfigError, type ConfigInput, validateConfig } from './config/config-schema.js';
import { UserAgent } from '../roles/user-agent/index.js';
import { Gateway } from '../roles/gateway/index.js';
import { PresenceRole } from '../roles/presence/index.js';
import { sharedSecret } from './shared-secret.js';
import { type Logger, type MessageRecord, createLogger } from '../observability/index.js';
import { type Operations, startOperations } from './operations.js';
import { RtpengineClient } from '../media/index.js';
import { CallMedia, MediaRelay, ProxyRtpRelay, relayReason } from '../roles/media-relay/index.js';

export interface RunningServer {
  readonly transport: TransportLayer;
  /** The SIP element: transactions, and the roles as its transaction users (see {@link routeTable}). */
  readonly element: SipElement;
  readonly stores: Stores;
  readonly config: Config;
  /** Stops accepting, lets in-flight transactions finish (bounded), flushes the stores. */
  stop(): Promise<void>;
  /**
   * Reads the dial plan again (SIGHUP): new calls use the new plan, calls under way keep the hunt
   * they started with; a plan that does not load leaves the old one in force (and throws why).
   * Resolves with a line saying what is in force.
   */
  reloadDialPlan(): string;
  /** The gateway (`roles: [gateway]`): its outbound calls, `gateway.call(number)`. */
  readonly gateway?: Gateway;
  /** The presence role (subscriptions, publications, offline messages), when it runs. */
  readonly presence?: PresenceRole;
  /** The admin listener, API, console and metrics (config `admin.listen`), and the call log. */
  readonly operations: Operations;
  /** The server's log (pino). */
  readonly logger: Logger;
  /**
   * Every message sent and received, as a {@link MessageRecord} (time, direction, transport,
   * addresses, start line, Call-ID, bytes): what the console, HEP and `--trace` are built on.
   */
  on(event: 'message', listener: (r: MessageRecord) => void): void;
  off(event: 'message', listener: (r: MessageRecord) => void): void;
  /**
   * Applies a configuration again without dropping calls: the dial plan (or `proxy.routes`), the
   * users of `users:`, the TLS certificate and key, the log level, the presence rules. `next`
   * is the configuration read again (SIGHUP, `POST /api/reload`); keys that need a restart
   * (listeners, roles, store) are reported, not applied. Resolves with a line per change.
   */
  reload(next?: Config, overrides?: { logLevel?: string }): Promise<string[]>;
}

export interface StartOptions {
  onTrace?: (ev: TraceEvent) => void;
  /** Plain log lines (without `logger`): every event of the log as one line of text. */
  log?: (line: string) => void;
  /** The log (pino); default: `log`'s lines, or nothing at all. */
  logger?: Logger;
  /** Reads the configuration again for `POST /api/reload` (default: the one started with). */
  rereadConfig?: () => Config;
  /** This process is worker `index` of `count` (see `cluster.ts`). */
  worker?: { index: number; count: number };
  /** The nonce secret the cluster primary chose, when neither config nor store provides one. */
  nonceSecret?: string;
  /** Routing blocks of the embedding program: request, branch, reply, failure (see {@link ProxyHooks}). */
  proxyHooks?: ProxyHooks;
  /** The gateway registers its numbers (default true; `switchboard gateway call` does not). */
  register?: boolean;
}

/**
 * Validates `config` (the shape of one server in a YAML file, docs/configuration.md; keys left
 * out take their defaults) and starts the server. Rejects with {@link ConfigError} naming the key
 * of a mistake, or with a readable error if a listener cannot be bound.
 */
export async function createServer(config: ConfigInput, opts: StartOptions = {}): Promise<RunningServer> {
  return startServer(validateConfig(config, 'createServer'), opts);
}

/** Starts a server for an already validated `config`. Rejects with a readable error if a listener cannot be bound. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? loggerFor(config, opts.log);
  const log = (line: string) => logger.info(line);
  opts = { ...opts, logger, log };
  if (config.roles.includes('gateway')) {
    if (config.roles.length > 1) throw new ConfigError(`${config.name ?? 'config'}: roles: the gateway role cannot be combined with ${config.roles.filter((r) => r !== 'gateway').join(', ')}`);
    return startGateway(config, opts);
  }
  // A shared secret lets every process of a cluster verify every nonce (RFC 7616 §3.3). Read
  // before the stores open: with `dbLocking: exclusive` nobody else may open the file after.
  const secret = config.auth.nonceSecret ?? (config.store === 'memory' ? opts.nonceSecret : undefined) ?? (await sharedSecret(config.store, config.db, config.redisPrefix));
  // With presence, location events of the other processes on a shared Redis count too.
  const stores = await openStores({ store: config.store, dbPath: config.db, dbLocking: config.dbLocking, dbCommitDelayMs: config.dbCommitDelay, redisPrefix: config.redisPrefix, subscribeEvents: config.roles.includes('presence') });
  try {
    if (config.users) {
      for (const u of config.users) await stores.users.add(u.user, u.domain ?? config.auth.realm ?? config.domains[0]!, u.password);
    }
    const tls = config.transport.tls
      ? { cert: fs.readFileSync(config.transport.tls.cert), key: fs.readFileSync(config.transport.tls.key), ca: config.transport.tls.ca ? fs.readFileSync(config.transport.tls.ca) : undefined }
      : undefined;
    const transport = new TransportLayer({
      listen: config.listen.map(parseListenSpec),
      maxMessageSize: config.transport.maxMessageSize,
      udpMtu: config.transport.udpMtu,
      udpToTcpSwitch: config.transport.udpToTcpSwitch,
      idleTimeoutMs: config.transport.idleTimeout * 1000,
      advertisedHost: config.transport.advertisedHost ?? config.domains[0],
      tls,
      worker: opts.worker,
    });
    if (opts.onTrace) transport.onTrace = opts.onTrace;
    // Every fault (a message that made a layer or role throw) is one log line, bounded in a flood
    // (the operations below take over once they run).
    const faultLog = limitLines(log);
    transport.onFault = (f) => faultLog(describeFault(f));
    await transport.start();
    let ops: Operations | undefined;

    const roles = new Set(config.roles);
    const hosts: Record<string, { address: string; port?: number }> = {};
    for (const [name, value] of Object.entries(config.hosts)) {
      const m = /^\[?([0-9a-fA-F:.]+?)\]?(?::(\d+))?$/.exec(value)!;
      hosts[name.toLowerCase()] = { address: m[1]!, port: m[2] ? Number(m[2]) : undefined };
    }
    // Screening before any transaction (roles/security): the proxy's trusted peers are never screened.
    const securityLog = limitLines(log);
    const screen = new Screen({ ...config.security, allow: [...config.security.allow, ...config.proxy.trustedPeers.filter((p) => net.isIP(p) !== 0)] }, securityLog);
    const isOwnAddress = ownAddressTest(config, transport);
    // The server's own UAS: REGISTER (when it is a registrar) and OPTIONS (RFC 3261 §11).
    // RFC 3327 Path and RFC 5626 outbound are implemented by the registrar; GRUU (RFC 5627) is not.
    const uasPolicy: UasPolicy = { allow: [...(roles.has('registrar') ? ['REGISTER'] : []), ...(roles.has('presence') ? ['SUBSCRIBE', 'PUBLISH'] : []), 'OPTIONS'], supported: ['path', 'outbound'], accept: ['application/sdp'] };
    const redirectEnabled = roles.has('redirect');
    const proxyEnabled = roles.has('proxy') && !redirectEnabled;
    let registrarUser: RegistrarUser | undefined;
    let proxyPolicy: ProxyRoutingPolicy | undefined;
    let presence: PresenceRole | undefined;
    // Subscriptions and publications live in one process: with several workers the role is off.
    const presenceEnabled = roles.has('presence') && (opts.worker?.count ?? 1) === 1;
    if (roles.has('presence') && !presenceEnabled) log('presence: off with several workers (subscriptions and publications live in one process); set workers: 1 to serve presence');
    const dialPlan = openDialPlan(config, log);
    let currentDialPlan = dialPlan;
    // The media relay (docs/nat.md): rtpengine over its ng protocol, for the proxy and the B2BUA.
    const media = await startMediaRelay(config, logger);
    const proxyMedia = media && (roles.has('proxy') && !config.proxy.stateless) ? new ProxyRtpRelay(media, { relay: config.media.relay as 'nat' | 'always' }, (level, line) => logger[level](line)) : undefined;
    if (dialPlan) log(`dial plan: ${dialPlan.peers.length} dial-peers (hunt ${dialPlan.hunt})`);
    const element = new SipElement({
      transport,
      screen: (req) => {
        const v = screen.check(req);
        return v.kind === 'pass' ? undefined : v.kind === 'drop' ? 'drop' : { status: v.status, reason: v.reason };
      },
      resolver: new Resolver({ hosts: Object.fromEntries(Object.entries(hosts).map(([k, v]) => [k, [v]])) }),
      timers: config.timers,
      product: 'Switchboard/0.1',
      maxServerTransactions: config.maxServerTransactions,
      unavailable: () => (stores.health().up ? undefined : { what: 'store unreachable', retryAfter: 10 }),
      addressedToServer: (req) => {
        const u = req.uri;
        // A served domain names us only without a port of its own: `sip:127.0.0.1:34917` is a
        // peer's Contact (a request the caller sent through us), not the server.
        return u.kind === 'sip' && u.user === undefined && (isOwnAddress(u) || (config.domains.includes(u.hostname) && u.port === undefined)) && !req.hasHeader('Route');
      },
      routes: routeTable({ registrar: roles.has('registrar'), proxy: proxyEnabled, redirect: redirectEnabled, b2bua: roles.has('b2bua'), presence: presenceEnabled ? config.domains.map((d) => d.toLowerCase()) : undefined }),
      users: (el) => {
        const users: Record<string, TransactionUser> = { local: new OptionsUas(el.uas, uasPolicy) };
        const verifier = new DigestVerifier({
          nonces: new NonceService({ secret, lifetimeSeconds: config.auth.nonceLifetime, issuer: opts.worker && opts.worker.count > 1 ? opts.worker.index : undefined }),
          algorithms: config.auth.algorithms,
          lookupHa1: (user, realm, alg) => stores.users.getHa1(user, realm, alg),
          onGuessFailed: (f) => {
            screen.authFailed(f.source, f.username, f.realm);
            ops?.authFailed(f);
          },
          onVerified: (v) => screen.authSucceeded(v.source),
        });
        if (roles.has('registrar')) {
          const registrar = new Registrar(
            { location: stores.location, verifier, userExists: async (u, r) => (await stores.users.getHa1(u, r, 'MD5')) !== undefined, isOwnAddress },
            { ...config.registrar, domains: config.domains, realm: config.auth.realm ? () => config.auth.realm! : undefined },
          );
          users.registrar = registrarUser = new RegistrarUser(registrar, el, uasPolicy, config.registrar.authenticate);
        }
        if (presenceEnabled) {
          presence = new PresenceRole(
            { element: el, domains: config.domains.map((d) => d.toLowerCase()), verifier, realm: config.auth.realm, users: stores.users, location: stores.location, store: stores.events, log },
            config.presence,
          );
          users.presence = presence.server;
        }
        if (roles.has('b2bua')) {
          const onState: B2buaCallConfig['onState'] = (call, state) => {
            const req = call.a.invite;
            if (!req) return;
            // The call log shows both legs of a bridged call together (leg A first).
            if (call.b.invite) ops?.calls?.link(req.callId, call.b.invite.callId);
            presence?.b2buaCall({ callId: req.callId, fromTag: req.from.tag ?? '', toTag: call.a.dialog?.localTag, caller: req.from.uri, callee: req.to.uri }, state);
          };
          const relayMode = config.media.relay === 'always' ? 'always' : 'nat';
          const callMedia: B2buaCallConfig['media'] = media
            ? (req, callee) => {
                const why = relayReason(relayMode, req, callee);
                return why === undefined ? undefined : new CallMedia(media, req.callId, req.from.tag ?? '', why);
              }
            : undefined;
          users.b2bua = new B2bua(el, { ...config.b2bua, onState, media: callMedia }, log, stores.cdrs, Date.now, {
            domains: config.domains,
            location: roles.has('registrar') || config.store !== 'memory' ? stores.location : undefined,
            dialPlan: () => currentDialPlan,
          });
        }
        if (redirectEnabled) {
          const redirect = new RedirectServer(
            { domains: config.domains, rules: config.redirect.rules },
            { location: roles.has('registrar') || config.store !== 'memory' ? stores.location : undefined, users: stores.users, realm: config.auth.realm ? () => config.auth.realm! : undefined },
          );
          users.redirect = new RedirectUser(redirect, el);
        }
        if (proxyEnabled) {
          const policy = (proxyPolicy = new ProxyRoutingPolicy(
            {
              domains: config.domains,
              recordRoute: config.proxy.recordRoute,
              recordRouteDomains: config.proxy.recordRouteDomains,
              authenticate: config.proxy.authenticate,
              trustedPeers: config.proxy.trustedPeers,
              dialPlan,
              defaultRoute: config.proxy.defaultRoute,
              forking: config.proxy.forking,
              sequentialTimeoutMs: config.proxy.sequentialTimeout * 1000,
              recurseOn3xx: config.proxy.recurseOn3xx,
              realm: config.auth.realm,
              domainRoutes: config.proxy.domainRoutes,
            },
            { location: roles.has('registrar') ? stores.location : undefined, verifier, isOwnAddress, log, storeMessage: presence?.messages ? (req) => presence!.messages!.keep(req) : undefined },
          ));
          users.proxy = config.proxy.stateless
            ? new StatelessProxy(el, policy, isOwnAddress)
            : new ProxyCore({ element: el, policy, isLocal: isOwnAddress, timerCMs: config.proxy.timerC * 1000, hooks: withPresence(opts.proxyHooks, presence), media: proxyMedia });
        }
        return users;
      },
    });

    await presence?.start();
    // Keep-alives to the NAT mappings of phones registered here (one process of a cluster sends them).
    const natPings = roles.has('registrar') && (opts.worker?.index ?? 0) === 0
      ? new NatKeepalive(element, stores.location, { ...config.nat.keepalive, domain: config.domains[0] ?? 'localhost' }, (line, fields) => logger.info(fields ?? {}, line))
      : undefined;
    natPings?.start();
    let stopped = false;
    let applied = config;
    const installDialPlan = (plan: DialPlan | undefined) => {
      currentDialPlan = plan;
      if (proxyPolicy) proxyPolicy.dialPlan = plan;
      return plan ? `dial plan reloaded: ${plan.peers.length} dial-peers (hunt ${plan.hunt})` : 'no dial plan configured';
    };
    const reloadDialPlan = (cfg: Config) => installDialPlan(openDialPlan(cfg, log));
    const reload = async (next: Config = applied, overrides: { logLevel?: string } = {}): Promise<string[]> => {
      // Everything is read and checked first: a part that fails leaves all as it was.
      let plan: DialPlan | undefined;
      try {
        plan = openDialPlan(next, log);
      } catch (e) {
        throw new ConfigError(`dial plan not reloaded, the previous one stays in force: ${(e as Error).message}`);
      }
      let cert: { cert: Buffer; key: Buffer } | undefined;
      if (next.transport.tls) {
        try {
          cert = { cert: fs.readFileSync(next.transport.tls.cert), key: fs.readFileSync(next.transport.tls.key) };
        } catch (e) {
          throw new ConfigError(`transport.tls: cannot read ${(e as NodeJS.ErrnoException).path ?? next.transport.tls.cert}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; nothing reloaded`);
        }
      }
      const lines = [installDialPlan(plan)];
      for (const u of next.users ?? []) await stores.users.add(u.user, u.domain ?? next.auth.realm ?? next.domains[0]!, u.password);
      if (next.users) lines.push(`users: ${next.users.length} from the configuration`);
      if (cert) {
        const n = transport.setCertificate(cert.cert, cert.key);
        lines.push(`TLS certificate ${next.transport.tls!.cert} loaded for ${n} listener${n === 1 ? '' : 's'} (new connections)`);
      }
      const level = overrides.logLevel ?? next.log.level;
      if (level !== logger.level) {
        logger.level = level;
        lines.push(`log level ${level}`);
      }
      if (presence) lines.push(await presence.reloadRules());
      for (const key of ['listen', 'roles', 'store', 'db', 'workers', 'admin', 'hep'] as const) {
        if (JSON.stringify(next[key]) !== JSON.stringify(applied[key])) lines.push(`${key} changed: takes effect at the next start`);
      }
      applied = next;
      return lines;
    };
    ops = await startOperations({
      config, transport, element, stores, logger, trace: opts.onTrace,
      subscriptions: presence ? () => presence!.server.subscriptions().length : undefined,
      mediaRelay: media ? () => ({ counts: media.counts, instances: media.client.instances() }) : undefined,
      roleOf: () => (roles.has('b2bua') ? 'b2bua' : redirectEnabled ? 'redirect' : proxyEnabled ? 'proxy' : 'uas'),
      reload: (body) => reload(opts.rereadConfig?.() ?? applied, body),
      worker: opts.worker,
    });
    const operations = ops;
    return {
      transport,
      element,
      presence,
      stores,
      config,
      operations,
      logger,
      on: (_event, l) => void operations.observer.on('message', l),
      off: (_event, l) => void operations.observer.off('message', l),
      reload,
      reloadDialPlan: () => reloadDialPlan(applied),
      async stop() {
        if (stopped) return;
        stopped = true;
        const wait = Promise.allSettled([...(registrarUser?.inflight ?? [])]);
        await Promise.race([wait, new Promise((r) => setTimeout(r, 2000))]);
        presence?.stop();
        natPings?.stop();
        await proxyMedia?.releaseAll();
        await media?.client.close();
        await operations.close();
        await transport.stop();
        await stores.close();
      },
    };
  } catch (e) {
    await stores.close();
    throw e;
  }
}

/**
 * The rtpengine client of `media:` (none when `relay: off` or no rtpengine is named). An
 * instance that does not answer a ping at start is logged, not fatal: calls fail over to the
 * next, and the health check marks it up when it answers.
 */
async function startMediaRelay(config: Config, logger: Logger): Promise<MediaRelay | undefined> {
  const m = config.media;
  if (m.relay === 'off' || m.rtpengine.length === 0) return undefined;
  const client = new RtpengineClient({
    targets: m.rtpengine,
    timeoutMs: m.timeout,
    retries: m.retries,
    onInstanceState: (target, up) => (up ? logger.info(`media relay: rtpengine ${target} answers again`) : logger.warn(`media relay: rtpengine ${target} does not answer: new calls go to the next one`)),
    onError: (e) => logger.warn(`media relay: ng socket error: ${e.message}`),
  });
  await client.start();
  const pings = await client.ping();
  for (const p of pings) {
    if (p.up) logger.info(`media relay: rtpengine ${p.target} answers (${p.rttMs?.toFixed(1)} ms); relaying ${m.relay === 'always' ? 'every call' : 'calls with a party behind NAT'}`);
    else logger.warn(`media relay: rtpengine ${p.target} does not answer ping (${p.error?.message ?? 'no answer'}); calls are refused with 503 until one answers`);
  }
  if (config.roles.includes('proxy') && !config.proxy.recordRoute) {
    logger.warn('media relay: proxy.recordRoute is false, so BYE does not pass the proxy: rtpengine releases those calls only by its own --timeout');
  }
  return new MediaRelay(client, { ice: m.ice, flags: m.flags, deleteDelay: m.deleteDelay }, (level, line) => logger[level](line));
}

/**
 * The log of a server started without a logger: `log`'s lines in the text format (at the
 * config's level), or nothing (a library user who asked for no log).
 */
function loggerFor(config: Config, log: ((line: string) => void) | undefined): Logger {
  if (!log) return createLogger({ level: 'silent', destination: { write: () => true } as unknown as NodeJS.WritableStream });
  return createLogger({ level: config.log.level, format: 'text', prefix: '', destination: { write: (line: string) => (log(line.replace(/\n$/, '')), true) } as unknown as NodeJS.WritableStream });
}

/**
 * The handbook's gateway (call flows 1 and 3, roles/gateway): a user agent that registers its
 * numbers and answers the calls its inbound dial-peers take (every call without a dial plan) —
 * 183 with the SDP answer, then 200 (`gateway.earlyMedia: false`: 180, then 200) — and BYE with 200.
 */
async function startGateway(config: Config, opts: StartOptions): Promise<RunningServer> {
  const log = opts.log ?? (() => {});
  let plan = openDialPlan(config, log);
  const ua = await UserAgent.start({
    listen: config.listen,
    timers: config.timers,
    maxForwards: config.gateway.maxForwards,
    onTrace: opts.onTrace,
    maxServerTransactions: config.maxServerTransactions,
    transport: { udpMtu: config.transport.udpMtu, udpToTcpSwitch: config.transport.udpToTcpSwitch, maxMessageSize: config.transport.maxMessageSize, advertisedHost: config.transport.advertisedHost ?? config.domains[0] },
  });
  const g = config.gateway;
  const gateway = new Gateway(ua, {
    registrar: g.registrar, register: opts.register ?? true, numbers: g.numbers, domain: g.domain, credentials: g.authentication, expires: g.expires, earlyMedia: g.earlyMedia,
    causes: { pstnCause: g.pstnCause, sipStatus: g.sipStatus },
    redirection: g.redirection, remotePartyId: g.remotePartyId, assertedId: g.assertedId, inviteExpires: g.inviteExpires,
    notifyMaxDuration: g.notifyMaxDuration, keepalive: g.keepalive,
  }, () => plan, log);
  // Registration goes on in the background: a registrar that is down must not hold up the start.
  void gateway.start();
  const stores = await openStores({ store: 'memory' });
  const logger = opts.logger!;
  const reloadDialPlan = () => {
    plan = openDialPlan(config, log);
    gateway.dialPlanReloaded();
    return plan ? `dial plan reloaded: ${plan.peers.length} dial-peers (hunt ${plan.hunt})` : 'no dial plan configured';
  };
  const reload = async (_next?: Config, overrides: { logLevel?: string } = {}) => {
    const lines = [reloadDialPlan()];
    if (overrides.logLevel && overrides.logLevel !== logger.level) {
      logger.level = overrides.logLevel;
      lines.push(`log level ${overrides.logLevel}`);
    }
    return lines;
  };
  const operations = await startOperations({ config, transport: ua.transport, element: ua.element, stores, logger, trace: opts.onTrace, roleOf: () => 'gateway', reload: (body) => reload(undefined, body) });
  return {
    transport: ua.transport,
    element: ua.element,
    stores,
    config,
    gateway,
    operations,
    logger,
    on: (_event, l) => void operations.observer.on('message', l),
    off: (_event, l) => void operations.observer.off('message', l),
    reload,
    reloadDialPlan,
    async stop() {
      await gateway.stop();
      await operations.close();
      await ua.stop();
      await stores.close();
    },
  };
}

/**
 * Where a request outside any dialog goes (the element's {@link MethodRouter}), first match
 * wins; `local` is the server's own UAS (OPTIONS, §11).
 *
 * | roles            | REGISTER  | INVITE  | addressed to the server          | anything else |
 * | ---------------- | --------- | ------- | -------------------------------- | ------------- |
 * | registrar        | registrar | local   | local                            | local (405)   |
 * | + proxy          | registrar | proxy   | local                            | proxy         |
 * | + redirect       | registrar | redirect| local (OPTIONS without a user)   | redirect      |
 * | + b2bua          | registrar | b2bua   | (as without b2bua)               | (as without)  |
 *
 * Requests within a dialog go first to the TU that holds it (the B2BUA's legs).
 */
export function routeTable(roles: { registrar: boolean; proxy: boolean; redirect: boolean; b2bua?: boolean; presence?: readonly string[] }): RouteRule[] {
  const rules: RouteRule[] = [];
  if (roles.registrar) rules.push({ tu: 'registrar', methods: ['REGISTER'] });
  if (roles.presence) {
    // Our users' presence is ours to serve, and a PUBLISH for them is ours to take or refuse (489,
    // RFC 3903 §6 step 2); SUBSCRIBEs for other packages (message-summary …) and other domains go
    // through the proxy to the devices that serve them.
    rules.push({ tu: 'presence', methods: ['SUBSCRIBE'], events: ['presence', 'presence.winfo', 'dialog', 'message-summary'], domains: roles.presence }, { tu: 'presence', methods: ['PUBLISH'], domains: roles.presence });
  }
  if (roles.b2bua) rules.push({ tu: 'b2bua', methods: ['INVITE'] });
  if (roles.redirect) rules.push({ tu: 'local', methods: ['OPTIONS'], requestUri: 'no-user' }, { tu: 'redirect' });
  else if (roles.proxy) rules.push({ tu: 'local', requestUri: 'server' }, { tu: 'proxy' });
  rules.push({ tu: 'local' });
  return rules;
}

/** The embedding program's proxy hooks, with the presence role watching the replies (the dialog package). */
function withPresence(hooks: ProxyHooks | undefined, presence: PresenceRole | undefined): ProxyHooks | undefined {
  if (!presence) return hooks;
  const user = hooks?.reply;
  return {
    ...hooks,
    reply: (res, branch) => {
      presence.observe(res);
      user?.(res, branch);
    },
  };
}

/**
 * Which URIs are this server (Kamailio's "myself"): a listener address and port, or a served
 * domain without a port.
 */
function ownAddressTest(config: Config, transport: TransportLayer): (uri: SipUri) => boolean {
  const ownHosts = new Set<string>([...config.domains.map((d) => d.toLowerCase())]);
  for (const l of transport.boundListeners) {
    if (l.address === '0.0.0.0' || l.address === '::') {
      for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) ownHosts.add(a.address.toLowerCase());
    } else ownHosts.add(l.address.toLowerCase());
  }
  if (config.transport.advertisedHost) ownHosts.add(config.transport.advertisedHost.toLowerCase());
  const ownPorts = new Set(transport.boundListeners.map((l) => l.port));
  return (uri: SipUri): boolean => {
    const host = uri.hostname.toLowerCase();
    if (!ownHosts.has(host)) return false;
    const port = uri.port ?? (uri.scheme === 'sips' || uri.transport === 'tls' ? 5061 : 5060);
    return ownPorts.has(port) || (uri.port === undefined && config.domains.some((d) => d.toLowerCase() === host));
  };
}

/**
 * The dial plan of `config` (the `dialPlan` file or object), or the round-1 `proxy.routes`
 * prefix table read as one (docs/dialplan.md, migration). Throws {@link ConfigError} naming the
 * key and the mistake; IOS lines it did not use are logged with their numbers.
 */
export function openDialPlan(config: Config, log: (line: string) => void): DialPlan | undefined {
  const where = `${config.name ?? 'config'}: dialPlan`;
  if (config.dialPlan !== undefined && config.proxy.routes.length > 0) throw new ConfigError(`${where}: set either dialPlan or proxy.routes (the round-1 prefix table), not both`);
  try {
    if (typeof config.dialPlan === 'string') {
      let text: string;
      try {
        text = fs.readFileSync(config.dialPlan, 'utf8');
      } catch (e) {
        throw new DialPlanError('DIALPLAN_ERR_FILE', `cannot read ${config.dialPlan}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const loaded = loadDialPlan(text);
      for (const d of loaded.diagnostics) log(`dial plan ${config.dialPlan}:${d.line}: ${d.why}: ${d.text}`);
      return loaded.plan;
    }
    if (config.dialPlan !== undefined) return new DialPlan(dialPlanData(config.dialPlan));
  } catch (e) {
    if (e instanceof DialPlanError) throw new ConfigError(`${where}: ${e.message}`);
    throw e;
  }
  if (config.proxy.routes.length === 0) return undefined;
  log('proxy.routes (the round-1 prefix table) is read as a dial plan; see docs/dialplan.md to move it to dialPlan');
  return new DialPlan(dialPlanFromPrefixRoutes(config.proxy.routes));
}
