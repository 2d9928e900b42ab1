/**
 * Dialogs (RFC 3261 §12).
 * @packageDocumentation
 */
export { Dialog, dialogId, type DialogState, type DialogInit } from './dialog.js';
export { DialogTable } from './dialog-table.js';
