/**
 * Opening the configured stores: `memory`, `sqlite` (one database file holds every table) or a
 * Redis URL (one connection shared by every store).
 *
 * @remarks Store layer (`store/`), a leaf.
 */
import type { LocationStore } from './location-store.js';
import type { UserStore } from './user-store.js';
import { MemoryLocationStore } from './memory-location-store.js';
import { MemoryUserStore } from './memory-user-store.js';
import { SqliteLocationStore } from './sqlite-location-store.js';
import { SqliteUserStore } from './sqlite-user-store.js';
import { openSqlite } from './sqlite-db.js';
import type { SqliteLocking } from './sqlite-db.js';
import { RedisLocationStore } from './redis-location-store.js';
import { RedisUserStore } from './redis-user-store.js';
import { REDIS_URL_RE, type RedisClient, closeClient, connectRedis, redactUrl } from './redis-client.js';
import { StoreError } from '../util/errors.js';
import { type CdrStore, MemoryCdrStore, RedisCdrStore, SqliteCdrStore } from './cdr-store.js';
import { type EventStore, MemoryEventStore, RedisEventStore, SqliteEventStore } from './event-store.js';

export interface StoreSpec {
  /** `memory`, `sqlite`, or a Redis URL: `redis://host:port[/db]`, `rediss://…`, `redis-sentinel://host:port/MASTER`, `redis-cluster://host:port,…`. */
  store: 'memory' | 'sqlite' | `redis://${string}` | `rediss://${string}` | (string & {});
  /** SQLite file. Default `./switchboard.db`. */
  dbPath?: string;
  /** SQLite file sharing (see `SqliteLocking`). Default `shared`. */
  dbLocking?: SqliteLocking;
  /** SQLite group commit window for registrations, ms (see `SqliteLocationStoreOptions`). Default 0. */
  dbCommitDelayMs?: number;
  /** Redis key prefix. Default `sb:`. */
  redisPrefix?: string;
  /** Clock for expiry decisions. Default Date.now. */
  now?: () => number;
  /** Background purge period, ms (0 disables). Default 30 000. */
  sweepIntervalMs?: number;
  /** Memory store bound. Default 1 000 000. */
  maxBindings?: number;
  /** Redis: deliver other processes' location events to local listeners. Default false. */
  subscribeEvents?: boolean;
}

export interface Stores {
  location: LocationStore;
  users: UserStore;
  /** Call detail records (the B2BUA writes one per call). */
  cdrs: CdrStore;
  /** Subscriptions, publications and offline messages (the presence role). */
  events: EventStore;
  /**
   * Can the stores be reached now? Always for memory and SQLite; for Redis, false from the
   * moment the connection is lost until it is ready again (commands then fail at once rather
   * than wait in a queue: a client is better served by a prompt 503 and another server).
   */
  health(): StoreHealth;
  /** Told once per change of {@link health}. */
  onHealthChange(listener: (h: StoreHealth) => void): () => void;
  /** Closes both stores and the shared database/connection. */
  close(): Promise<void>;
}

export interface StoreHealth {
  up: boolean;
  /** What is stored where (`redis://host:6379`, password hidden), and why it is down. */
  detail: string;
}

const ALWAYS_UP = { health: (): StoreHealth => ({ up: true, detail: 'local' }), onHealthChange: () => () => {} };

export async function openStores(spec: StoreSpec): Promise<Stores> {
  const common = { now: spec.now, sweepIntervalMs: spec.sweepIntervalMs };
  if (spec.store === 'memory') {
    const location = new MemoryLocationStore({ ...common, maxBindings: spec.maxBindings });
    const users = new MemoryUserStore();
    return { location, users, cdrs: new MemoryCdrStore(), events: new MemoryEventStore(spec.now), ...ALWAYS_UP, close: async () => void (await Promise.all([location.close(), users.close()])) };
  }
  if (spec.store === 'sqlite') {
    const db = openSqlite(spec.dbPath ?? './switchboard.db', spec.dbLocking);
    try {
      const location = new SqliteLocationStore(db, { ...common, commitDelayMs: spec.dbCommitDelayMs });
      const users = new SqliteUserStore(db);
      const cdrs = new SqliteCdrStore(db);
      const events = new SqliteEventStore(db, spec.now);
      let closed = false;
      return {
        location,
        users,
        cdrs,
        events,
        ...ALWAYS_UP,
        close: async () => {
          if (closed) return;
          closed = true;
          await location.close();
          await users.close();
          db.close();
        },
      };
    } catch (e) {
      db.close();
      throw e;
    }
  }
  if (REDIS_URL_RE.test(spec.store)) {
    const { client } = await connectRedis(spec.store);
    try {
      const keyPrefix = spec.redisPrefix ?? 'sb:';
      const location = await RedisLocationStore.open(client, { ...common, keyPrefix, subscribeEvents: spec.subscribeEvents });
      const users = await RedisUserStore.open(client, { keyPrefix });
      const cdrs = new RedisCdrStore(client, keyPrefix);
      const events = new RedisEventStore(client, keyPrefix, spec.now);
      const watch = watchRedisHealth(client, redactUrl(spec.store));
      let closed = false;
      return {
        location,
        users,
        cdrs,
        events,
        health: watch.health,
        onHealthChange: watch.onHealthChange,
        close: async () => {
          if (closed) return;
          closed = true;
          await location.close();
          await users.close();
          await closeClient(client);
        },
      };
    } catch (e) {
      await closeClient(client);
      throw e;
    }
  }
  throw new StoreError('STORE_ERR_URL', `unknown store ${JSON.stringify(spec.store)} (expected memory, sqlite, redis://host:port, redis-sentinel://host:port/master or redis-cluster://host:port)`);
}

/**
 * Follows a Redis connection: down at its first error or close, up when ready again, each change
 * told once (not every reconnect attempt). While down, new commands fail at once instead of
 * waiting in ioredis's offline queue.
 */
function watchRedisHealth(client: RedisClient, where: string): Pick<Stores, 'health' | 'onHealthChange'> {
  let state: StoreHealth = { up: true, detail: where };
  const listeners = new Set<(h: StoreHealth) => void>();
  const set = (next: StoreHealth) => {
    if (next.up === state.up) return;
    state = next;
    client.options.enableOfflineQueue = next.up;
    for (const l of listeners) l(state);
  };
  client.options.enableOfflineQueue = true;
  let lastError = '';
  client.on('error', (e: NodeJS.ErrnoException) => {
    lastError = e.code ?? e.message;
    set({ up: false, detail: `${where}: ${lastError}` });
  });
  client.on('close', () => set({ up: false, detail: `${where}: ${lastError || 'connection closed'}` }));
  client.on('ready', () => set({ up: true, detail: where }));
  return {
    health: () => state,
    onHealthChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
}
