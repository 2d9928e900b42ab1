/**
 * `switchboard/registrar`: The registrar role (RFC 3261 §10) over a location service from `switchboard/store`.
 * @packageDocumentation
 */
export * from './roles/registrar/index.js';
