/**
 * `switchboard/content`: the bodies of event packages — PIDF presence documents, watcher
 * information, dialog-info — built and read as XML (docs/presence.md).
 * @packageDocumentation
 */
export * from './content/index.js';
