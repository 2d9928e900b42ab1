/**
 * `switchboard/transaction`: The four transaction state machines (RFC 3261 §17) and their timer table.
 * @packageDocumentation
 */
export * from './transaction/index.js';
