/**
 * Layer 4: UAC/UAS cores (RFC 3261 §8) — and, in a later step, the proxy core (§16).
 * @packageDocumentation
 */
export { UserAgentCore, type UserAgentCoreOptions, type Target, type SendOptions } from './user-agent-core.js';
export { StatelessProxy } from './stateless-proxy.js';
export { MAX_FAILURE_ROUNDS, ProxyCore, loopHash, type ProxyCoreOptions, type ProxyHooks, type ProxyPolicy, type ProxyTarget, type TargetDecision } from './proxy-core.js';
