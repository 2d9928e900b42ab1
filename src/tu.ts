/**
 * `switchboard/tu`: Transaction users: the UAC/UAS cores (RFC 3261 §8) and the proxy core (§16).
 * @packageDocumentation
 */
export * from './tu/index.js';
