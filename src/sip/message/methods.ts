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

/**
 * Requests that create a dialog (RFC 3261 §12.1; RFC 6665 §4.1 SUBSCRIBE and §4.4.1 NOTIFY;
 * RFC 3515 REFER): their 1xx/2xx copy Record-Route and they carry a Contact (§8.1.1.8).
 */
export function isDialogCreating(method: string): boolean {
  return method === 'INVITE' || method === 'SUBSCRIBE' || method === 'REFER' || method === 'NOTIFY';
}

/** Requests that refresh the remote target of a dialog (RFC 3261 §12.2; RFC 3311; RFC 6665). */
export function isTargetRefresh(method: string): boolean {
  return method === 'INVITE' || method === 'UPDATE' || method === 'SUBSCRIBE' || method === 'NOTIFY' || method === 'REFER';
}

/**
 * Requests a record-routing proxy inserts Record-Route into (RFC 3261 §16.6 step 4): those that
 * may create or refresh a dialog, and the out-of-dialog ones whose answers a UA may route by it.
 */
export function isRecordRouted(method: string): boolean {
  return isTargetRefresh(method) || method === 'MESSAGE' || method === 'OPTIONS';
}
