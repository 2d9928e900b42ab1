/**
 * The admin listener (`serve --admin HOST:PORT`, config `admin:`): one HTTP surface, built on
 * fastify with a JSON schema per route, for the CLI (`switchboard status|calls|registrations
 * --admin URL`), the web console it serves at `/`, and Prometheus (`GET /metrics`).
 *
 * Off by default; bound to loopback unless configured otherwise; with `admin.token` every API
 * route and `/metrics` wants `Authorization: Bearer TOKEN` (or `?token=` — the browser's
 * EventSource cannot send headers) and answers 401 without it. Live updates go out as
 * server-sent events from one timer per process, whatever the number of browsers.
 *
 * @remarks App layer (`app/admin`).
 */
import fs from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type CallSummary, type MessageRecord, endpoints } from '../../observability/index.js';
import type { Binding } from '../../store/index.js';
import { SipError } from '../../util/errors.js';

/** What the admin API reads and acts on (the running server gives it). */
export interface AdminSources {
  version: string;
  roles: string[];
  listeners: () => string[];
  startedAt: number;
  bindings(): Promise<Binding[]>;
  removeBindings(aor: string, contact?: string): Promise<number>;
  calls: {
    list(q?: string, limit?: number): CallSummary[];
    get(callId: string): CallSummary | undefined;
    legsOf(callId: string): string[];
    counts(): Record<'trying' | 'early' | 'confirmed', number>;
    readonly activeCount: number;
    readonly total: number;
    onChange: ((c: CallSummary) => void) | undefined;
  };
  messages: { messages(callId: string): readonly MessageRecord[]; readonly size: number; readonly bytes: number };
  /** Subscribes to every message (the SSE `message` events of a call page). */
  onMessage(listener: (r: MessageRecord) => void): () => void;
  transactions(): { clients: number; servers: number; overloaded: number };
  metrics?: { text(): Promise<string>; readonly contentType: string };
  /** Re-reads the configuration (routes, dial plan, users, TLS certificates, log level); lines saying what changed. */
  reload(body: { logLevel?: string }): Promise<string[]>;
}

export interface AdminOptions {
  listen: string;
  token?: string;
  log?: (line: string, fields?: Record<string, unknown>) => void;
}

export interface AdminServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** `HOST:PORT`, `[v6]:PORT` or a bare port (loopback). */
export function parseAdminListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))?:?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new SipError('ADMIN_ERR_LISTEN', `admin listen "${text}": expected HOST:PORT (e.g. 127.0.0.1:8080)`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

const CONSOLE_DIR = new URL('../../../console/', import.meta.url);

const callSchema = {
  type: 'object',
  properties: {
    callId: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' },
    state: { type: 'string', enum: ['trying', 'early', 'confirmed', 'ended', 'failed'] }, role: { type: 'string' },
    start: { type: 'string' }, answer: { type: 'string' }, end: { type: 'string' }, status: { type: 'integer' }, reason: { type: 'string' },
    legs: { type: 'array', items: { type: 'string' } }, messages: { type: 'integer' },
  },
  required: ['callId', 'from', 'to', 'state', 'role', 'start', 'legs', 'messages'],
} as const;

const messageSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' }, time: { type: 'string' }, ts: { type: 'number' }, direction: { type: 'string', enum: ['sent', 'received'] },
    transport: { type: 'string' }, local: { type: 'string' }, remote: { type: 'string' }, src: { type: 'string' }, dst: { type: 'string' },
    startLine: { type: 'string' }, method: { type: 'string' }, status: { type: 'integer' }, callId: { type: 'string' }, cseq: { type: 'string' },
    size: { type: 'integer' }, raw: { type: 'string' },
  },
  required: ['seq', 'time', 'ts', 'direction', 'transport', 'local', 'remote', 'src', 'dst', 'startLine', 'method', 'callId', 'cseq', 'size'],
} as const;

