/**
 * `switchboard/usage`: dialog usages (RFC 5057) — invite sessions as UAC and UAS, with their
 * offer/answer state.
 * @packageDocumentation
 */
export * from './usage/index.js';
