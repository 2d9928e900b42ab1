/**
 * Building new messages (RFC 3261 §8.1.1 requests, §8.2.6 responses). A built message is
 * serialised once and re-parsed, so every message in the stack is the same lazy type.
 *
 * @remarks Layer 1 (`sip/`). The serialiser always writes the real Content-Length.
 */
import { type ParseOptions, parseMessage } from '../parse/parse-message.js';
import { reasonPhrase } from './status-codes.js';
import { headerKey } from './header-names.js';
import type { SipRequest } from './sip-request.js';
import type { SipResponse } from './sip-response.js';

export type HeaderList = Array<[name: string, value: string]>;

const CONTENT_LENGTH_KEY = headerKey('Content-Length');

function serialize(startLine: string, headers: HeaderList, body: Buffer | string | undefined): Buffer {
  const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  let head = startLine + '\r\n';
  for (const [name, value] of headers) {
    if (headerKey(name) === CONTENT_LENGTH_KEY) continue;
    head += `${name}: ${value}\r\n`;
  }
  head += `Content-Length: ${b ? b.length : 0}\r\n\r\n`;
  const h = Buffer.from(head, 'utf8');
  return b && b.length > 0 ? Buffer.concat([h, b]) : h;
}

/**
 * Limits for re-reading what we built. The receive limits (64 KiB, 256 header fields) judge
 * what peers send; a message built from a received one (a response copies its Vias, From, To,
 * Call-ID, CSeq; text re-encoded as UTF-8 may grow) can be a little over them, and building it
 * must not fail for that. The transport decides what can be sent (§18.1.1).
 */
const BUILT: ParseOptions = { limits: { maxMessageSize: 4 << 20, maxHeaders: 4096 } };

export interface RequestSpec {
  method: string;
  uri: string;
  headers: HeaderList;
  body?: Buffer | string;
}

/** Serialises and parses a request from its parts. */
export function buildRequest(spec: RequestSpec): SipRequest {
  const raw = serialize(`${spec.method} ${spec.uri} SIP/2.0`, spec.headers, spec.body);
  return parseMessage(raw, BUILT) as SipRequest;
}

export interface ResponseSpec {
  status: number;
  reason?: string;
  headers: HeaderList;
  body?: Buffer | string;
}

/** Serialises and parses a response from its parts. */
export function buildResponseFrom(spec: ResponseSpec): SipResponse {
  const raw = serialize(`SIP/2.0 ${spec.status} ${spec.reason ?? reasonPhrase(spec.status)}`, spec.headers, spec.body);
  return parseMessage(raw, BUILT) as SipResponse;
}

export interface ResponseOptions {
  reason?: string;
  /** To tag to add when the request's To has none (RFC 3261 §8.2.6.2). */
  toTag?: string;
  /** Replaces the top Via value (the transport layer adds received/rport, RFC 3581 §4). */
  topVia?: string;
  headers?: HeaderList;
  body?: Buffer | string;
}

/**
 * Builds a response to `req` per RFC 3261 §8.2.6.2: Via values, From, Call-ID and CSeq
 * copied; To copied with a tag added for non-100 responses; Timestamp echoed in 100 (§8.2.6.1).
 * Header lines are copied raw, so it also works for a request whose To or From is malformed.
 */
export function createResponse(req: SipRequest, status: number, options: ResponseOptions = {}): SipResponse {
  const headers: HeaderList = [];
  let vias: string[];
  let topVia = options.topVia ?? req.receivedTopVia;
  try {
    vias = req.viaValues();
  } catch {
    // A Via list that cannot be split (an unterminated quote): the 400 that says so still copies
    // the Via header fields (§8.2.6.2), line by line as they came, without `received`.
    vias = req.headers('Via');
    topVia = undefined;
  }
  vias.forEach((v, i) => headers.push(['Via', i === 0 && topVia ? topVia : v]));
  const from = req.header('From');
  if (from !== undefined) headers.push(['From', from]);
  let to = req.header('To');
  if (to !== undefined && status > 100 && options.toTag && !hasTag(req)) to = `${to};tag=${options.toTag}`;
  if (to !== undefined) headers.push(['To', to]);
  const callId = req.header('Call-ID');
  if (callId !== undefined) headers.push(['Call-ID', callId]);
  const cseq = req.header('CSeq');
  if (cseq !== undefined) headers.push(['CSeq', cseq]);
  if (status === 100) {
    const ts = req.header('Timestamp');
    if (ts !== undefined) headers.push(['Timestamp', ts]);
  }
  if (options.headers) headers.push(...options.headers);
  return buildResponseFrom({ status, reason: options.reason, headers, body: options.body });
}

function hasTag(req: SipRequest): boolean {
  try {
    return req.to.tag !== undefined;
  } catch {
    return false;
  }
}
