/**
 * Redis plumbing shared by the Redis stores: connecting from a URL or adopting an ioredis
 * instance (standalone, Sentinel-managed or Cluster), SCAN over every master, glob escaping, and
 * a small pool of dedicated connections for WATCH/MULTI transactions (WATCH is per connection,
 * so concurrent transactions must not share one).
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;
/** `redis://[user:pass@]host:port[/db]`, `rediss://…`, or an ioredis `Redis` / `Cluster` instance. */
export type RedisSource = string | RedisClient;

export function isCluster(c: RedisClient): c is Cluster {
  return (c as { isCluster?: boolean }).isCluster === true;
}

/** Connects (or adopts) a client and waits until it is ready; rejects with a readable error. */
export async function connectRedis(src: RedisSource): Promise<{ client: RedisClient; owned: boolean }> {
  if (typeof src !== 'string') {
    if (src.status === 'wait') await src.connect();
    return { client: src, owned: false };
  }
  if (!/^rediss?:\/\//.test(src)) throw new Error(`not a Redis URL: ${src} (expected redis://host:port)`);
  const client = new Redis(src, { lazyConnect: true, maxRetriesPerRequest: 3, connectTimeout: 5000, enableOfflineQueue: true });
  // Without a listener ioredis prints connection errors to stderr ("Unhandled error event").
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    client.disconnect();
    throw new Error(`cannot connect to ${redactUrl(src)}: ${(e as Error).message}`);
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
    if (this.closed) throw new Error('redis store is closed');
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
