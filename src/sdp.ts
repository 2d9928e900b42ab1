/**
 * `switchboard/sdp`: SDP (RFC 4566) and the offer/answer model (RFC 3264).
 * @packageDocumentation
 */
export * from './sdp/index.js';
