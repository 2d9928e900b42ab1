/**
 * What an operator sees of one running server: the structured log of its significant events,
 * the trace bus with the recent-message buffer and the call log, Prometheus metrics, the HEP
 * export and the admin listener (API, web console, /metrics) — each only when configured, so a
 * server that nobody watches does no work for it.
 *
 * @remarks App layer (`app/`).
 */
import { CallLog, type CallSummary, HepExporter, type Logger, MessageBuffer, type MetricsSources, SwitchboardMetrics } from '../observability/index.js';
import type { Stores } from '../store/index.js';
import { type TraceEvent, type TransportLayer, describeFault } from '../transport/index.js';
import type { SipElement } from '../tu/index.js';
import { type AdminServer, startAdminServer } from './admin/admin-server.js';
import type { Config } from './config/config-schema.js';
import { workerMetrics } from './cluster.js';
import { MessageObserver } from './observer.js';
import { VERSION } from './version.js';

export interface Operations {
  readonly observer: MessageObserver;
  readonly calls?: CallLog;
  readonly metrics?: SwitchboardMetrics;
  readonly admin?: AdminServer;
  readonly hep?: HepExporter;
  /** An authentication failure (the digest verifier's report). */
  authFailed(f: { reason: string; username: string; realm: string; source?: string }): void;
  close(): Promise<void>;
}

export interface OperationsInput {
  config: Config;
  transport: TransportLayer;
  element: SipElement;
  stores: Stores;
  logger: Logger;
  trace?: (ev: TraceEvent) => void;
  /** Event subscriptions served (the presence role), for the dialog gauge. */
  subscriptions?: () => number;
  /** The media relay's counts and instances (metrics). */
  mediaRelay?: MetricsSources['mediaRelay'];
  /** The B2BUA's legs are linked through this (leg A's Call-ID, leg B's). */
  roleOf?: (callId: string, origin: 'sent' | 'received') => string;
  reload: (body: { logLevel?: string }) => Promise<string[]>;
  /** This process is worker `index` of `count`: only worker 0 runs the admin listener. */
  worker?: { index: number; count: number };
}

/** Lines of one kind at most `max` per `windowMs`; what was held back is counted in the next line. */
export function rateLimited<A extends unknown[]>(write: (held: number, ...args: A) => void, max = 20, windowMs = 10_000): (...args: A) => void {
  let start = -Infinity;
  let passed = 0;
  let held = 0;
  return (...args: A) => {
    const t = Date.now();
    if (t - start >= windowMs) {
      start = t;
      passed = 0;
    }
    if (passed >= max) {
      held++;
      return;
    }
    passed++;
    write(held, ...args);
    held = 0;
  };
}

