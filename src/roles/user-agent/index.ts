/**
 * The user agent role.
 * @packageDocumentation
 */
export { UserAgent, type UserAgentOptions, type RequestOptions, type InviteOptions, type IncomingRequest, type Credentials } from './user-agent.js';
export { Call, type CallState } from './call.js';
export { IncomingCall } from './incoming-call.js';
export { grantedExpires } from './registration.js';
export { redirectTargets } from './redirect.js';
