/**
 * `switchboard/dialog`: Dialogs (RFC 3261 §12): the dialog, the set one INVITE forks into, the next hop, the queue of local operations.
 * @packageDocumentation
 */
export * from './dialog/index.js';
