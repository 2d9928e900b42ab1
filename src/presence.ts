/**
 * `switchboard/presence`: the presence role — the event server (RFC 6665), presence with PUBLISH,
 * watcher information, the dialog package, offline instant messages (docs/presence.md).
 * @packageDocumentation
 */
export * from './roles/presence/index.js';
