/**
 * Subscription usages (RFC 6665): today the implicit subscription of REFER (RFC 3515); presence
 * and the other event packages come with the presence server.
 * @packageDocumentation
 */
export { ReferNotifier, type ReferTo, isReferNotify, readReferTo, sendRefer, sipfrag, sipfragStatus, type ReferOutcome } from './refer.js';
export { type NotifyContent, ServerSubscription, type ServerSubscriptionState, type SubscriptionRecord, type TerminationReason, parseEvent } from './server-subscription.js';
export { ClientSubscription, type ClientSubscriptionInit, type SubscriptionNotify, parseSubscriptionState } from './client-subscription.js';
