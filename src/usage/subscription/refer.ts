/**
 * REFER (RFC 3515) within an invite dialog — call transfer — and the implicit subscription it
 * creates (RFC 6665 `Event: refer`): the transferee reports how its call to the Refer-To target
 * goes in NOTIFYs whose bodies are `message/sipfrag` status lines (RFC 3420), the last with
 * `Subscription-State: terminated`. The subscription is a second usage of the same dialog
 * (RFC 5057).
 *
 * @remarks Usage layer (`usage/subscription`).
 */
import { type ReplacesTarget, parseReplaces, splitUriHeaders } from '../../dialog/index.js';
import { type HeaderList, type SipRequest, type SipResponse, parseNameAddr } from '../../sip/index.js';
import type { InviteSession } from '../invite/index.js';

/** `SIP/2.0 200 OK` → 200 (RFC 3420: the status line of a sipfrag). */
export function sipfragStatus(body: string | Buffer): number | undefined {
  const m = /^SIP\/2\.0 (\d{3})\b/.exec(body.toString('utf8').trimStart());
  return m ? Number(m[1]) : undefined;
}

/** The NOTIFY body for a status of the referred call (RFC 3515 §2.4.5). */
export function sipfrag(status: number, reason: string): string {
  return `SIP/2.0 ${status} ${reason}\r\n`;
}

/** Is this request a NOTIFY of a refer subscription (RFC 3515 §2.4.4)? */
export function isReferNotify(req: SipRequest): boolean {
  return req.method === 'NOTIFY' && /^\s*refer\b/i.test(req.header('Event') ?? '');
}

export interface ReferOutcome {
  /** The response to the REFER (202 Accepted when the peer took it). */
  response: SipResponse;
  /** The final status of the referred call, from the last NOTIFY (undefined: none came in time). */
  final: number | undefined;
}

/**
 * Transferor: sends REFER with `Refer-To` (and `Referred-By`) within the session's dialog and
 * resolves with the final status the transferee reports in its NOTIFYs — waiting at most
 * `timeoutMs` for it. The NOTIFYs themselves are answered 200 by the dialog's owner.
 */
export async function sendRefer(
  session: InviteSession,
  target: string,
  /** `referredBy`: a name-addr (RFC 3892), e.g. `<sip:alice@example.com>`. */
  opts: { referredBy?: string; timeoutMs: number; headers?: HeaderList },
): Promise<ReferOutcome> {
  let settle!: (status: number | undefined) => void;
  const final = new Promise<number | undefined>((r) => (settle = r));
  const onRequest = (req: SipRequest) => {
    if (!isReferNotify(req)) return;
    const status = sipfragStatus(req.body);
    const terminated = /^\s*terminated\b/i.test(req.header('Subscription-State') ?? '');
    if ((status !== undefined && status >= 200) || terminated) settle(status);
  };
  session.on('request', onRequest);
  const clock = session.element.clock;
  const timer = clock.setTimer(opts.timeoutMs, () => settle(undefined));
  try {
    const headers: HeaderList = [['Refer-To', `<${target}>`], ...(opts.referredBy ? ([['Referred-By', opts.referredBy]] as HeaderList) : []), ...(opts.headers ?? [])];
    const response = await session.request('REFER', { headers });
    if (response.status < 200 || response.status >= 300) {
      settle(undefined);
      return { response, final: undefined };
    }
    return { response, final: await final };
  } finally {
    clock.clearTimer(timer);
    session.off('request', onRequest);
  }
}

/**
 * Transferee: the refer subscription's NOTIFYs within the session's dialog — `active` while the
 * referred call is under way, `terminated;reason=noresource` with its final status.
 */
export class ReferNotifier {
  private done = false;
  constructor(private readonly session: InviteSession) {}

  /** Reports a status of the referred call (100, 180, 200, 486 …); a final one ends the subscription. */
  notify(status: number, reason: string): Promise<SipResponse | undefined> {
    if (this.done) return Promise.resolve(undefined);
    const final = status >= 200;
    if (final) this.done = true;
    const state = final ? 'terminated;reason=noresource' : 'active;expires=60';
    if (this.session.state !== 'Confirmed' && this.session.state !== 'WaitingForAck') return Promise.resolve(undefined);
    return this.session
      .request('NOTIFY', { headers: [['Event', 'refer'], ['Subscription-State', state]], body: sipfrag(status, reason), contentType: 'message/sipfrag' })
      .catch(() => undefined);
  }
}

/** A REFER's Refer-To, read (RFC 3515 §2.4.1), or the response that refuses it. */
export type ReferTo =
  | { ok: true; uri: string; headers: Array<[string, string]>; replaces: { value: string; target: ReplacesTarget } | undefined }
  | { ok: false; status: number; reason: string };

/**
 * The Refer-To of a REFER: exactly one (else 400), a SIP URI (else 416) whose header fields
 * (`?Replaces=…`, RFC 3891 §5) are split off; a Replaces that does not parse is a 400.
 */
export function readReferTo(req: SipRequest): ReferTo {
  if (req.headerValues('Refer-To').length !== 1) return { ok: false, status: 400, reason: 'One Refer-To Expected' };
  let text: string;
  try {
    const to = parseNameAddr(req.header('Refer-To') ?? '', 'Refer-To');
    if (to.uri.kind !== 'sip') return { ok: false, status: 416, reason: 'Unsupported Refer-To' };
    text = to.uriText;
  } catch {
    return { ok: false, status: 400, reason: 'Bad Refer-To' };
  }
  const { uri, headers } = splitUriHeaders(text);
  const value = headers.find(([n]) => n.toLowerCase() === 'replaces')?.[1];
  if (value === undefined) return { ok: true, uri, headers, replaces: undefined };
  const target = parseReplaces(value);
  if (target === undefined) return { ok: false, status: 400, reason: 'Bad Replaces in Refer-To' };
  return { ok: true, uri, headers, replaces: { value, target } };
}
