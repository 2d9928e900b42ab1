/**
 * Redis plumbing shared by the Redis stores: connecting from a URL or adopting an ioredis
 * instance (standalone, Sentinel-managed or Cluster), SCAN over every master, glob escaping, and
 * a small pool of dedicated connections for WATCH/MULTI transactions (WATCH is per connection,
 * so concurrent transactions must not share one).
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import { Cluster, Redis } from 'ioredis';
import { StoreError } from '../util/errors.js';

export type RedisClient = Redis | Cluster;
/**
 * Where the stores' Redis is: a URL (see {@link redisOptionsFromUrl}) or an ioredis `Redis` /
 * `Cluster` instance.
 */
export type RedisSource = string | RedisClient;

export function isCluster(c: RedisClient): c is Cluster {
  return (c as { isCluster?: boolean }).isCluster === true;
}

/** The URL schemes the stores accept, as a pattern for config validation. */
export const REDIS_URL_RE = /^(rediss?|redis-sentinel|redis-cluster):\/\/[^\s]+$/;

/** What a Redis URL asks for: one server, a Sentinel-managed master, or a Cluster. */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: Array<{ host: string; port: number }>; name: string; password?: string; db: number }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; password?: string };

/** `host:port` pairs separated by commas, IPv6 in brackets; the port defaults to `dflt`. */
function hostList(text: string, dflt: number, url: string): Array<{ host: string; port: number }> {
  const out: Array<{ host: string; port: number }> = [];
  for (const item of text.split(',')) {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(item);
    const port = m?.[3] === undefined ? dflt : Number(m[3]);
    if (!m || port < 1 || port > 65535) throw new StoreError('STORE_ERR_URL', `bad host:port '${item}' in ${redactUrl(url)}`);
    out.push({ host: m[1] ?? m[2]!, port });
  }
  return out;
}

/**
 * Reads a store URL:
 * - `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS): one server;
 * - `redis-sentinel://[:pass@]host:port[,host:port…]/MASTER[/db]`: the master that the Sentinels
 *   (default port 26379) name MASTER — ioredis asks them for its address and asks again after a
 *   failover;
 * - `redis-cluster://[:pass@]host:port[,host:port…]`: a Redis Cluster, from any of its nodes.
 * @throws Error naming the problem (the password is never echoed).
 */
