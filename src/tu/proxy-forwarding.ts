/**
 * Forwarding mechanics of the proxy (RFC 3261 §16.4, §16.6, §16.7 step 3, §16.11), shared by the
 * stateful and the stateless proxy: route processing, the forwarded copy made by editing the
 * received bytes, our Via, the loop-detection hash, the response without our Via, and the
 * flow tokens our Record-Route carries toward WebSocket peers.
 *
 * @remarks Layer 4 (`tu/`).
 */
import crypto from 'node:crypto';
import { EditList, HEADER_KEYS, type HeaderList, type SipRequest, type SipResponse, type SipUri, firstValueEnd, parseMessage, parseNameAddr, parseUri } from '../sip/index.js';
import { type TransportKind, type TransportLayer, kindFromToken, viaToken } from '../transport/index.js';
import type { Target } from './uac-core.js';

/** A request after §16.4: where it goes next, the Routes that remain, and a flow our Route named. */
export interface RoutedRequest {
  requestUri: string;
  routes: string[];
  flow?: Target;
}

/** §16.4: strict-route compatibility, our own Route entries removed, and the flow a Route of ours names. */
export function processRoutes(req: SipRequest, isLocal: (uri: SipUri) => boolean): RoutedRequest {
  let requestUri = req.uriText;
  let routes = req.route.map((r) => r.toString());
  // §16.4: a strict router upstream put our URI in the Request-URI; the real target is the last Route.
  const ru = req.uri;
  if (ru.kind === 'sip' && isLocal(ru) && routes.length > 0 && (ru.params.has('lr') || !ru.user)) {
    const last = parseNameAddr(routes[routes.length - 1]!, 'Route');
    if (!last.uri || last.uri.kind !== 'sip' || !isLocal(last.uri)) {
      requestUri = last.uriText;
      routes = routes.slice(0, -1);
    }
  }
  // §16.4: remove our own Route entries at the top (two after a transport switch, RFC 5658).
  // One of them may carry a flow token (see recordRouteUri): the flow the far end is on.
  let flow: Target | undefined;
  const src = req.source;
  while (routes.length > 0) {
    const top = parseNameAddr(routes[0]!, 'Route').uri;
    if (top.kind === 'sip' && isLocal(top)) {
      const f = parseFlowToken(top.user);
      if (f && !(src && f.kind === src.transport && f.address === src.address && f.port === src.port)) flow = f;
      routes = routes.slice(1);
    } else break;
  }
  return { requestUri, routes, flow };
}


/** §16.6 step 8: our Via for a forwarded copy, with the branch the proxy chose. */
export function viaFor(transport: TransportLayer, kind: TransportKind, branch: string): string {
  const k = transport.hasListener(kind) ? kind : 'udp';
  const sb = transport.viaSentBy(k);
  return `SIP/2.0/${viaToken(kind)} ${sb.host}:${sb.port};branch=${branch}`;
}

/**
 * A 2xx retransmission whose client transaction is gone, or a response to a request forwarded
 * statelessly: upstream by the next Via (§16.7 step 9, §16.11), when the top Via is ours.
 */
export function forwardStrayResponse(
  res: SipResponse,
  isLocal: (uri: SipUri) => boolean,
  send: (res: SipResponse, dest: Target) => void,
  /** The body a media relay gave this response the first time (a 2xx retransmission keeps it). */
  body?: (res: SipResponse) => Buffer | undefined,
): void {
  const vias = res.viaValues();
  if (vias.length < 2) return; // only our Via: nobody upstream
  try {
    const top = res.topVia;
    const b = top.branch ?? '';
    // Ours: a stateful branch (only its 2xx to INVITE outlive the transaction) or a stateless one.
    const statefulStray = b.startsWith('z9hG4bKsb') && res.cseq.method === 'INVITE' && res.status >= 200 && res.status < 300;
    if (!statefulStray && !b.startsWith(STATELESS_BRANCH_PREFIX)) return;
    const own = parseUri(`sip:${top.host}${top.port ? `:${top.port}` : ''}`);
    if (own.kind !== 'sip' || !isLocal(own)) return;
    const next = res.via[1]!;
    const address = next.received ?? next.hostname;
    const port = next.rport ?? next.port ?? 5060;
    const kind = kindFromToken(next.transport) ?? 'udp';
    send(withoutTopVia(res, body?.(res)), { kind, address: address.replace(/^\[|\]$/g, ''), port });
  } catch {
    /* malformed Via in a stray response: drop */
  }
}

/** Branch prefix of requests forwarded statelessly (RFC 3261 §16.11). */
export const STATELESS_BRANCH_PREFIX = 'z9hG4bKsl';

const FLOW_PREFIX = 'sbf-';

/** A flow token for a Record-Route user part: `sbf-` + base64url("kind|address|port"). */
export function flowToken(kind: TransportKind, address: string, port: number): string {
  return FLOW_PREFIX + Buffer.from(`${kind}|${address}|${port}`).toString('base64url');
}

