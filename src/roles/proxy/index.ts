/**
 * The proxy role: routing policy for the stateful proxy core (RFC 3261 §16).
 * @packageDocumentation
 */
export { ProxyRoutingPolicy, type ProxyPolicyConfig, type ProxyPolicyDeps, type PrefixRoute } from './proxy-policy.js';
export { type RoutingContext } from './proxy-policy.js';
