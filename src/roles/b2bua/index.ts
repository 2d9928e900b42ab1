/**
 * The B2BUA role (handbook §7.4): two call legs, each an invite session, and the bridge between them.
 * @packageDocumentation
 */
export { B2bua } from './b2bua.js';
export { B2buaCall, type B2buaCallConfig, type BridgeState, type CallOutcome } from './b2bua-call.js';
export { bridgedAnswer, codecNames, mediaOf, sideOf } from './sdp-policy.js';
