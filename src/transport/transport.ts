/**
 * Transport-layer vocabulary (RFC 3261 §18, RFC 7118).
 *
 * @remarks Layer 2 (`transport/`). May import `sip/` and `util/` only.
 */
import { SipError } from '../sip/index.js';

export type TransportKind = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export const TRANSPORT_KINDS: readonly TransportKind[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];

/** RFC 3261 §18: TCP, TLS, WS, WSS are reliable; UDP is not. */
export function isReliable(kind: TransportKind): boolean {
  return kind !== 'udp';
}

/** The Via transport token for a kind (RFC 3261 §18, RFC 7118 §5). */
export function viaToken(kind: TransportKind): string {
  return kind.toUpperCase();
}

/** `transport=` URI parameter / Via token → kind. */
export function kindFromToken(token: string | undefined): TransportKind | undefined {
  const t = token?.toLowerCase();
  return t === 'udp' || t === 'tcp' || t === 'tls' || t === 'ws' || t === 'wss' ? t : undefined;
}

/** A listening address as given on the command line or in config: `udp:127.0.0.1:5060`. */
export interface ListenSpec {
  kind: TransportKind;
  host: string;
  port: number;
}

/**
 * Parses `udp:HOST:PORT`, `tcp:[::1]:5060`, `ws:0.0.0.0:5066` (port optional: 5060, 5061 for
 * tls, 80/443 for ws/wss per RFC 7118 conventions are not assumed: ws defaults to 5066, wss 5067).
 */
export function parseListenSpec(text: string): ListenSpec {
  const m = /^(udp|tcp|tls|ws|wss):(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) {
    throw new SipError('SIP_ERR_LISTEN', `invalid listen address "${text}": expected udp|tcp|tls|ws|wss:HOST[:PORT], e.g. udp:127.0.0.1:5060`);
  }
  const kind = m[1] as TransportKind;
  const host = m[2]!.startsWith('[') ? m[2]!.slice(1, -1) : m[2]!;
  const defaults: Record<TransportKind, number> = { udp: 5060, tcp: 5060, tls: 5061, ws: 5066, wss: 5067 };
  const port = m[3] !== undefined ? Number(m[3]) : defaults[kind];
  if (port > 65535) throw new SipError('SIP_ERR_LISTEN', `invalid port in listen address "${text}": must be 0-65535`);
  return { kind, host, port };
}

/** Where to send a request: a resolved transport, address and port (RFC 3263 §4). */
export interface Destination {
  kind: TransportKind;
  address: string;
  port: number;
  /** For TLS/WSS server name checks and the WS Host header. */
  hostname?: string;
  /**
   * A flow the peer opened (its NAT mapping, an RFC 5626 flow): the only way to reach it, so a
   * large request is never moved to TCP here (§18.1.1) — nobody behind a NAT accepts that.
   */
  flow?: boolean;
}

/** Formats an address:port with IPv6 brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A connection or socket association a message travelled on. */
export interface Flow {
  readonly id: number;
  readonly kind: TransportKind;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  send(bytes: Buffer): void;
  close(): void;
  readonly closed: boolean;
}

/** Errors the transport reports to the transaction layer (RFC 3261 §18.4). */
export class TransportError extends SipError {
  override name = 'TransportError';
}
