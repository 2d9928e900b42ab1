/**
 * Layer 2: transport (RFC 3261 §18, RFC 3581, RFC 3263, RFC 7118).
 * @packageDocumentation
 */
export * from './transport.js';
export { TransportLayer, responseTarget, statelessToTag, type TransportLayerOptions, type TraceEvent, type BoundListener, type ReceivedInfo, type TransportStats } from './transport-layer.js';
export { type FaultReport, describeFault, faultChannel, limitLines } from './fault.js';
export { type DatagramSocket, type Network, realNetwork } from './network.js';
export { VirtualNetwork, type LinkConditions, type NetworkStats } from './virtual-network.js';
export { Resolver, type ResolverOptions, type ResolvedTarget } from './resolver.js';
