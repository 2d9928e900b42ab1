/**
 * `switchboard/dialog`: Dialogs (RFC 3261 §12).
 * @packageDocumentation
 */
export * from './dialog/index.js';
