/**
 * The redirect server role (3xx, "find me / follow me").
 * @packageDocumentation
 */
export { RedirectServer, type RedirectConfig, type RedirectRule } from './redirect-server.js';
export { RedirectUser } from './redirect-user.js';
