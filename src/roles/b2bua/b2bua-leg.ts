/**
 * An outgoing leg of the B2BUA: a new INVITE of ours — new Call-ID, From tag, CSeq 1, our Via
 * and Contact, nothing of the other leg's Via, Record-Route, Contact or tags (topology hiding) —
 * fed to a {@link ClientInviteSession}. Used for leg B of every call and for the leg a handled
 * REFER places to its Refer-To target.
 *
 * @remarks Role (`roles/b2bua`).
 */
import { type HeaderList, buildRequest } from '../../sip/index.js';
import type { SendResult, SipElement, Target } from '../../tu/index.js';
import { type ClientInviteSession, type SessionTimerSettings, parseMinSE, uacSessionTimerHeaders } from '../../usage/index.js';
import { newCallId, newTag } from '../../util/ids.js';

/** What the B2BUA does on either leg (RFC 3261 §8.2, §20.5). */
export const ALLOW = ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'PRACK', 'INFO', 'UPDATE', 'REFER', 'NOTIFY'];

export interface OutgoingLeg {
  /** The Request-URI (and To). */
  target: string;
  /** Where to send it instead of resolving `target`: a NATed binding's flow (also for the dialog's requests). */
  destination?: Target;
  /** The calling user and display name shown in From (at our host). */
  fromUser: string;
  display?: string;
  /** Our offer, or undefined for a delayed offer (the 2xx offers, RFC 3261 §13.2.1). */
  body?: string;
  maxForwards: number;
  /** Extra header fields (copied from the other leg, Referred-By …). */
  headers?: HeaderList;
  sessionTimer?: SessionTimerSettings | false;
  /** `Supported: 100rel` (default true); off when an offer in a reliable 18x could not be answered at once. */
  reliable?: boolean;
  onProvisional?: (res: import('../../sip/index.js').SipResponse) => void;
  /** Asked once each INVITE transaction exists: true cancels it at once (the caller gave up meanwhile). */
  abandoned?: () => boolean;
}

/**
 * Resolves the target and sends the leg's INVITE; resolves with its final response (undefined
 * when the target does not resolve). A `422 Session Interval Too Small` is retried once with the
 * Min-SE it names (RFC 4028 §7.4), as the user agent does.
 */
export async function placeLeg(element: SipElement, session: ClientInviteSession, leg: OutgoingLeg): Promise<SendResult | undefined> {
  const uac = element.uac;
  let targets: Target[];
  try {
    targets = leg.destination ? [leg.destination] : await uac.resolve(leg.target);
  } catch {
    targets = [];
  }
  session.natFlow = leg.destination;
  if (targets.length === 0) return undefined;
  const host = element.transport.sentBy(targets[0]!.kind).host;
  const callId = newCallId(host.replace(/[[\]]/g, ''));
  const fromTag = newTag();
  const timer = leg.sessionTimer;
  let cseq = 1;
  const send = (timerHeaders: HeaderList) =>
    uac.send(targets, (t) => {
      const sb = element.transport.sentBy(t.kind);
      const headers: HeaderList = [
        ['Via', uac.via(t.kind)],
        ['Max-Forwards', String(leg.maxForwards)],
        ['From', `${leg.display ? `"${leg.display}" ` : ''}<sip:${leg.fromUser}@${sb.host}>;tag=${fromTag}`],
        ['To', `<${leg.target}>`],
        ['Call-ID', callId],
        ['CSeq', `${cseq} INVITE`],
        ['Contact', `<${uac.contactUri(t.kind, 'b2bua')}>`],
        ['Allow', ALLOW.join(', ')],
        ...timerHeaders,
        ['User-Agent', element.product],
        ...(leg.headers ?? []),
      ];
      const supported = [...(leg.reliable === false ? [] : ['100rel']), ...(timer ? ['timer'] : [])];
      if (supported.length > 0) headers.splice(8, 0, ['Supported', supported.join(', ')]);
      if (leg.body !== undefined) headers.push(['Content-Type', 'application/sdp']);
      return buildRequest({ method: 'INVITE', uri: leg.target, headers, body: leg.body });
    }, {
      onTransaction: (tx, t) => {
        session.transactionStarted(tx, t);
        if (leg.abandoned?.()) void session.cancel();
      },
      onProvisional: (res) => {
        session.provisional(res);
        leg.onProvisional?.(res);
      },
      onExtra2xx: (res) => session.extra2xx(res),
    });
  let result = await send(timer ? uacSessionTimerHeaders(timer) : []);
  const minSE = result.response.status === 422 && timer ? parseMinSE(result.response) : undefined;
  if (minSE !== undefined && timer && minSE <= 86_400 && !leg.abandoned?.()) {
    cseq++;
    result = await send(uacSessionTimerHeaders(timer, Math.max(minSE, timer.minSE), Math.max(minSE, timer.expires)));
  }
  return result;
}
