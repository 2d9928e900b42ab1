/**
 * Dialogs (RFC 3261 §12): a dialog, the set one INVITE forks into, the next hop of a request,
 * and the queue of local operations within a dialog.
 * @packageDocumentation
 */
export { Dialog, dialogId, type DialogState, type DialogInit } from './dialog.js';
export { DialogTable } from './dialog-table.js';
export { DialogSet } from './dialog-set.js';
export { nextHop } from './route-set.js';
export { OperationQueue } from './operation-queue.js';
export { type ReplacesTarget, parseReplaces, replacesFor, referToReplacing, splitUriHeaders } from './replaces.js';
