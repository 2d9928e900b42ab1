/**
 * SIP methods (RFC 3261 §7.1 and extensions). Methods are case-sensitive tokens; any
 * extension token is a valid method.
 *
 * @remarks Layer 1 (`sip/`).
 */

/** Methods Switchboard knows by name. */
export const KNOWN_METHODS = [
  'REGISTER', 'INVITE', 'ACK', 'CANCEL', 'OPTIONS', 'BYE', // RFC 3261
  'INFO', // RFC 6086
  'PRACK', // RFC 3262
  'REFER', // RFC 3515
  'SUBSCRIBE', 'NOTIFY', // RFC 6665
  'UPDATE', // RFC 3311
  'MESSAGE', // RFC 3428
  'PUBLISH', // RFC 3903
] as const;

export type KnownMethod = (typeof KNOWN_METHODS)[number];
/** A method name: a known one or any extension token. */
export type Method = KnownMethod | (string & {});

const known = new Set<string>(KNOWN_METHODS);

export function isKnownMethod(m: string): m is KnownMethod {
  return known.has(m);
}
