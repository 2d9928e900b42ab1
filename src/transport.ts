/**
 * `switchboard/transport`: The transport layer (RFC 3261 §18): UDP, TCP, TLS, WebSocket, RFC 3263 resolution.
 * @packageDocumentation
 */
export * from './transport/index.js';
