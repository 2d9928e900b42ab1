/**
 * Call transfer in the user agent: the transferee's side of REFER (RFC 3515 §2.4) and the
 * replacing INVITE of attended transfer (RFC 3891 §3).
 *
 * @remarks Role (`roles/user-agent`). The transferor's side is {@link Call.transfer}.
 */
import { parseReplaces } from '../../dialog/index.js';
import type { HeaderList, SipRequest } from '../../sip/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SipElement } from '../../tu/index.js';
import { ReferNotifier, readReferTo } from '../../usage/index.js';
import type { Call } from './call.js';
import type { InviteOptions } from './user-agent.js';

/**
 * Header fields a Refer-To URI may ask us to put in the INVITE (RFC 3515 §2.1 lets it name any;
 * we take the ones transfer uses, never one that frames or routes the request).
 */
const REFER_TO_HEADERS = new Set(['replaces', 'subject', 'accept-contact', 'reject-contact']);

export interface TransfereeContext {
  readonly element: SipElement;
  invite(target: string, opts: InviteOptions): Promise<Call>;
}

/**
 * A REFER within `call`: 202, then the Refer-To target is called (with the Referred-By, and the
 * Replaces of an attended transfer), and its progress reported in NOTIFYs within this call's
 * dialog (`message/sipfrag`); the transferor ends this call once the new one is answered.
 */
export function acceptRefer(ctx: TransfereeContext, req: SipRequest, tx: ServerTransaction, call: Call): void {
  const uas = ctx.element.uas;
  const referTo = readReferTo(req);
  if (!referTo.ok) return void uas.respond(tx, req, referTo.status, { reason: referTo.reason });
  const carried: HeaderList = referTo.headers.filter(([n]) => REFER_TO_HEADERS.has(n.toLowerCase()));
  uas.respond(tx, req, 202);
  const notifier = new ReferNotifier(call.session);
  void notifier.notify(100, 'Trying');
  const referredBy = req.header('Referred-By');
  void ctx
    .invite(referTo.uri, {
      headers: [...(referredBy ? ([['Referred-By', referredBy]] as HeaderList) : []), ...carried],
      onProvisional: (res) => {
        if (res.status > 100) void notifier.notify(res.status, res.reason);
      },
    })
    .then(
      (next) => {
        void notifier.notify(next.finalResponse?.status ?? 500, next.finalResponse?.reason ?? 'Server Internal Error');
        call.emit('transferred', next);
      },
      () => void notifier.notify(503, 'Service Unavailable'),
    );
}

/**
 * The call an INVITE's Replaces names (RFC 3891 §3), or the status to refuse the INVITE with:
 * 400 for a malformed or repeated header, 481 when no dialog matches (or it is an early dialog
 * we did not initiate), 486 for `early-only` against a confirmed dialog, 603 for one ending.
 * The tags are read as if they were in a request to us: to-tag ours, from-tag the peer's.
 */
export function replacedCall(req: SipRequest, find: (callId: string, localTag: string, remoteTag: string) => Call | undefined): Call | number {
  const values = req.headerValues('Replaces');
  if (values.length !== 1) return 400;
  const r = parseReplaces(values[0]);
  if (r === undefined) return 400;
  const call = find(r.callId, r.toTag, r.fromTag);
  if (call === undefined) return 481;
  const st = call.session.state;
  if (st === 'Terminating' || st === 'Terminated') return 603;
  if (st === 'Confirmed' || st === 'WaitingForAck') return r.earlyOnly ? 486 : call;
  // An early dialog may be replaced only at its originator (§3, §7.1: call pickup reaches the caller).
  return call.direction === 'outgoing' ? call : 481;
}
