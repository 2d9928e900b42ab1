/**
 * The registrar role (RFC 3261 §10.3).
 * @packageDocumentation
 */
export { Registrar, canonicalAor, DEFAULT_REGISTRAR_CONFIG, type RegistrarConfig, type RegistrarDeps, type Respond } from './registrar.js';
export { RegistrarUser } from './registrar-user.js';
export { bindingFlow } from './binding-flow.js';
export { NatKeepalive, type NatKeepaliveOptions } from './nat-keepalive.js';
