/**
 * Dialog usages (RFC 5057): what runs within a dialog — invite sessions today; subscriptions
 * and publications next (`usage/subscription/`, `usage/publication/`).
 * @packageDocumentation
 */
export * from './invite/index.js';
