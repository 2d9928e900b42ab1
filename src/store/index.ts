/**
 * Persistence for the registrar/location service and the digest user store.
 *
 * @remarks Store layer (`store/`), a leaf: node built-ins, better-sqlite3 and ioredis only.
 */
export type { ApplyOptions, ApplyResult, Binding, BindingChange, LocationEvent, LocationEventKind, LocationListener } from './binding.js';
export { compareBindings, copyBinding, sortBindings, validateBinding } from './binding.js';
export type { LocationStore, LocationStoreOptions, Plan } from './location-store.js';
export { ChangeEmitter, planApply, planSave } from './location-store.js';
export { MemoryLocationStore, StoreFullError, type MemoryLocationStoreOptions } from './memory-location-store.js';
export { SqliteLocationStore } from './sqlite-location-store.js';
export { RedisLocationStore, type RedisLocationStoreOptions } from './redis-location-store.js';
export type { CsvUser, Ha1Algorithm, Ha1Pair, UserStore } from './user-store.js';
export { computeHa1, ha1Pair, parseUserCsv } from './user-store.js';
export { MemoryUserStore, type UserEntry } from './memory-user-store.js';
export { SqliteUserStore } from './sqlite-user-store.js';
export { RedisUserStore, type RedisUserStoreOptions } from './redis-user-store.js';
export { openSqlite, type SqliteDatabase, type SqliteSource } from './sqlite-db.js';
export type { RedisClient, RedisSource, RedisTarget } from './redis-client.js';
export { REDIS_URL_RE, connectRedis, createRedisClient, redactUrl, redisOptionsFromUrl } from './redis-client.js';
export { openStores, type StoreSpec, type Stores } from './open-store.js';
export { type CallDetailRecord, type CdrStore, DEFAULT_MAX_CDRS, MemoryCdrStore, RedisCdrStore, SqliteCdrStore } from './cdr-store.js';
export { type EventRecord, type EventStore, MemoryEventStore, RedisEventStore, SqliteEventStore, type StoredMessage } from './event-store.js';
