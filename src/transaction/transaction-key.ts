/**
 * Transaction matching keys: client side RFC 3261 §17.1.3, server side §17.2.3 (with the
 * RFC 2543 fallback), and the CANCEL → INVITE lookup of §9.2.
 *
 * @remarks Layer 3 (`transaction/`). Used by {@link TransactionLayer}. The accessors used here
 * (top Via, CSeq, Call-ID, From/To) are the routing set the transport layer validated; a
 * message whose routing set does not parse makes these functions throw `SipParseError`.
 */
import type { Params, SipRequest, SipResponse, Via } from '../sip/index.js';

/** ACK matches the INVITE transaction (RFC 3261 §17.2.3); every other method keys itself. */
function keyMethod(method: string): string {
  return method === 'ACK' ? 'INVITE' : method;
}

/**
 * Client key: branch of the top Via + the method of the request (RFC 3261 §17.1.3). A CANCEL
 * shares the INVITE's branch but not its method, so it gets its own transaction.
 */
export function clientKey(branch: string, method: string): string {
  return flat(`c ${branch} ${method}`);
}

/** Client key of a request we send (its top Via carries our branch). */
export function clientKeyOfRequest(req: SipRequest): string {
  const branch = req.topVia.branch;
  if (branch === undefined) throw new TypeError('A client transaction needs a branch in the top Via');
  return clientKey(branch, req.method);
}

/** Client key of a received response: top Via branch + CSeq method; undefined without branch. */
export function clientKeyOfResponse(res: SipResponse): string | undefined {
  const branch = res.topVia.branch;
  return branch === undefined ? undefined : clientKey(branch, res.cseq.method);
}

/** sent-by compared with a case-insensitive host (RFC 3261 §17.2.3, §20.42). */
function sentByKey(via: Via): string {
  return via.port === undefined ? via.host.toLowerCase() : `${via.host.toLowerCase()}:${via.port}`;
}

/** True when the request's top Via branch has the magic cookie (RFC 3261 §17.2.3). */
export function hasRfc3261Branch(req: SipRequest): boolean {
  return req.topVia.isRfc3261Branch;
}

/**
 * Server key of a request whose branch carries the magic cookie: branch + sent-by + method,
 * ACK mapped to INVITE (RFC 3261 §17.2.3).
 */
function rfc3261ServerKey(req: SipRequest, method: string): string {
  const via = req.topVia;
  return flat(`s ${via.branch} ${sentByKey(via)} ${keyMethod(method)}`);
}

/**
 * A transaction key lives as long as its transaction (64·T1 for a Completed NIST). V8 keeps a
 * template result as a rope whose pieces are slices of the whole message text, so the key would
 * keep that text alive after the message is compacted; reading one character makes V8 flatten
 * the rope into one fresh string and let go of the pieces.
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

function paramsKey(params: Params): string {
  return [...params]
    .map(([k, v]) => (v === null ? k.toLowerCase() : `${k.toLowerCase()}=${v}`))
    .sort()
    .join(';');
}

/** Request-URI in a form where URIs equal under RFC 3261 §19.1.4 usually compare equal. */
function requestUriKey(req: SipRequest): string {
  try {
    const u = req.uri;
    if (u.kind === 'sip') {
      return `${u.scheme}:${u.user ?? ''}@${u.host.toLowerCase()}:${u.port ?? ''};${paramsKey(u.params)}`;
    }
  } catch {
    // a Request-URI that does not parse still compares byte for byte
  }
  return req.uriText;
}

function viaKey(via: Via): string {
  return `${via.transport}/${sentByKey(via)};${paramsKey(via.params)}`;
}

function tagOf(get: () => { tag: string | undefined }): string {
  return get().tag ?? '';
}

/**
 * RFC 2543 fallback key (no magic cookie, RFC 3261 §17.2.3): Request-URI, From tag, Call-ID,
 * CSeq number, method (ACK → INVITE) and top Via. The To tag is left out on purpose and
 * compared by {@link rfc2543ToTagMatches}, because an ACK carries the tag of our response
 * rather than the INVITE's.
 */
function rfc2543ServerKey(req: SipRequest, method: string): string {
  return [
    '2543',
    requestUriKey(req),
    tagOf(() => req.from),
    req.callId,
    req.cseq.seq,
    keyMethod(method),
    viaKey(req.topVia),
  ].join(' ');
}

/** The server key of a received request (RFC 3261 §17.2.3). */
export function serverKey(req: SipRequest): string {
  return hasRfc3261Branch(req) ? rfc3261ServerKey(req, req.method) : rfc2543ServerKey(req, req.method);
}

/**
 * The key of the INVITE server transaction a CANCEL refers to: the CANCEL's own key computed
 * with method INVITE (RFC 3261 §9.2).
 */
export function inviteKeyForCancel(cancel: SipRequest): string {
  return hasRfc3261Branch(cancel) ? rfc3261ServerKey(cancel, 'INVITE') : rfc2543ServerKey(cancel, 'INVITE');
}

/**
 * The To-tag part of RFC 2543 matching (RFC 3261 §17.2.3): an ACK matches when its To tag
 * equals the tag of the response the server transaction sent; any other request (and a CANCEL
 * looking for its INVITE, §9.2) when its To tag equals the creating request's.
 */
export function rfc2543ToTagMatches(
  incoming: SipRequest,
  tx: { readonly request: SipRequest; readonly responseToTag?: string | undefined },
): boolean {
  const tag = tagOf(() => incoming.to);
  if (incoming.method === 'ACK') return tag === (tx.responseToTag ?? '');
  return tag === tagOf(() => tx.request.to);
}
