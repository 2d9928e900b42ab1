/**
 * The gateway role: the handbook's SIP gateway — registers its numbers, answers the calls its
 * inbound dial-peers take.
 * @packageDocumentation
 */
export { Gateway, type GatewayConfig } from './gateway.js';
