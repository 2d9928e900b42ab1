/**
 * The UAS core (RFC 3261 §8.2): the checks every request a user agent server handles must pass
 * before its TU sees it (405/501, 416, 481, 420, 415, 406), responses through a server
 * transaction (§8.2.6), and responses without one (§8.2.7).
 *
 * @remarks Layer 4 (`tu/`). Owned by the {@link SipElement}; a TU that is a UAS (registrar,
 * redirect server, user agent) names its {@link UasPolicy} and the element runs the checks.
 */
import { type HeaderList, type SipRequest, type SipResponse, createResponse, isDialogCreating, isKnownMethod } from '../sip/index.js';
import type { InviteServerTransaction, NonInviteServerTransaction, ServerTransaction } from '../transaction/index.js';
import { type TransportLayer, statelessToTag } from '../transport/index.js';
import { newTag } from '../util/ids.js';

/** What a UAS accepts: the data of the §8.2 checks. */
export interface UasPolicy {
  /** Methods the TU handles; others get 405 (known) or 501 (unknown), §8.2.1. */
  readonly allow: readonly string[];
  /** Option tags supported (§8.2.2.3); a Require of anything else → 420. */
  readonly supported: readonly string[];
  /** Body types accepted (§8.2.3); others → 415. */
  readonly accept: readonly string[];
}

/** A response given without a server transaction (RFC 3261 §8.2.7). */
export interface StatelessAnswer {
  status: number;
  reason?: string;
  headers?: HeaderList;
}

export interface ResponseOptions {
  reason?: string;
  toTag?: string;
  headers?: HeaderList;
  body?: Buffer | string;
}

export class UasCore {
  constructor(
    private readonly transport: TransportLayer,
    /** `Server` header value. */
    readonly product: string,
  ) {}

  /** The To tag of every response of one server transaction (§8.2.6.2: the same tag each time). */
  toTagFor(tx: ServerTransaction, preferred?: string): string {
    return (tx.toTag ??= preferred ?? newTag());
  }

  /**
   * The §8.2 checks in the RFC's order. Answers and returns false when the request fails one;
   * `inDialog` tells whether a To-tagged request names a dialog the TU knows (§12.2.2: else 481).
   */
  admits(req: SipRequest, tx: ServerTransaction, policy: UasPolicy, inDialog: boolean): boolean {
    // §8.2.1 method inspection.
    if (!policy.allow.includes(req.method)) {
      const status = isKnownMethod(req.method) ? 405 : 501;
      this.respond(tx, req, status, { headers: [['Allow', policy.allow.join(', ')]] });
      return false;
    }
    // §8.2.2.1 To and Request-URI: schemes we cannot serve → 416.
    if (req.uri.kind === 'absolute') return this.refuse(tx, req, 416);
    // §8.2.2.2 / §12.2.2: a To tag names a dialog; none known → 481.
    if (req.to.tag !== undefined && !inDialog) return this.refuse(tx, req, 481);
    // §8.2.2.3 Require (not for ACK/CANCEL, which never reach here).
    const required = req.optionTags('Require').filter((t) => !policy.supported.includes(t));
    if (required.length > 0) return this.refuse(tx, req, 420, [['Unsupported', required.join(', ')]]);
    // §8.2.3 content processing: body type and encoding.
    if (req.body.length > 0) {
      const ct = req.contentType;
      if (ct === undefined || !acceptsBody(policy, req.method, ct)) return this.refuse(tx, req, 415, [['Accept', policy.accept.join(', ')]]);
      const enc = req.header('Content-Encoding');
      if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') return this.refuse(tx, req, 415, [['Accept-Encoding', 'identity']]);
    }
    if (req.method === 'INVITE' && req.hasHeader('Accept')) {
      // §21.4.7: we can only answer with SDP; an Accept without it → 406 (RFC 4475 sdp01).
      const acc = req.headerValues('Accept').map((a) => a.split(';')[0]!.trim().toLowerCase());
      if (!acc.some((a) => a === 'application/sdp' || a === 'application/*' || a === '*/*')) {
        return this.refuse(tx, req, 406, [['Warning', `399 ${this.transport.sentBy('udp').host} "Only application/sdp bodies are supported"`]]);
      }
    }
    return true;
  }

  private refuse(tx: ServerTransaction, req: SipRequest, status: number, headers?: HeaderList): false {
    this.respond(tx, req, status, { headers });
    return false;
  }

  /**
   * RFC 3261 §8.2.7: only a request the §8.2 checks would pass unchanged qualifies for a
   * stateless answer (an allowed method, no To tag, no Require, no body), so it is the answer the
   * stateful path would give. Returns true when `answer` gave one and it was sent.
   */
  answerStatelessly(req: SipRequest, policy: UasPolicy, answer: (req: SipRequest) => StatelessAnswer | undefined): boolean {
    const m = req.method;
    if (m === 'ACK' || m === 'CANCEL' || !policy.allow.includes(m)) return false;
    if (req.to.tag !== undefined || req.body.length > 0 || req.hasHeader('Require')) return false;
    const a = answer(req);
    if (a === undefined) return false;
    this.replyStatelessly(req, a.status, a.reason, a.headers);
    return true;
  }

  /** A response sent without a server transaction (§8.2.7: the same To tag for a retransmission). */
  replyStatelessly(req: SipRequest, status: number, reason: string | undefined, extra: HeaderList = []): void {
    const headers: HeaderList = [['Server', this.product], ...extra];
    this.transport.sendResponse(createResponse(req, status, { reason, toTag: statelessToTag(req), headers }), req);
  }

  /** Builds and sends a response through a server transaction (§8.2.6). */
  respond(tx: ServerTransaction, req: SipRequest, status: number, opts: ResponseOptions = {}): SipResponse {
    const headers: HeaderList = [];
    if (status >= 200 || status === 180 || status === 183) headers.push(['Server', this.product]);
    // RFC 3261 §12.1.1: a dialog-creating response copies the Record-Route of the request.
    if (status > 100 && status < 300 && isDialogCreating(req.method)) {
      for (const rr of req.headers('Record-Route')) headers.push(['Record-Route', rr]);
    }
    if (opts.headers) headers.push(...opts.headers);
    const toTag = status > 100 ? this.toTagFor(tx, opts.toTag) : undefined;
    const res = createResponse(req, status, { reason: opts.reason, toTag, headers, body: opts.body });
    (tx as InviteServerTransaction | NonInviteServerTransaction).respond(res);
    return res;
  }
}

/** §8.2.3: event and message bodies are the TU's to judge; a session's must be one we accept. */
function acceptsBody(policy: UasPolicy, method: string, ct: string): boolean {
  if (method === 'MESSAGE' || method === 'INFO' || method === 'NOTIFY' || method === 'PUBLISH') return true;
  if (ct.startsWith('multipart/')) return true;
  return policy.accept.includes(ct);
}
