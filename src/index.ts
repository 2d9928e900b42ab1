/**
 * Switchboard: a SIP (RFC 3261) stack and servers in TypeScript.
 *
 * The package root has what most programs need: the syntax layer (`parseMessage`, the message
 * and header types), the user agent, and `createServer`. Each layer has its own entry point
 * as well: `switchboard/user-agent`, `/proxy`, `/registrar`, `/redirect`, `/server`, `/sdp`,
 * `/auth`, `/store`, `/transport`, `/transaction`, `/dialog`, `/tu`, `/sip`.
 * @packageDocumentation
 */
export * from './sip/index.js';
export { UserAgent, Call, IncomingCall, type UserAgentOptions, type RequestOptions, type InviteOptions, type IncomingRequest, type Credentials, type CallState } from './roles/user-agent/index.js';
export { createServer, startServer, type RunningServer, type StartOptions } from './app/server.js';
export type { ProxyHooks, ProxyTarget, TargetDecision } from './tu/index.js';
export { type Config, type ConfigInput, ConfigError, validateConfig } from './app/config/config-schema.js';
