/**
 * A dialog (RFC 3261 §12): identity, state, sequence numbers, route set and remote target,
 * and construction of requests within it (§12.2.1.1).
 *
 * @remarks TU building block (`dialog/`). Imports `sip/` and `util/` only; the UA cores in
 * `tu/` create dialogs and send what they build.
 */
import diagnostics from 'node:diagnostics_channel';
import {
  type HeaderList, type NameAddr, type SipRequest, type SipResponse, type SipUri, buildRequest, isTargetRefresh, parseNameAddr,
} from '../sip/index.js';
import { StateError } from '../util/errors.js';

const stateChannel = diagnostics.channel('sip:dialog:state');

/** RFC 3261 §12: early (created by a provisional response with a tag) and confirmed. */
export type DialogState = 'Early' | 'Confirmed' | 'Terminated';

/** Dialog ID: Call-ID + local tag + remote tag (§12). */
export function dialogId(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

export interface DialogInit {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** The local URI (From of our requests), as a name-addr value without tag. */
  localUri: string;
  remoteUri: string;
  localSeq: number | undefined;
  remoteSeq: number | undefined;
  remoteTarget: string;
  /** Route set as Route header values in the order to send them (§12.1.1, §12.1.2). */
  routeSet: string[];
  secure: boolean;
  state: DialogState;
  /** Our Contact, sent in every target-refresh request. */
  localContact: string;
}

export class Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly localUri: string;
  readonly remoteUri: string;
  localSeq: number | undefined;
  remoteSeq: number | undefined;
  remoteTarget: string;
  /** Fixed when the dialog is created (§12.1); later requests do not change it. */
  readonly routeSet: readonly string[];
  readonly secure: boolean;
  localContact: string;
  private st: DialogState;
  /** Flow the dialog's requests arrived on (connection reuse, RFC 3261 §18). */
  flowId: number | undefined;

  constructor(init: DialogInit) {
    // A dialog lives as long as its call: its strings are copied, so that none of them is a slice
    // of a message's text that would keep that whole message in memory (V8 sliced strings).
    this.callId = own(init.callId);
    this.localTag = own(init.localTag);
    this.remoteTag = own(init.remoteTag);
    this.localUri = own(init.localUri);
    this.remoteUri = own(init.remoteUri);
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.remoteTarget = own(init.remoteTarget);
    this.routeSet = init.routeSet.map(own);
    this.secure = init.secure;
    this.localContact = own(init.localContact);
    this.st = init.state;
  }

  get id(): string {
    return dialogId(this.callId, this.localTag, this.remoteTag);
  }

  get state(): DialogState {
    return this.st;
  }

  /** Early → Confirmed on a 2xx; any → Terminated (§12.3). */
  transition(to: DialogState): void {
    if (this.st === to || this.st === 'Terminated') return;
    if (this.st === 'Confirmed' && to === 'Early') throw new StateError('DIALOG_ERR_STATE', 'dialog cannot go from Confirmed back to Early');
    const from = this.st;
    this.st = to;
    if (stateChannel.hasSubscribers) stateChannel.publish({ id: this.id, from, to });
  }

  /**
   * UAC side (§12.1.2): from the request we sent and a response with a To tag (101–299).
   * Route set = Record-Route of the response in reverse order; remote target = its Contact.
   */
  static asUac(req: SipRequest, res: SipResponse, localContact: string): Dialog {
    const rr = res.recordRoute.map((r) => r.toString()).reverse();
    const contact = res.contact[0];
    return new Dialog({
      callId: req.callId,
      localTag: req.from.tag ?? '',
      remoteTag: res.to.tag ?? '',
      localUri: stripTag(req.from),
      remoteUri: stripTag(req.to),
      localSeq: req.cseq.seq,
      remoteSeq: undefined,
      remoteTarget: contact ? contact.uriText : req.uriText,
      routeSet: rr,
      secure: req.uriText.startsWith('sips:'),
      state: res.status >= 200 ? 'Confirmed' : 'Early',
      localContact,
    });
  }

  /**
   * UAS side (§12.1.1): from the request and the tag we put in To.
   * Route set = Record-Route of the request in order; remote target = its Contact.
   */
  static asUas(req: SipRequest, localTag: string, localContact: string, state: DialogState): Dialog {
    const contact = req.contact[0];
    return new Dialog({
      callId: req.callId,
      localTag,
      remoteTag: req.from.tag ?? '',
      localUri: stripTag(req.to),
      remoteUri: stripTag(req.from),
      localSeq: undefined,
      remoteSeq: req.cseq.seq,
      remoteTarget: contact ? contact.uriText : '',
      routeSet: req.recordRoute.map((r) => r.toString()),
      secure: req.uriText.startsWith('sips:'),
      state,
      localContact,
    });
  }

  /**
   * A request within the dialog (§12.2.1.1). `cseq` lets CANCEL/ACK reuse a number; otherwise
   * the local sequence number is incremented (ACK for 2xx takes the INVITE's, §13.2.2.4).
   */
  createRequest(method: string, opts: { via: string; cseq?: number; headers?: HeaderList; body?: Buffer | string; maxForwards?: number }): SipRequest {
    let seq: number;
    if (opts.cseq !== undefined) seq = opts.cseq;
    else {
      this.localSeq = (this.localSeq ?? Math.floor(Math.random() * 0x7fff)) + 1;
      seq = this.localSeq;
    }
    const { requestUri, routes } = this.requestTarget();
    const headers: HeaderList = [
      ['Via', opts.via],
      ['Max-Forwards', String(opts.maxForwards ?? 70)],
      ['From', `${this.localUri};tag=${this.localTag}`],
      ['To', `${this.remoteUri};tag=${this.remoteTag}`],
      ['Call-ID', this.callId],
      ['CSeq', `${seq} ${method}`],
    ];
    for (const r of routes) headers.push(['Route', r]);
    if (method !== 'ACK' && method !== 'CANCEL' && method !== 'BYE') headers.push(['Contact', this.localContact]);
    if (opts.headers) headers.push(...opts.headers);
    return buildRequest({ method, uri: requestUri, headers, body: opts.body });
  }

  /**
   * Request-URI and Route headers per §12.2.1.1: loose routing when the first route has `lr`,
   * otherwise strict routing (first route becomes the Request-URI, the remote target goes last).
   */
  requestTarget(): { requestUri: string; routes: string[] } {
    if (this.routeSet.length === 0) return { requestUri: this.remoteTarget, routes: [] };
    const first = parseNameAddr(this.routeSet[0]!, 'Route');
    const u = first.uri;
    if (u.kind === 'sip' && u.params.has('lr')) return { requestUri: this.remoteTarget, routes: [...this.routeSet] };
    const uri = u.kind === 'sip' ? stripUriHeaders(u) : first.uriText;
    return { requestUri: uri, routes: [...this.routeSet.slice(1), `<${this.remoteTarget}>`] };
  }

  /**
   * Checks an in-dialog request's CSeq (§12.2.2): lower than the remote sequence → 500.
   * Target-refresh requests update the remote target. Returns false when out of order.
   */
  receiveRequest(req: SipRequest): boolean {
    const seq = req.cseq.seq;
    if (req.method !== 'ACK' && req.method !== 'CANCEL') {
      if (this.remoteSeq !== undefined && seq <= this.remoteSeq) return false;
      this.remoteSeq = seq;
    }
    if (isTargetRefresh(req.method)) {
      const c = safeContact(req);
      if (c) this.remoteTarget = own(c);
    }
    return true;
  }

  /** A 2xx to a target-refresh request updates the remote target (§12.2.1.2). */
  receiveResponse(res: SipResponse): void {
    if (res.status >= 200 && res.status < 300 && isTargetRefresh(res.cseq.method)) {
      const c = safeContact(res);
      if (c) this.remoteTarget = own(c);
    }
  }
}


/** A copy of `s` that shares no memory with the string it was cut from. */
function own(s: string): string {
  return s.length <= 12 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

function stripTag(na: NameAddr): string {
  const c = na.clone();
  c.params.delete('tag');
  return c.toString();
}

function stripUriHeaders(u: SipUri): string {
  const c = u.clone();
  c.headers = undefined;
  return c.toString();
}

function safeContact(m: SipRequest | SipResponse): string | undefined {
  try {
    return m.contact[0]?.uriText;
  } catch {
    return undefined;
  }
}