const registrationSchema = {
  type: 'object',
  properties: {
    aor: { type: 'string' }, contact: { type: 'string' }, expires: { type: 'integer' }, expiresAt: { type: 'string' }, q: { type: 'number' },
    received: { type: 'string' }, transport: { type: 'string' }, callId: { type: 'string' }, instanceId: { type: 'string' }, path: { type: 'array', items: { type: 'string' } },
  },
  required: ['aor', 'contact', 'expires', 'expiresAt', 'q'],
} as const;

const statsSchema = {
  type: 'object',
  properties: {
    version: { type: 'string' }, uptime: { type: 'integer' }, roles: { type: 'array', items: { type: 'string' } }, listeners: { type: 'array', items: { type: 'string' } },
    registrations: { type: 'integer' },
    calls: { type: 'object', properties: { active: { type: 'integer' }, total: { type: 'integer' }, trying: { type: 'integer' }, early: { type: 'integer' }, confirmed: { type: 'integer' } } },
    messages: { type: 'object', properties: { buffered: { type: 'integer' }, bytes: { type: 'integer' } } },
    transactions: { type: 'object', properties: { clients: { type: 'integer' }, servers: { type: 'integer' }, overloaded: { type: 'integer' } } },
    memory: { type: 'object', properties: { rss: { type: 'integer' }, heapUsed: { type: 'integer' } } },
  },
} as const;

const errorSchema = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;

/** A record as the API shows it (`raw` only where asked). */
export function messageView(r: MessageRecord, raw: boolean): Record<string, unknown> {
  const { src, dst } = endpoints(r);
  return {
    seq: r.seq, time: new Date(r.time).toISOString(), ts: r.time, direction: r.direction, transport: r.transport, local: r.local, remote: r.remote, src, dst,
    startLine: r.startLine, method: r.method, status: r.status, callId: r.callId, cseq: r.cseq, size: r.bytes.length,
    ...(raw ? { raw: r.bytes.toString('utf8') } : {}),
  };
}

function registrationView(b: Binding, now: number): Record<string, unknown> {
  return {
    aor: b.aor, contact: b.contact, expires: Math.max(0, Math.round((b.expires - now) / 1000)), expiresAt: new Date(b.expires).toISOString(), q: b.q,
    received: b.received, transport: b.received?.split(':')[0], callId: b.callId, instanceId: b.instanceId, path: b.path,
  };
}

