/**
 * Switchboard: a SIP (RFC 3261) stack and servers in TypeScript.
 * The package root re-exports the public API of each layer.
 * @packageDocumentation
 */
export * from './sip/index.js';
