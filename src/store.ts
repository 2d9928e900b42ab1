/**
 * `switchboard/store`: Location and user stores: memory, SQLite, Redis.
 * @packageDocumentation
 */
export * from './store/index.js';
