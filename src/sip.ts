/**
 * `switchboard/sip`: The syntax layer (RFC 3261 §7, §19, §20, §25): parser, URIs, headers, builders.
 * @packageDocumentation
 */
export * from './sip/index.js';
