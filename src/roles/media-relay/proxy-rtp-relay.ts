/**
 * The proxy's media relay (Kamailio's `rtpengine_manage()` after `nat_uac_test`): which calls go
 * through rtpengine, and which ng command each SDP the proxy carries becomes.
 *
 * A call is relayed when `relay: always`, or (`relay: nat`) when a party is behind a NAT: the
 * caller by the tests of `tu/nat-detect.ts` (or an SDP address that is private while the
 * INVITE came from another), the callee when it is reached over its flow (a NATed or outbound
 * binding). From then on every SDP of the dialog is rewritten (RFC 3264 offer/answer, RFC 3261
 * §13.2.1 where each may be):
 *
 * | message                                   | ng       | from-tag / to-tag   |
 * | ----------------------------------------- | -------- | ------------------- |
 * | INVITE, re-INVITE, UPDATE with SDP        | offer    | From / –            |
 * | its 18x/2xx with SDP                      | answer   | From / To           |
 * | 18x/2xx with SDP to an INVITE without     | offer    | To / –  (delayed)   |
 * | then ACK or PRACK with SDP                | answer   | To / From           |
 * | BYE; final ≥ 300 to the initial INVITE    | delete   | (the whole call)    |
 *
 * (a CANCEL ends in the INVITE's 487, a timeout in its 408: both are "final ≥ 300").
 *
 * @remarks Role (`roles/media-relay`). Implements {@link ProxyMediaRelay} for `tu/proxy-core.ts`.
 */
import type { SipMessage, SipRequest, SipResponse } from '../../sip/index.js';
import type { ProxyMediaRelay, ProxyTarget } from '../../tu/index.js';
import { type MediaRelay, sdpOf } from './media-relay.js';
import { relayReason } from './call-media.js';

export interface ProxyRtpRelayOptions {
  /** `nat`: calls with a party behind a NAT; `always`: every call with SDP. */
  relay: 'nat' | 'always';
  /** Calls remembered at once (the oldest forgotten first; rtpengine's own timeout then ends it). */
  maxCalls?: number;
}

interface RelayedCall {
  /** An offer came in a response (delayed offer): the next SDP in a request (ACK, PRACK) answers it. */
  offerInResponse: boolean;
  /** Received SDP → the body we sent, for the 2xx of each branch (its retransmissions get the same). */
  given: Map<string, Buffer>;
}

const MAX_GIVEN = 4;

/** The methods whose SDP is an offer or an answer of the session. */
const SESSION_METHODS = new Set(['INVITE', 'UPDATE', 'PRACK', 'ACK']);

export class ProxyRtpRelay implements ProxyMediaRelay {
  private readonly calls = new Map<string, RelayedCall>();
  private readonly maxCalls: number;

  constructor(
    private readonly relay: MediaRelay,
    private readonly opts: ProxyRtpRelayOptions,
    private readonly log: (level: 'info' | 'warn' | 'debug', line: string) => void,
  ) {
    this.maxCalls = opts.maxCalls ?? 100_000;
  }

  /** Calls under relay now. */
  get size(): number {
    return this.calls.size;
  }

  request(req: SipRequest, targets: readonly ProxyTarget[]): Promise<Buffer | undefined | { status: number; reason: string }> | undefined {
    if (req.method === 'INVITE' && req.to.tag === undefined) return this.initial(req, targets);
    const call = this.calls.get(req.callId);
    if (call === undefined) return undefined;
    if (req.method === 'BYE') {
      this.end(req.callId, 'BYE');
      return undefined;
    }
    // Offers and answers travel in INVITE, UPDATE, PRACK and ACK only (RFC 3261 §13, RFC 3311,
    // RFC 3262); an SDP elsewhere (an OPTIONS answer, §11.2) is no part of the session.
    if (!SESSION_METHODS.has(req.method)) return undefined;
    const sdp = sdpOf(req);
    if (sdp === undefined) {
      // A re-INVITE without an offer: the offer comes in its 2xx, the answer in the ACK.
      if (req.method === 'INVITE') call.offerInResponse = true;
      return undefined;
    }
    const source = req.source ? { address: req.source.address } : undefined;
    if (req.method === 'ACK' || (req.method === 'PRACK' && call.offerInResponse)) {
      call.offerInResponse = false;
      const to = req.to.tag ?? '';
      return this.rewrite(req, 'answer', () => this.relay.answer({ callId: req.callId, fromTag: to, toTag: req.from.tag ?? '', sdp, source }));
    }
    call.offerInResponse = false;
    return this.rewrite(req, 'offer', () => this.relay.offer({ callId: req.callId, fromTag: req.from.tag ?? '', sdp, source }));
  }

