/**
 * `switchboard/proxy`: The proxy role's routing policy (RFC 3261 §16); the proxy core it drives is in `switchboard/tu`.
 * @packageDocumentation
 */
export * from './roles/proxy/index.js';