export function redisOptionsFromUrl(url: string): RedisTarget {
  if (/^rediss?:\/\//.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new StoreError('STORE_ERR_URL', `not a Redis URL: ${redactUrl(url)} (expected redis://host:port[/db], the port 1-65535)`);
    }
    if (u.hostname === '') throw new StoreError('STORE_ERR_URL', `no host in ${redactUrl(url)}`);
    return { kind: 'single', url };
  }
  const m = /^(redis-sentinel|redis-cluster):\/\/(?:([^@/]*)@)?([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new StoreError('STORE_ERR_URL', `not a Redis URL: ${redactUrl(url)} (expected redis://host:port, redis-sentinel://host:port/master or redis-cluster://host:port,…)`);
  const auth = m[2];
  const password = auth === undefined ? undefined : decodeURIComponent(auth.slice(auth.indexOf(':') + 1));
  if (m[1] === 'redis-cluster') {
    if (m[4]) throw new StoreError('STORE_ERR_URL', `redis-cluster:// takes no path (a Cluster has only database 0): ${redactUrl(url)}`);
    return { kind: 'cluster', nodes: hostList(m[3]!, 6379, url), password };
  }
  const path = (m[4] ?? '').split('/');
  const name = decodeURIComponent(path[0] ?? '');
  if (name === '') throw new StoreError('STORE_ERR_URL', `redis-sentinel:// needs the master's name: redis-sentinel://host:port/NAME (${redactUrl(url)})`);
  const db = path[1] === undefined || path[1] === '' ? 0 : Number(path[1]);
  if (!Number.isInteger(db) || db < 0) throw new StoreError('STORE_ERR_URL', `bad database number '${path[1]}' in ${redactUrl(url)}`);
  return { kind: 'sentinel', sentinels: hostList(m[3]!, 26379, url), name, password, db };
}

/** A new, not yet connected client for a store URL. */
export function createRedisClient(url: string, options: { maxRetriesPerRequest?: number; connectTimeout?: number } = {}): RedisClient {
  const t = redisOptionsFromUrl(url);
  const common = { lazyConnect: true, maxRetriesPerRequest: options.maxRetriesPerRequest ?? 3, connectTimeout: options.connectTimeout ?? 5000, enableOfflineQueue: true };
  if (t.kind === 'single') return new Redis(t.url, common);
  if (t.kind === 'sentinel') return new Redis({ ...common, sentinels: t.sentinels, name: t.name, password: t.password, db: t.db });
  return new Cluster(t.nodes, { lazyConnect: true, redisOptions: { ...common, password: t.password } });
}

/** Connects (or adopts) a client and waits until it is ready; rejects with a readable error. */
export async function connectRedis(src: RedisSource): Promise<{ client: RedisClient; owned: boolean }> {
  if (typeof src !== 'string') {
    if (src.status === 'wait') await src.connect();
    return { client: src, owned: false };
  }
  const client = createRedisClient(src);
  // Without a listener ioredis prints connection errors to stderr ("Unhandled error event");
  // the last one says why a connect failed (ECONNREFUSED …) where the rejection only says
  // "Connection is closed.".
  let cause: string | undefined;
  client.on('error', (e: Error) => {
    cause = (e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code} ${e.message.replace(/^connect \S+ /, '')}`.trim() : e.message;
  });
  try {
    await client.connect();
  } catch (e) {
    client.disconnect();
    throw new StoreError('STORE_ERR_CONNECT', `cannot connect to ${redactUrl(src)}: ${cause ?? (e as Error).message}`);
  }
  return { client, owned: true };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):([^@/]*)@/, '//$1:***@');
}

/** Escapes Redis glob metacharacters so `s` matches literally in SCAN MATCH. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\^]/g, (c) => `\\${c}`);
}

/** Every key matching `pattern` (SCAN, on every master of a Cluster). */
export async function scanKeys(client: RedisClient, pattern: string): Promise<string[]> {
  const nodes: Redis[] = isCluster(client) ? client.nodes('master') : [client];
  const out = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const k of keys) out.add(k);
    } while (cursor !== '0');
  }
  return [...out];
}

/** Quit politely, then force. */
export async function closeClient(c: RedisClient): Promise<void> {
  try {
    await Promise.race([c.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    /* already closed */
  }
  c.disconnect();
}

/** A bounded pool of dedicated connections (duplicates of the base client). */
export class ConnectionPool {
  private readonly idle: RedisClient[] = [];
  private readonly waiters: Array<(c: RedisClient) => void> = [];
  private readonly everyone = new Set<RedisClient>();
  private closed = false;

  constructor(private readonly base: RedisClient, private readonly size: number) {}

  async acquire(): Promise<RedisClient> {
    if (this.closed) throw new StoreError('STORE_ERR_CLOSED', 'redis store is closed');
    const c = this.idle.pop();
    if (c) return c;
    if (this.everyone.size < this.size) {
      const d: RedisClient = isCluster(this.base) ? this.base.duplicate() : this.base.duplicate();
      d.on('error', () => undefined);
      this.everyone.add(d);
      return d;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(c: RedisClient): void {
    const w = this.waiters.shift();
    if (w) w(c);
    else this.idle.push(c);
  }

  /** Drops a connection left in an unknown state (e.g. a WATCH after an error). */
  discard(c: RedisClient): void {
    this.everyone.delete(c);
    c.disconnect();
    const w = this.waiters.shift();
    if (w) void this.acquire().then(w, () => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.everyone].map((c) => closeClient(c)));
    this.everyone.clear();
    this.idle.length = 0;
  }
}
