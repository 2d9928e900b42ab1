/**
 * `switchboard/user-agent`: The user agent (UAC and UAS, RFC 3261 §8): calls, registrations, requests. See docs/user-agent.md.
 * @packageDocumentation
 */
export * from './roles/user-agent/index.js';
