/**
 * One SIP message as the operator's tools see it (the admin API, the web console's ladder, HEP
 * export, `server.on('message')`): when, which way, over what, between which addresses, and the
 * bytes as they crossed the wire.
 *
 * @remarks Leaf (`observability/`): plain data, built by the app layer from the transport's trace.
 */
export type MessageDirection = 'sent' | 'received';

export interface MessageRecord {
  /** Order of arrival in this process (1, 2, …): ties in `time` keep their order. */
  seq: number;
  /** Wall-clock time, milliseconds since the epoch (fractional: microseconds kept for HEP). */
  time: number;
  direction: MessageDirection;
  /** `udp`, `tcp`, `tls`, `ws`, `wss`. */
  transport: string;
  /** Our end, `host:port` (`[v6]:port` for IPv6). */
  local: string;
  /** The peer's end. */
  remote: string;
  /** `INVITE sip:bob@example.com SIP/2.0` or `SIP/2.0 200 OK`. */
  startLine: string;
  /** The request's method, or the method of the CSeq a response answers. */
  method: string;
  /** A response's status code; absent for requests. */
  status?: number;
  /** The Call-ID ('' when the message has none). */
  callId: string;
  /** The CSeq header's value (`1 INVITE`). */
  cseq: string;
  /** The raw bytes, as sent or received. */
  bytes: Buffer;
}

/** The source and destination `host:port` of a record, in the direction it travelled. */
export function endpoints(r: Pick<MessageRecord, 'direction' | 'local' | 'remote'>): { src: string; dst: string } {
  return r.direction === 'sent' ? { src: r.local, dst: r.remote } : { src: r.remote, dst: r.local };
}

/** `host:port` → host and port (`[::1]:5060` → `::1`, 5060). */
export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  const host = hp.slice(0, i).replace(/^\[|\]$/g, '');
  return { host, port: Number(hp.slice(i + 1)) };
}
