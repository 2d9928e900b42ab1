/**
 * Location store on Redis (ioredis). Every process using the same Redis (and key prefix) sees the
 * same bindings at once.
 *
 * Key layout (P = keyPrefix, default `sb:`; `{aor}` is a Redis Cluster hash tag, so both keys of
 * one AOR live in the same slot and one MULTI covers them):
 *
 *   P loc:{<aor>}      HASH   field = contact (byte-exact), value = JSON of the Binding
 *   P loc-exp:{<aor>}  ZSET   member = contact, score = absolute expiry (ms epoch)
 *   P loc:events       pub/sub channel: JSON `{ origin, events: LocationEvent[] }` after each write
 *
 * Both keys carry a TTL (PEXPIREAT) equal to the latest expiry of the AOR's bindings, so an AOR
 * whose bindings all lapsed disappears by itself; individual expired bindings are filtered by
 * `lookup` and deleted by `purgeExpired` (ZRANGEBYSCORE on the ZSET) or the next write.
 *
 * Writes are optimistic transactions: WATCH both keys, HGETALL, run the §10.3 step 7 plan,
 * MULTI/EXEC; retried when another writer got in between. WATCH state is per connection, so
 * transactions run on a small pool of dedicated connections.
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import { randomUUID } from 'node:crypto';
import type { ApplyOptions, ApplyResult, Binding, LocationEvent, LocationListener } from './binding.js';
import { bindingFromJson, bindingToJson, copyBinding, sortBindings, validateBinding } from './binding.js';
import type { LocationStore, LocationStoreOptions, Plan } from './location-store.js';
import { ChangeEmitter, DEFAULT_SWEEP_INTERVAL_MS, planApply, planSave } from './location-store.js';
import type { RedisClient, RedisSource } from './redis-client.js';
import { closeClient, ConnectionPool, connectRedis, escapeGlob, isCluster, scanKeys } from './redis-client.js';
import { StoreError } from '../util/errors.js';

export interface RedisLocationStoreOptions extends LocationStoreOptions {
  /** Prefix of every key and of the event channel. Default `sb:`. Must not contain `{`. */
  keyPrefix?: string;
  /** Dedicated connections for WATCH/MULTI transactions. Default 4. */
  txConnections?: number;
  /**
   * Also deliver to `onChange` listeners the events published by other processes (one extra
   * subscriber connection). Default false: listeners see this process's writes only.
   */
  subscribeEvents?: boolean;
  /** Attempts of one optimistic transaction under contention. Default 100. */
  maxRetries?: number;
}

type Decide = (current: Binding[]) => Plan | { abort: ApplyResult };

export class RedisLocationStore implements LocationStore {
  readonly prefix: string;
  /** Distinguishes this instance's events on the shared channel. */
  readonly origin = randomUUID();
  private readonly emitter = new ChangeEmitter();
  private readonly now: () => number;
  private readonly pool: ConnectionPool;
  private readonly maxRetries: number;
  private sweeper: NodeJS.Timeout | undefined;
  private subscriber: RedisClient | undefined;
  private closed = false;

  private constructor(private readonly client: RedisClient, private readonly owned: boolean, opts: RedisLocationStoreOptions) {
    this.prefix = opts.keyPrefix ?? 'sb:';
    if (this.prefix.includes('{')) throw new StoreError('STORE_ERR_CONFIG', 'keyPrefix must not contain "{" (it would change the Cluster hash tag)');
    this.now = opts.now ?? Date.now;
    this.pool = new ConnectionPool(client, Math.max(1, opts.txConnections ?? 4));
    this.maxRetries = opts.maxRetries ?? 100;
    const every = opts.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (every > 0) {
      this.sweeper = setInterval(() => void this.purgeExpired().catch(() => undefined), every);
      this.sweeper.unref();
    }
  }

  /** Connects to `source` (a `redis://` URL, or an ioredis instance which the store does not close). */
  static async open(source: RedisSource, opts: RedisLocationStoreOptions = {}): Promise<RedisLocationStore> {
    const { client, owned } = await connectRedis(source);
    let store: RedisLocationStore;
    try {
      store = new RedisLocationStore(client, owned, opts);
    } catch (e) {
      if (owned) await closeClient(client);
      throw e;
    }
    if (opts.subscribeEvents) await store.subscribe();
    return store;
  }

  /** The hash of an AOR's bindings. */
  hashKey(aor: string): string {
    return `${this.prefix}loc:{${aor}}`;
  }

  /** The sorted set of an AOR's expiry times. */
  expKey(aor: string): string {
    return `${this.prefix}loc-exp:{${aor}}`;
  }

  get channel(): string {
    return `${this.prefix}loc:events`;
  }

