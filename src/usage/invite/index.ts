/**
 * The invite usage (RFC 3261 §13–§15, RFC 5057): sessions as UAC and UAS.
 * @packageDocumentation
 */
export { InviteSession, type InviteSessionEnv, type InviteSessionState, type ReOffer } from './invite-session.js';
export { ClientInviteSession, type ClientSessionEnv } from './client-invite-session.js';
export { ServerInviteSession, type ServerSessionEnv } from './server-invite-session.js';
export { SessionOfferAnswer, type OfferCarrier } from './session-offer-answer.js';
export { TwoXxRetransmitter } from './retransmit-2xx.js';
export { ReliableProvisionals, parseRAck, requires100rel, type RAck } from './reliable-provisional.js';
export { ABSOLUTE_MIN_SE, DEFAULT_SESSION_TIMER, SessionTimer, parseMinSE, parseSessionExpires, tooSmall, uacSessionTimer, uacSessionTimerHeaders, uasSessionTimer, type Refresher, type SessionTimerSettings } from './session-timer.js';
