/**
 * `switchboard/redirect`: The redirect server role (RFC 3261 §8.3.4, §21.3).
 * @packageDocumentation
 */
export * from './roles/redirect/index.js';
