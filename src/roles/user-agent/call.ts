/**
 * A call: one INVITE dialog usage with its offer/answer state (RFC 3261 §13–§15, RFC 3264).
 *
 * @remarks Role (`roles/user-agent`). Created by {@link UserAgent}; the application holds it.
 */
import { EventEmitter } from 'node:events';
import type { Dialog } from '../../dialog/index.js';
import type { SipRequest, SipResponse } from '../../sip/index.js';
import { holdSdp, resumeSdp } from '../../sdp/index.js';
import { RequestError } from '../../util/errors.js';

export type CallState = 'calling' | 'early' | 'established' | 'terminated' | 'failed';

/** What the user agent does for a call; implemented by {@link UserAgent}. */
export interface CallOwner {
  sendInDialog(call: Call, method: string, opts?: { body?: string | Buffer; contentType?: string; headers?: Array<[string, string]> }): Promise<SipResponse>;
  cancel(call: Call): Promise<void>;
  release(call: Call): void;
}

export declare interface Call {
  on(event: 'established', fn: () => void): this;
  on(event: 'ended', fn: (reason: string) => void): this;
  on(event: 'request', fn: (req: SipRequest) => void): this;
  on(event: 'progress', fn: (res: SipResponse) => void): this;
}

export class Call extends EventEmitter {
  state: CallState = 'calling';
  dialog: Dialog | undefined;
  /** The INVITE that created the call. */
  invite: SipRequest | undefined;
  /** Final response to the INVITE (outgoing calls), for failures: 486, 408, 503 … */
  finalResponse: SipResponse | undefined;
  localSdp: string | undefined;
  remoteSdp: string | undefined;
  /** Why the call ended: 'local-bye', 'remote-bye', 'cancelled', 'no-ack', 'failed:486' … */
  endReason: string | undefined;
  /**
   * Why a 2xx's SDP could not be used (no common codec, a malformed answer, no offer): the call
   * was ACKed and at once ended with BYE (RFC 3261 §13.2.2.4), end reason `sdp-failed`.
   */
  sdpFailure: string | undefined;
  private endedResolve!: (reason: string) => void;
  /** Resolves when the call is over, with the reason. */
  readonly ended: Promise<string>;

  constructor(
    readonly direction: 'outgoing' | 'incoming',
    private readonly owner: CallOwner,
  ) {
    super();
    this.ended = new Promise((r) => (this.endedResolve = r));
  }

  /** True once a 2xx was sent or received. */
  get established(): boolean {
    return this.state === 'established';
  }

  /** Ends an established call with BYE (RFC 3261 §15.1.1); cancels one still ringing. */
  async bye(reason = 'local-bye'): Promise<SipResponse | undefined> {
    if (this.state === 'calling' || this.state === 'early') {
      await this.owner.cancel(this);
      return undefined;
    }
    if (this.state !== 'established') return undefined;
    this.end(reason);
    return this.owner.sendInDialog(this, 'BYE');
  }

  /** CANCEL an outgoing call that has not been answered (RFC 3261 §9.1). */
  cancel(): Promise<void> {
    return this.owner.cancel(this);
  }

  /** Sends a re-INVITE with a new offer (RFC 3261 §14.1). */
  async reinvite(sdp: string): Promise<SipResponse> {
    const res = await this.owner.sendInDialog(this, 'INVITE', { body: sdp, contentType: 'application/sdp' });
    if (res.status >= 200 && res.status < 300) {
      this.localSdp = sdp;
      if (res.body.length > 0) this.remoteSdp = res.body.toString('utf8');
    }
    return res;
  }

  /** Puts the call on hold with a sendonly (or inactive) re-offer (RFC 3264 §8.4). */
  hold(mode: 'sendonly' | 'inactive' = 'sendonly'): Promise<SipResponse> {
    if (!this.localSdp) throw new RequestError('UA_ERR_NO_SDP', 'no local SDP to modify');
    return this.reinvite(holdSdp(this.localSdp, mode));
  }

  /** Resumes a held call (sendrecv). */
  unhold(): Promise<SipResponse> {
    if (!this.localSdp) throw new RequestError('UA_ERR_NO_SDP', 'no local SDP to modify');
    return this.reinvite(resumeSdp(this.localSdp));
  }

  /** INFO within the dialog (RFC 6086), e.g. DTMF as application/dtmf-relay. */
  info(body: string, contentType = 'application/dtmf-relay'): Promise<SipResponse> {
    return this.owner.sendInDialog(this, 'INFO', { body, contentType });
  }

  /** Any other request within the dialog. */
  request(method: string, opts?: { body?: string | Buffer; contentType?: string; headers?: Array<[string, string]> }): Promise<SipResponse> {
    return this.owner.sendInDialog(this, method, opts);
  }

  /** @internal */
  end(reason: string): void {
    if (this.state === 'terminated' || this.state === 'failed') return;
    this.state = reason.startsWith('failed') || reason === 'cancelled' ? 'failed' : 'terminated';
    this.endReason = reason;
    this.dialog?.transition('Terminated');
    this.owner.release(this);
    this.endedResolve(reason);
    this.emit('ended', reason);
  }
}
