/**
 * Layer 4: the SIP element and its transaction users — the UAC and UAS cores (RFC 3261 §8), the
 * method router, the proxy core (§16) and the stateless proxy (§16.11).
 * @packageDocumentation
 */
export { SipElement, type SipElementOptions, type TransactionUser } from './element.js';
export { MethodRouter, type RouteRule, type RouterContext } from './method-router.js';
export { UacCore, type Target, type SendOptions, type SendResult, type Credentials } from './uac-core.js';
export { UasCore, type UasPolicy, type StatelessAnswer, type ResponseOptions } from './uas-core.js';
export { OptionsUas } from './options-uas.js';
export { StatelessProxy } from './stateless-proxy.js';
export { type Hunt, MAX_FAILURE_ROUNDS, ProxyCore, type ProxyCoreOptions, type ProxyHooks, type ProxyMediaRelay, type ProxyPolicy, type ProxyTarget, type TargetDecision } from './proxy-core.js';
export { loopHash } from './proxy-forwarding.js';
export { REQUEST_VALIDATION, STATELESS_VALIDATION, runChain, type ProcessorResult, type RequestProcessor, type ValidationContext } from './proxy-pipeline.js';
export { isPrivateAddress, natReason } from './nat-detect.js';