export async function startAdminServer(src: AdminSources, opts: AdminOptions): Promise<AdminServer> {
  const { host, port } = parseAdminListen(opts.listen);
  // Unknown keys are refused, not silently dropped (additionalProperties: false means it).
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 64 * 1024, ajv: { customOptions: { removeAdditional: false } } });
  // A request the schemas refuse: 400 naming the problem (fastify's message), in our error shape.
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    const status = err.validation ? 400 : err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: err.message });
  });
  const token = opts.token ? Buffer.from(opts.token) : undefined;

  // RFC 6750 §2.1 bearer token; `?token=` for EventSource (the console) — compared in constant time.
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!token || !(req.url.startsWith('/api/') || req.url.startsWith('/metrics'))) return;
    const header = req.headers.authorization;
    const given = header?.startsWith('Bearer ') ? header.slice(7) : (req.query as Record<string, string> | undefined)?.token;
    const g = Buffer.from(given ?? '');
    if (g.length === token.length && timingSafeEqual(g, token)) return;
    opts.log?.('admin: refused a request without the right token', { url: req.url.split('?')[0], source: req.ip });
    return reply.code(401).header('WWW-Authenticate', 'Bearer realm="switchboard"').send({ error: 'a bearer token is required (admin.token)' });
  });

  const registrations = async () => {
    const now = Date.now();
    return (await src.bindings()).filter((b) => b.expires > now).map((b) => registrationView(b, now));
  };
  const stats = async () => {
    const counts = src.calls.counts();
    const mem = process.memoryUsage();
    return {
      version: src.version, uptime: Math.round((Date.now() - src.startedAt) / 1000), roles: src.roles, listeners: src.listeners(),
      registrations: (await registrations()).length,
      calls: { active: src.calls.activeCount, total: src.calls.total, ...counts },
      messages: { buffered: src.messages.size, bytes: src.messages.bytes },
      transactions: src.transactions(),
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
    };
  };

  app.get('/api/stats', { schema: { response: { 200: statsSchema } } }, stats);
  app.get('/api/registrations', { schema: { response: { 200: { type: 'object', properties: { registrations: { type: 'array', items: registrationSchema } } } } } }, async () => ({ registrations: await registrations() }));
  app.delete<{ Params: { aor: string }; Querystring: { contact?: string } }>('/api/registrations/:aor', {
    schema: {
      params: { type: 'object', properties: { aor: { type: 'string', minLength: 1 } }, required: ['aor'] },
      querystring: { type: 'object', properties: { contact: { type: 'string' }, token: { type: 'string' } } },
      response: { 200: { type: 'object', properties: { removed: { type: 'integer' } } }, 404: errorSchema },
    },
  }, async (req, reply) => {
    const removed = await src.removeBindings(req.params.aor, req.query.contact);
    opts.log?.(`admin: removed ${removed} binding${removed === 1 ? '' : 's'} of ${req.params.aor}`, { aor: req.params.aor, contact: req.query.contact });
    if (removed === 0) return reply.code(404).send({ error: `no binding of ${req.params.aor}${req.query.contact ? ` with contact ${req.query.contact}` : ''}` });
    return { removed };
  });
  app.get<{ Querystring: { q?: string; limit?: number } }>('/api/calls', {
    schema: {
      querystring: { type: 'object', properties: { q: { type: 'string', maxLength: 200 }, limit: { type: 'integer', minimum: 1, maximum: 5000, default: 200 }, token: { type: 'string' } } },
      response: { 200: { type: 'object', properties: { calls: { type: 'array', items: callSchema } } } },
    },
  }, async (req) => ({ calls: src.calls.list(req.query.q, req.query.limit) }));
  app.get<{ Params: { callId: string } }>('/api/calls/:callId', {
    schema: { params: { type: 'object', properties: { callId: { type: 'string', minLength: 1 } } }, response: { 200: callSchema, 404: errorSchema } },
  }, async (req, reply) => src.calls.get(req.params.callId) ?? reply.code(404).send({ error: `no call with Call-ID ${req.params.callId}` }));
  app.get<{ Params: { callId: string } }>('/api/calls/:callId/messages', {
    schema: {
      params: { type: 'object', properties: { callId: { type: 'string', minLength: 1 } } },
      response: { 200: { type: 'object', properties: { callId: { type: 'string' }, legs: { type: 'array', items: { type: 'string' } }, messages: { type: 'array', items: messageSchema } } }, 404: errorSchema },
    },
  }, async (req, reply) => {
    const legs = src.calls.legsOf(req.params.callId);
    const messages = legs.flatMap((id) => src.messages.messages(id)).sort((a, b) => a.seq - b.seq);
    if (messages.length === 0 && !src.calls.get(req.params.callId)) return reply.code(404).send({ error: `no messages with Call-ID ${req.params.callId} in the buffer` });
    return { callId: req.params.callId, legs, messages: messages.map((m) => messageView(m, true)) };
  });
  app.get('/api/transactions/summary', {
    schema: { response: { 200: { type: 'object', properties: { clients: { type: 'integer' }, servers: { type: 'integer' }, overloaded: { type: 'integer' } } } } },
  }, async () => src.transactions());
  app.post<{ Body: { logLevel?: string } | undefined }>('/api/reload', {
    schema: {
      body: { type: ['object', 'null'], properties: { logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] } }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { reloaded: { type: 'array', items: { type: 'string' } } } }, 400: errorSchema },
    },
  }, async (req, reply) => {
    try {
      return { reloaded: await src.reload(req.body ?? {}) };
    } catch (e) {
      return reply.code(400).send({ error: (e as Error).message });
    }
  });
  if (src.metrics) {
    const metrics = src.metrics;
    app.get('/metrics', async (_req, reply) => reply.header('Content-Type', metrics.contentType).send(await metrics.text()));
  }

  // Server-sent events: registrations (whole list, when it changes), calls (each change), stats,
  // and with ?callId= that call's messages. One timer per process serves every browser.
  const clients = new Set<{ res: ServerResponse; callId?: string; legs?: Set<string> }>();
  const send = (res: ServerResponse, event: string, data: unknown) => void res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let lastRegistrations = '';
  let tick = 0;
  const timer = setInterval(() => {
    if (clients.size === 0) return;
    tick++;
    void registrations().then((list) => {
      // Changed = a binding added, removed or refreshed; the seconds left count down by themselves.
      const text = JSON.stringify(list.map((b) => ({ ...b, expires: undefined })));
      if (text !== lastRegistrations) {
        lastRegistrations = text;
        for (const c of clients) send(c.res, 'registrations', { registrations: list });
      }
    }, () => undefined);
    if (tick % 5 === 0) void stats().then((s) => { for (const c of clients) send(c.res, 'stats', s); }, () => undefined);
    for (const c of clients) c.res.write(': keep-alive\n\n');
  }, 1000);
  timer.unref();
  const previousOnChange = src.calls.onChange;
  src.calls.onChange = (call) => {
    previousOnChange?.(call);
    for (const c of clients) {
      send(c.res, 'call', call);
      if (c.callId && call.legs.includes(c.callId)) for (const id of call.legs) c.legs!.add(id);
    }
  };
  const unsubscribe = src.onMessage((r) => {
    for (const c of clients) if (c.legs?.has(r.callId)) send(c.res, 'message', messageView(r, false));
  });
  app.get<{ Querystring: { callId?: string } }>('/api/events', {
    schema: { querystring: { type: 'object', properties: { callId: { type: 'string' }, token: { type: 'string' } } } },
  }, async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    const client = { res, callId: req.query.callId, legs: req.query.callId ? new Set(src.calls.legsOf(req.query.callId)) : undefined };
    clients.add(client);
    req.raw.on('close', () => clients.delete(client));
    send(res, 'registrations', { registrations: await registrations() });
    send(res, 'stats', await stats());
  });

  // The console: index.html for its pages, its bundle under /assets/.
  const consoleFile = (name: string) => {
    try {
      return fs.readFileSync(new URL(name, CONSOLE_DIR));
    } catch {
      return undefined;
    }
  };
  const index = async (_req: FastifyRequest, reply: FastifyReply) => {
    const html = consoleFile('index.html');
    if (!html) return reply.code(503).type('text/plain').send('the web console is not built: run `npm run build`\n');
    return reply.type('text/html; charset=utf-8').send(html);
  };
  app.get('/', index);
  app.get('/calls/*', index);
  const types: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', map: 'application/json', svg: 'image/svg+xml', png: 'image/png' };
  app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
    const file = req.params.file;
    const data = /^[\w.-]+$/.test(file) ? consoleFile(file) : undefined;
    if (!data) return reply.code(404).send({ error: `no asset ${file}` });
    return reply.type(types[file.split('.').pop() ?? ''] ?? 'application/octet-stream').send(data);
  });

  try {
    await app.listen({ host, port });
  } catch (e) {
    throw new SipError('ADMIN_ERR_LISTEN', `admin: cannot listen on ${opts.listen}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr : { address: host, port };
  opts.log?.(`admin: listening on http://${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}/${token ? ' (bearer token required)' : ''}`);
  return {
    address: bound.address,
    port: bound.port,
    async close() {
      clearInterval(timer);
      unsubscribe();
      src.calls.onChange = previousOnChange;
      for (const c of clients) c.res.end();
      clients.clear();
      await app.close();
    },
  };
}