  response(res: SipResponse, req: SipRequest): Promise<Buffer | undefined> | undefined {
    if (res.status < 101 || res.status >= 300 || !SESSION_METHODS.has(req.method) || req.method === 'ACK') return undefined;
    const call = this.calls.get(res.callId);
    if (call === undefined) return undefined;
    const sdp = sdpOf(res);
    const toTag = res.to.tag;
    if (sdp === undefined || toTag === undefined) return undefined;
    const fromTag = res.from.tag ?? '';
    const source = res.source ? { address: res.source.address } : undefined;
    const answer = sdpOf(req) !== undefined;
    if (!answer) call.offerInResponse = true;
    const p = this.rewrite(res, answer ? 'answer' : 'offer', () =>
      answer ? this.relay.answer({ callId: res.callId, fromTag, toTag, sdp, source }) : this.relay.offer({ callId: res.callId, fromTag: toTag, sdp, source }),
    );
    return p.then((body) => {
      if (body !== undefined && res.status >= 200) {
        if (call.given.size >= MAX_GIVEN) call.given.delete(call.given.keys().next().value!);
        call.given.set(sdp, body);
      }
      return body;
    });
  }

  retransmission(res: SipResponse): Buffer | undefined {
    const call = this.calls.get(res.callId);
    const sdp = call === undefined ? undefined : sdpOf(res);
    return sdp === undefined ? undefined : call!.given.get(sdp);
  }

  failed(req: SipRequest, status: number): void {
    if (this.calls.has(req.callId)) this.end(req.callId, `INVITE answered ${status}`);
  }

  /** Forgets every call (the server stops: rtpengine is told to release them). */
  async releaseAll(): Promise<void> {
    const ids = [...this.calls.keys()];
    this.calls.clear();
    await Promise.all(ids.map((id) => this.relay.delete(id, 'server stopping')));
  }

  private initial(req: SipRequest, targets: readonly ProxyTarget[]): Promise<Buffer | undefined | { status: number; reason: string }> | undefined {
    const why = this.why(req, targets);
    if (why === undefined) return undefined;
    const callId = req.callId;
    if (!this.calls.has(callId)) {
      if (this.calls.size >= this.maxCalls) this.calls.delete(this.calls.keys().next().value!);
      this.calls.set(callId, { offerInResponse: false, given: new Map() });
    }
    const sdp = sdpOf(req);
    if (sdp === undefined) {
      // Delayed offer (RFC 3261 §13.2.1): the callee offers in its 2xx, the caller answers in the ACK.
      this.calls.get(callId)!.offerInResponse = true;
      this.log('info', `media relay: ${callId}: relayed (${why}); the offer comes in the answer`);
      return undefined;
    }
    const source = req.source ? { address: req.source.address } : undefined;
    return this.relay.offer({ callId, fromTag: req.from.tag ?? '', sdp, source }).then(
      (out) => {
        this.log('info', `media relay: ${callId}: through rtpengine ${this.relay.instanceOf(callId) ?? '?'} (${why})`);
        return Buffer.from(out, 'utf8');
      },
      (e: unknown) => {
        this.calls.delete(callId);
        this.log('warn', `media relay: ${callId}: rtpengine offer failed (${this.relay.failed(e)}): INVITE answered 503 (${why}, no audio without the relay)`);
        return { status: 503, reason: 'Media Relay Unavailable' };
      },
    );
  }

  /** Why this call is relayed, or undefined when it is not. */
  private why(req: SipRequest, targets: readonly ProxyTarget[]): string | undefined {
    return relayReason(this.opts.relay, req, targets.find((t) => t.flow)?.uri);
  }

  private rewrite(m: SipMessage, what: 'offer' | 'answer', run: () => Promise<string>): Promise<Buffer | undefined> {
    return run().then(
      (out) => Buffer.from(out, 'utf8'),
      (e: unknown) => {
        const name = 'method' in m ? (m as SipRequest).method : `${(m as SipResponse).status} ${(m as SipResponse).cseq.method}`;
        this.log('warn', `media relay: ${m.callId}: rtpengine ${what} for ${name} failed (${this.relay.failed(e)}): its SDP passes unchanged`);
        return undefined;
      },
    );
  }

  private end(callId: string, why: string): void {
    this.calls.delete(callId);
    void this.relay.delete(callId, why);
  }
}
