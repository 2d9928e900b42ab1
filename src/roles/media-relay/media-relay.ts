/**
 * The media relay of a call (issue 18): rtpengine, driven over its ng protocol, puts itself
 * between the two parties by rewriting the connection address and ports of each SDP (RFC 4566
 * c=/m=) — the offer one way, the answer the other (RFC 3264) — and forwarding RTP between the
 * ports it announced. A phone behind a NAT writes its private address in its SDP; rtpengine
 * learns where its packets really come from (symmetric RTP, its default endpoint learning) and
 * sends the other party's audio there, so both sides hear each other.
 *
 * rtpengine keys a call by Call-ID and each side by a tag: the offer names the offerer's tag
 * (`from-tag`), the answer both (`to-tag` the answerer's). This class is that vocabulary, the
 * flags every call gets, and the log; the proxy ({@link ProxyRtpRelay}) and the B2BUA map
 * their messages onto it.
 *
 * @remarks Role (`roles/media-relay`), over `media/rtpengine.ts`.
 */
import { MediaRelayError, type RtpengineClient, type SdpOptions } from '../../media/index.js';
import type { SipMessage } from '../../sip/index.js';
import { isPrivateAddress } from '../../tu/index.js';

export interface MediaRelaySettings {
  /** ICE candidates in the SDP: `remove` (the relay is the path; the default), `force`, `default` (as they are). */
  ice: 'remove' | 'force' | 'default';
  /** Extra ng flags for every offer and answer (e.g. `trust-address`, `asymmetric`). */
  flags: readonly string[];
  /** Seconds rtpengine keeps a call after our `delete` (its own default is 30). */
  deleteDelay: number;
}

/** Where a message with SDP came from: its SIP source. */
export interface SdpSource {
  address: string;
}

/** One side's SDP through the relay. */
export interface RelaySide {
  callId: string;
  /** The tag of the side whose SDP this is (offer), or of the offerer (answer). */
  fromTag: string;
  /** The answerer's tag (answer only). */
  toTag?: string;
  sdp: string;
  source?: SdpSource;
}

export class MediaRelay {
  /** Offers and answers rewritten, deletes sent, requests that failed. */
  readonly counts = { offers: 0, answers: 0, deletes: 0, failures: 0 };

  constructor(
    readonly client: RtpengineClient,
    private readonly settings: MediaRelaySettings,
    private readonly log: (level: 'info' | 'warn' | 'debug', line: string) => void,
  ) {}

  /** ng offer: the SDP the other side gets (the relay's address and ports in place of the offerer's). */
  async offer(side: RelaySide): Promise<string> {
    const r = await this.client.offer({ ...this.options(side), callId: side.callId, fromTag: side.fromTag, sdp: side.sdp });
    this.counts.offers++;
    return r.sdp;
  }

  /** ng answer: the SDP the offerer gets back. */
  async answer(side: RelaySide & { toTag: string }): Promise<string> {
    const r = await this.client.answer({ ...this.options(side), callId: side.callId, fromTag: side.fromTag, toTag: side.toTag, sdp: side.sdp });
    this.counts.answers++;
    return r.sdp;
  }

  /** ng delete of the whole call; never rejects (a failure is logged: rtpengine's own timeout ends it later). */
  async delete(callId: string, why: string): Promise<void> {
    try {
      await this.client.delete({ callId, deleteDelay: this.settings.deleteDelay });
      this.counts.deletes++;
      this.log('debug', `media relay: ${callId}: released (${why})`);
    } catch (e) {
      this.counts.failures++;
      this.log('warn', `media relay: ${callId}: delete after ${why} failed (${describe(e)}); rtpengine ends the call by its own timeout`);
    }
  }

  /** The instance serving a call (for the log). */
  instanceOf(callId: string): string | undefined {
    return this.client.instanceOf(callId);
  }

  failed(e: unknown): string {
    this.counts.failures++;
    return describe(e);
  }

  private options(side: RelaySide): SdpOptions {
    const flags = [...this.settings.flags];
    const out: { -readonly [K in keyof SdpOptions]: SdpOptions[K] } = { replace: ['origin', 'session-connection'], ICE: this.settings.ice };
    // A private c= address (a phone behind a NAT that does not know it) is no address to send
    // to: start from the address the SIP message came from, until RTP from the phone shows
    // the port (rtpengine's endpoint learning).
    const c = connectionAddress(side.sdp);
    if (side.source && c !== undefined && isPrivateAddress(c) && c !== side.source.address && !flags.includes('trust-address')) {
      flags.push('SIP-source-address');
      out['received-from'] = [side.source.address.includes(':') ? 'IP6' : 'IP4', side.source.address.replace(/^\[|\]$/g, '')];
    }
    if (flags.length > 0) out.flags = flags;
    return out;
  }
}

/** The SDP of a message, if it carries one (application/sdp). */
export function sdpOf(m: SipMessage): string | undefined {
  return m.body.length > 0 && m.contentType === 'application/sdp' ? m.body.toString('utf8') : undefined;
}

/** The first c= address of an SDP (session level or the first media). */
export function connectionAddress(sdp: string): string | undefined {
  return /^c=IN IP[46] ([^\s/]+)/m.exec(sdp)?.[1];
}

function describe(e: unknown): string {
  if (e instanceof MediaRelayError) return e.reason ? `${e.message}` : e.message;
  return e instanceof Error ? e.message : String(e);
}
