/**
 * `switchboard/dialplan`: IOS dial-peers — number patterns, hunt order, translation rules, and the
 * reader of IOS configuration text (docs/dialplan.md).
 * @packageDocumentation
 */
export * from './dialplan/index.js';