function parseFlowToken(user: string | undefined): Target | undefined {
  if (!user || !user.startsWith(FLOW_PREFIX)) return undefined;
  const m = /^(udp|ws|wss|tcp|tls)\|([^|]+)\|(\d{1,5})$/.exec(Buffer.from(user.slice(FLOW_PREFIX.length), 'base64url').toString('utf8'));
  return m ? { kind: m[1] as TransportKind, address: m[2]!, port: Number(m[3]), flow: true } : undefined;
}

/**
 * §16.6 steps 2–8 on the received bytes (STYLE §12.3: forwarding by edit list): the new
 * Request-URI, our Via and Record-Route on top, Route lines replaced by the route computed for
 * this target (at the end), Max-Forwards decremented (70 when absent). With `receivedVia`, the
 * Via we received goes out with the `received`/`rport` the transport noted (RFC 3261 §18.2.1,
 * RFC 3581). Everything else — order, spelling, compact forms, unknown headers, the body and its
 * Content-Length — is copied byte for byte.
 */
export function forwardedRequest(
  req: SipRequest,
  o: { uri: string; via: string; recordRoute: string[]; routes: string[]; receivedVia: boolean; headers?: HeaderList; body?: Buffer },
): SipRequest {
  const e = new EditList(req).setStartLine(`${req.method} ${o.uri} SIP/2.0`);
  e.prependHeader('Via', o.via);
  for (const rr of o.recordRoute) e.prependHeader('Record-Route', rr);
  const topVia = o.receivedVia ? req.receivedTopVia : undefined;
  let mfDone = false;
  let viaDone = false;
  let lengthSeen = false;
  const n = req.headerCount;
  for (let j = 0; j < n; j++) {
    const k = req.lineKey(j);
    if (k === HEADER_KEYS.contentLength) lengthSeen = true;
    else if (k === HEADER_KEYS.route) e.deleteLine(j);
    else if (k === HEADER_KEYS.maxForwards) {
      if (!mfDone) e.replaceLine(j, 'Max-Forwards', String(Math.max(0, (req.maxForwards ?? 70) - 1)));
      else e.deleteLine(j);
      mfDone = true;
    } else if (k === HEADER_KEYS.via && !viaDone) {
      viaDone = true;
      if (topVia !== undefined) {
        // Only the first value of the first Via line changes; the values after it stay as written.
        const ve = req.lineValueEnd(j);
        const fe = firstValueEnd(req.raw, req.lineValueStart(j), ve);
        e.replaceLine(j, 'Via', fe < ve ? `${topVia}${req.raw.toString('utf8', fe, ve)}` : topVia);
      }
    }
  }
  if (!mfDone) e.appendHeader('Max-Forwards', '70');
  for (const r of o.routes) e.appendHeader('Route', r);
  for (const [name, value] of o.headers ?? []) e.appendHeader(name, value);
  // The media relay's SDP in place of the received one (Content-Length follows).
  if (o.body !== undefined) e.setBody(o.body);
  // Optional over UDP, mandatory over a stream (§18.3, §20.14): the next hop may be TCP.
  else if (!lengthSeen) e.appendHeader('Content-Length', String(req.body.length));
  return parseMessage(e.toBuffer()) as SipRequest;
}

/** §16.6 step 8 / §16.3 step 4: a hash over the fields a loop would leave unchanged. */
export function loopHash(req: SipRequest): string {
  // Not the topmost Via: when a request comes back to us, the top Via is the previous hop's
  // (our own, on a direct loop), with a fresh branch on every pass, so a hash over it never
  // matches the one in our earlier Via and a loop would only end when Max-Forwards reaches 0
  // (483 instead of 482). Branch uniqueness comes from the per-branch suffix, not from this hash.
  const fields = [
    req.uriText, req.to.tag ?? '', req.from.tag ?? '', req.callId, String(req.cseq.seq),
    req.headers('Route').join(','), req.headers('Proxy-Require').join(','), req.headers('Proxy-Authorization').join(','),
  ];
  return crypto.hash('md5', fields.join('\0'), 'hex').slice(0, 16);
}

/**
 * §16.7 step 3: the response without the topmost Via value (ours), every other byte as
 * received (but the body, when a media relay gives a new one). The next Via is the one we forwarded, `received`/`rport` included (§18.2.1).
 */
export function withoutTopVia(res: SipResponse, body?: Buffer): SipResponse {
  const n = res.headerCount;
  for (let j = 0; j < n; j++) {
    if (res.lineKey(j) !== HEADER_KEYS.via) continue;
    const e = new EditList(res);
    const vs = res.lineValueStart(j);
    const ve = res.lineValueEnd(j);
    const fe = firstValueEnd(res.raw, vs, ve);
    if (fe >= ve) e.deleteLine(j);
    else e.replaceLine(j, 'Via', res.raw.toString('utf8', fe + 1, ve).trimStart());
    // …and the media relay's SDP in place of the received one.
    if (body !== undefined) e.setBody(body);
    // Shorter than what was received and parsed, except where text was re-encoded: build limits.
    return parseMessage(e.toBuffer(), { limits: { maxMessageSize: 4 << 20, maxHeaders: 4096 } }) as SipResponse;
  }
  return res;
}

