/**
 * Dialog usages (RFC 5057): what runs within a dialog — invite sessions, the implicit
 * subscription of REFER; presence subscriptions and publications next.
 * @packageDocumentation
 */
export * from './invite/index.js';
export * from './subscription/index.js';