  private async subscribe(): Promise<void> {
    const sub: RedisClient = isCluster(this.client) ? this.client.duplicate() : this.client.duplicate();
    sub.on('error', () => undefined);
    this.subscriber = sub;
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      try {
        const m = JSON.parse(message) as { origin: string; events: LocationEvent[] };
        if (m.origin === this.origin) return;
        this.emitter.emit(m.events.map((e) => ({ aor: e.aor, kind: e.kind, binding: bindingFromJson(JSON.stringify(e.binding)) })));
      } catch {
        /* not ours */
      }
    });
    await sub.subscribe(this.channel);
  }

  private check(): void {
    if (this.closed) throw new StoreError('STORE_ERR_CLOSED', 'location store is closed');
  }

  private parse(raw: Record<string, string>): Binding[] {
    const out: Binding[] = [];
    for (const v of Object.values(raw)) {
      try {
        out.push(bindingFromJson(v));
      } catch {
        /* a corrupt entry is skipped, never fatal */
      }
    }
    return out;
  }

  async lookup(aor: string, now = this.now()): Promise<Binding[]> {
    this.check();
    return sortBindings(this.parse(await this.client.hgetall(this.hashKey(aor))).filter((b) => b.expires > now));
  }

  async bindings(aor: string): Promise<Binding[]> {
    this.check();
    return sortBindings(this.parse(await this.client.hgetall(this.hashKey(aor))));
  }

  /** One optimistic transaction on an AOR: WATCH, read, decide, MULTI/EXEC (retried on conflict). */
  private async txn(aor: string, decide: Decide): Promise<Plan | { abort: ApplyResult }> {
    const hk = this.hashKey(aor);
    const zk = this.expKey(aor);
    const conn = await this.pool.acquire();
    let healthy = true;
    try {
      for (let attempt = 0; attempt < this.maxRetries; attempt++) {
        await conn.watch(hk, zk);
        const current = this.parse(await conn.hgetall(hk));
        const plan = decide(current);
        if ('abort' in plan || (plan.put.length === 0 && plan.del.length === 0)) {
          await conn.unwatch();
          return plan;
        }
        const final = new Map(current.map((b) => [b.contact, b] as const));
        for (const b of plan.del) final.delete(b.contact);
        for (const b of plan.put) final.set(b.contact, b);
        const m = conn.multi();
        if (plan.del.length > 0) {
          const gone = plan.del.map((b) => b.contact);
          m.hdel(hk, ...gone);
          m.zrem(zk, ...gone);
        }
        for (const b of plan.put) {
          m.hset(hk, b.contact, bindingToJson(b));
          m.zadd(zk, Math.ceil(b.expires), b.contact);
        }
        if (final.size === 0) {
          m.del(hk, zk);
        } else {
          const maxExp = Math.ceil(Math.max(...[...final.values()].map((b) => b.expires)));
          m.pexpireat(hk, maxExp);
          m.pexpireat(zk, maxExp);
        }
        const res = await m.exec();
        if (res === null) continue; // a watched key changed: read again
        for (const [err] of res) if (err) throw err;
        this.publish(plan.events);
        return plan;
      }
      throw new StoreError('STORE_ERR_CONFLICT', `location store: gave up on ${JSON.stringify(aor)} after ${this.maxRetries} conflicting writes`);
    } catch (e) {
      healthy = false;
      throw e;
    } finally {
      if (healthy) this.pool.release(conn);
      else this.pool.discard(conn);
    }
  }

  private publish(events: LocationEvent[]): void {
    if (events.length === 0) return;
    this.emitter.emit(events);
    this.client.publish(this.channel, JSON.stringify({ origin: this.origin, events })).catch(() => undefined);
  }

  async save(b: Binding): Promise<void> {
    this.check();
    validateBinding(b);
    await this.txn(b.aor, (current) => planSave(current, b));
  }

  async apply(aor: string, ops: ApplyOptions): Promise<ApplyResult> {
    this.check();
    const r = await this.txn(aor, (current) => {
      const p = planApply(aor, current, ops);
      return p.ok ? p : { abort: p };
    });
    if ('abort' in r) return r.abort;
    return { ok: true, bindings: r.after.map(copyBinding) };
  }

  async remove(aor: string, contact?: string): Promise<number> {
    this.check();
    const r = (await this.txn(aor, (current) => {
      const gone = current.filter((b) => contact === undefined || b.contact === contact);
      return { put: [], del: gone, events: gone.map((b) => ({ aor, kind: 'removed' as const, binding: b })), after: [] };
    })) as Plan;
    return r.del.length;
  }

  removeAll(aor: string): Promise<number> {
    return this.remove(aor);
  }

  async listAors(): Promise<string[]> {
    this.check();
    const head = `${this.prefix}loc:{`;
    const keys = await scanKeys(this.client, `${escapeGlob(head)}*`);
    return keys
      .filter((k) => k.startsWith(head) && k.endsWith('}'))
      .map((k) => k.slice(head.length, -1))
      .sort();
  }

  async all(): Promise<Binding[]> {
    const out: Binding[] = [];
    for (const aor of await this.listAors()) out.push(...(await this.bindings(aor)));
    return out;
  }

  async purgeExpired(now = this.now()): Promise<number> {
    this.check();
    const head = `${this.prefix}loc-exp:{`;
    const keys = (await scanKeys(this.client, `${escapeGlob(head)}*`)).filter((k) => k.startsWith(head) && k.endsWith('}'));
    let n = 0;
    for (const key of keys) {
      const due = await this.client.zrangebyscore(key, '-inf', now, 'LIMIT', 0, 1);
      if (due.length === 0) continue;
      const aor = key.slice(head.length, -1);
      const r = (await this.txn(aor, (current) => {
        const gone = current.filter((b) => b.expires <= now);
        return { put: [], del: gone, events: gone.map((b) => ({ aor, kind: 'expired' as const, binding: b })), after: [] };
      })) as Plan;
      n += r.del.length;
    }
    return n;
  }

  onChange(listener: LocationListener): () => void {
    return this.emitter.on(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.emitter.clear();
    await this.pool.close();
    if (this.subscriber) await closeClient(this.subscriber);
    if (this.owned) await closeClient(this.client);
  }
}