export async function startOperations(inp: OperationsInput): Promise<Operations> {
  const { config, transport, element, stores, logger } = inp;
  // With several workers, one admin listener (worker 0's): the workers share the store, so its
  // registrations are everyone's, but calls, messages and counters are its own (docs/operations.md).
  const adminOn = config.admin.listen !== undefined && (inp.worker?.index ?? 0) === 0;
  if (adminOn && inp.worker && inp.worker.count > 1) logger.warn({ workers: inp.worker.count }, `admin: served by worker 0 of ${inp.worker.count}: registrations are the shared store's and /metrics every worker's (label worker, and worker="all" for the sums); calls and messages are worker 0's only`);
  // The call log feeds the admin API and the info-level call lines; silent above info, it is not kept.
  const callsOn = adminOn || logger.isLevelEnabled('info');
  const calls = callsOn ? new CallLog({ roleOf: inp.roleOf }) : undefined;
  const buffer = adminOn && config.admin.messages.count > 0 ? new MessageBuffer({ count: config.admin.messages.count, bytes: config.admin.messages.bytes }) : undefined;
  // Every worker counts (worker 0's /metrics gathers them through the primary, cluster.ts).
  const metricsOn = config.admin.listen !== undefined && config.admin.metrics;
  const metrics = metricsOn
    ? new SwitchboardMetrics({
        transactions: () => element.transactions.size,
        registrations: async () => {
          const now = Date.now();
          return (await stores.location.all()).filter((b) => b.expires > now).length;
        },
        calls: () => calls?.counts() ?? { trying: 0, early: 0, confirmed: 0 },
        subscriptions: inp.subscriptions ?? (() => 0),
        connections: () => transport.connectionCount,
        parseErrors: () => transport.stats.rejected + transport.stats.dropped,
        mediaRelay: inp.mediaRelay,
      }, config.name ? { server: config.name } : {})
    : undefined;
  let hep: HepExporter | undefined;
  if (config.hep) {
    hep = new HepExporter({ target: config.hep.target, captureId: config.hep.captureId, password: config.hep.password });
    await hep.start();
    logger.info({ target: config.hep.target, captureId: config.hep.captureId }, `HEP: every message sent and received goes to ${config.hep.target} (capture id ${config.hep.captureId})`);
  }
  const observer = new MessageObserver(transport, { buffer, calls, metrics, export: hep ? (r) => hep!.export(r) : undefined, trace: inp.trace });

  // The significant events, one line each (docs/operations.md lists them).
  if (calls) {
    calls.onChange = (c: CallSummary) => {
      const fields = { event: 'call', callId: c.callId, from: c.from, to: c.to, role: c.role, state: c.state };
      if (c.state === 'trying') (c.messages === 1 ? logger.info.bind(logger) : logger.debug.bind(logger))(fields, `call ${c.from} -> ${c.to} started (${c.role})`);
      else if (c.state === 'confirmed') logger.debug(fields, `call ${c.from} -> ${c.to} answered`);
      else if (c.state === 'failed') (c.status === 401 || c.status === 407 ? logger.debug.bind(logger) : logger.info.bind(logger))({ ...fields, status: c.status, cause: c.reason }, `call ${c.from} -> ${c.to} failed: ${c.status} ${c.reason ?? ''}`.trimEnd());
      else if (c.state === 'ended') {
        const secs = c.answer && c.end ? Math.round((Date.parse(c.end) - Date.parse(c.answer)) / 1000) : undefined;
        logger.info({ ...fields, cause: c.reason, duration: secs }, `call ${c.from} -> ${c.to} ended: ${c.reason}${secs !== undefined ? ` after ${secs} s` : ''}`);
      } else logger.debug(fields, `call ${c.from} -> ${c.to} ${c.state} (${c.status})`);
    };
  }
  const unwatch = stores.location.onChange((ev) => {
    const fields = { event: 'registration', kind: ev.kind, aor: ev.aor, contact: ev.binding.contact, received: ev.binding.received, expires: Math.max(0, Math.round((ev.binding.expires - Date.now()) / 1000)) };
    if (ev.kind === 'refreshed') logger.debug(fields, `registration refreshed: ${ev.aor} at ${ev.binding.contact}`);
    else logger.info(fields, `registration ${ev.kind}: ${ev.aor} ${ev.kind === 'added' ? 'at' : 'was at'} ${ev.binding.contact}`);
  });
  const unwatchStore = stores.onHealthChange((h) => {
    if (h.up) logger.warn({ event: 'store', up: true }, `store: ${h.detail} reachable again`);
    else logger.error({ event: 'store', up: false }, `store: ${h.detail} — requests that need it are answered 503 (Retry-After 10) until it is back`);
  });
  const authLog = rateLimited((held: number, f: { reason: string; username: string; realm: string; source?: string }) =>
    logger.warn({ event: 'auth-failure', reason: f.reason, username: f.username, realm: f.realm, source: f.source, held }, `authentication failed for ${f.username}@${f.realm} from ${f.source ?? '?'}: ${f.reason === 'unknown-user' ? 'no such user' : 'wrong password'}`));
  const badLog = rateLimited((held: number, ev: { remote: string | undefined; error: unknown; answered: boolean }) =>
    logger.warn({ event: 'bad-message', source: ev.remote, held }, `${ev.answered ? 'refused' : 'dropped'} a malformed message from ${ev.remote ?? '?'}: ${(ev.error as Error)?.message ?? String(ev.error)}`));
  transport.onBadMessage = badLog;
  const undeliverableLog = rateLimited((held: number, req: { method: string; uriText: string; callId: string }, why: string) =>
    logger.warn({ event: 'undeliverable', callId: req.callId, held }, `${req.method} to ${req.uriText} could not be delivered (${why}): answered 480 Temporarily Unavailable`));
  element.onUndeliverable = (req, why) => undeliverableLog(req, why);
  const faultLog = rateLimited((held: number, line: string) => logger.error({ event: 'fault', held }, line));
  transport.onFault = (f) => faultLog(describeFault(f));

  const clusterMetrics = metrics && inp.worker && inp.worker.count > 1
    ? (() => {
        const cm = workerMetrics(inp.worker!.index, () => metrics.registry.getMetricsAsJSON());
        return { text: async () => (await cm.text()).text, contentType: metrics.contentType };
      })()
    : undefined;
  let admin: AdminServer | undefined;
  if (adminOn) {
    const startedAt = Date.now();
    admin = await startAdminServer({
      version: VERSION,
      roles: config.roles,
      startedAt,
      listeners: () => transport.boundListeners.map((l) => `${l.kind}:${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`),
      bindings: () => stores.location.all(),
      removeBindings: (aor, contact) => stores.location.remove(aor, contact),
      calls: calls!,
      messages: buffer ?? { messages: () => [], size: 0, bytes: 0 },
      onMessage: (l) => {
        observer.on('message', l);
        return () => observer.off('message', l);
      },
      transactions: () => ({ ...element.transactions.size, overloaded: element.transactions.overloadedCount }),
      metrics: metrics && inp.worker && inp.worker.count > 1 ? clusterMetrics! : metrics,
      reload: async (body) => {
        const lines = await inp.reload(body);
        for (const l of lines) logger.info({ event: 'reload' }, `POST /api/reload: ${l}`);
        return lines;
      },
    }, { listen: config.admin.listen!, token: config.admin.token, log: (line, fields) => logger.info(fields ?? {}, line) });
    if (!config.admin.token && !/^(127\.|\[?::1\]?|localhost)/.test(config.admin.listen!)) logger.warn({ listen: config.admin.listen }, `admin: listening on ${config.admin.listen} without a token: anyone who reaches it can read calls and remove registrations (set admin.token)`);
  }
  return {
    observer, calls, metrics, admin, hep,
    authFailed(f) {
      metrics?.authFailed(f.realm);
      authLog(f);
    },
    async close() {
      unwatch();
      unwatchStore();
      await admin?.close();
      metrics?.close();
      await hep?.close();
      transport.onTrace = undefined;
    },
  };
}
