/**
 * The proxy role: routing policy for the stateful proxy core (RFC 3261 §16).
 * @packageDocumentation
 */
export { ProxyRoutingPolicy, type ProxyPolicyConfig, type ProxyPolicyDeps } from './proxy-policy.js';
export { type DialPlanRouting, dialPlanFromPrefixRoutes, huntCause, routeByDialPlan, telephoneNumber } from './dial-plan-routing.js';
export { type RoutingContext } from './proxy-policy.js';
