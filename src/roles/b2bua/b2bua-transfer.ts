/**
 * A REFER handled by the B2BUA itself (RFC 3515, RFC 5589): the leg that sent it (the
 * transferor's, X) is answered 202 and told how the transfer goes in NOTIFYs (`message/sipfrag`);
 * the leg that stays (R) is joined to the transfer target:
 *
 * - blind: a new outgoing leg N to the Refer-To URI, offering R's media description; once N
 *   answers, R is re-INVITEd with N's description, and R and N are partners;
 * - attended: a Refer-To with Replaces (RFC 3891) naming another of our legs (Y, the
 *   transferor's other call, whose partner is Z): R is re-INVITEd with Z's description, Z with
 *   R's answer, R and Z become partners and Y is ended with BYE.
 *
 * X is then on its own: the transferor ends it with BYE (RFC 5589 §6.1), or we do after
 * {@link TRANSFEROR_GRACE_MS}. A Replaces that names none of our legs is carried to the target.
 *
 * @remarks Role (`roles/b2bua`).
 */
import { reoriginate, resumeSdp } from '../../sdp/index.js';
import type { HeaderList, SipRequest } from '../../sip/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SipElement } from '../../tu/index.js';
import { type ClientInviteSession, type InviteSession, ReferNotifier, readReferTo } from '../../usage/index.js';
import type { B2buaCall, B2buaCallConfig, Partners } from './b2bua-call.js';
import { placeLeg } from './b2bua-leg.js';

/** How long the transferor has to send its BYE after the final NOTIFY before we send ours. */
export const TRANSFEROR_GRACE_MS = 2000;

export interface TransferContext {
  readonly element: SipElement;
  readonly cfg: B2buaCallConfig;
  readonly partners: Partners;
  log(line: string): void;
  /** Our leg whose dialog is (Call-ID, local tag, remote tag), with its call. */
  legOf(callId: string, localTag: string, remoteTag: string): { session: InviteSession; call: B2buaCall } | undefined;
  /** A new outgoing leg belonging to `call`, offering `offer`. */
  newLeg(call: B2buaCall, offer: string): ClientInviteSession;
}

const live = (s: InviteSession | undefined): s is InviteSession => s !== undefined && (s.state === 'Confirmed' || s.state === 'WaitingForAck');

/** The user part of a dialog URI (`sip:bob@host` → bob), for the From of a leg placed for it. */
const userOf = (uri: string | undefined): string => /^<?sips?:([^@;>?]+)@/.exec(uri ?? '')?.[1] ?? 'anonymous';

export function handleRefer(ctx: TransferContext, req: SipRequest, tx: ServerTransaction, x: InviteSession, call: B2buaCall): void {
  const uas = ctx.element.uas;
  const referTo = readReferTo(req);
  if (!referTo.ok) return void uas.respond(tx, req, referTo.status, { reason: referTo.reason });
  const r = ctx.partners.get(x);
  if (!live(r) || !live(x)) return void uas.respond(tx, req, 491, { reason: 'No Bridged Call to Transfer', headers: [['Retry-After', '2']] });
  const { uri } = referTo;
  const replacesValue = referTo.replaces?.value;
  const replaces = referTo.replaces?.target;
  const y = replaces ? ctx.legOf(replaces.callId, replaces.toTag, replaces.fromTag) : undefined;
  const z = y ? ctx.partners.get(y.session) : undefined;
  if (y !== undefined && (!live(y.session) || !live(z) || y.session === x || z === r)) {
    return void uas.respond(tx, req, 481, { reason: 'Replaced Call Not Bridged' });
  }
  uas.respond(tx, req, 202);
  const notifier = new ReferNotifier(x);
  void notifier.notify(100, 'Trying');
  const label = `b2bua: ${req.callId}: REFER to ${uri}`;
  const done = (status: number, reason: string) => {
    void notifier.notify(status, reason).then(() => {
      if (status < 200 || status >= 300) return;
      // RFC 5589 §6.1: the transferor hangs up; if it does not, we end its leg.
      ctx.element.clock.setTimer(TRANSFEROR_GRACE_MS, () => {
        if (live(x)) void x.bye('transferred').catch(() => {});
      });
    });
  };
  const job = y !== undefined && z !== undefined
    ? joinAttended(ctx, x, r, y.session, z, y.call, call, done, label)
    : joinBlind(ctx, x, r, call, uri, [
      ...req.headers('Referred-By').map((v): [string, string] => ['Referred-By', v]),
      ...(replacesValue !== undefined ? [['Replaces', replacesValue] as [string, string]] : []),
    ], done, label);
  job.catch((e: unknown) => {
    ctx.log(`${label}: failed: ${(e as Error).message}`);
    done(500, 'Server Internal Error');
  });
}

/** Blind transfer: a new leg N to the target offering R's description; R re-INVITEd with N's answer. */
async function joinBlind(
  ctx: TransferContext, x: InviteSession, r: InviteSession, call: B2buaCall, target: string, headers: HeaderList,
  done: (status: number, reason: string) => void, label: string,
): Promise<void> {
  const offer = r.sdp.remoteSdp;
  if (offer === undefined) return done(488, 'Not Acceptable Here');
  const n = ctx.newLeg(call, resumeSdp(offer));
  const result = await placeLeg(ctx.element, n, {
    target,
    fromUser: userOf(r.dialog?.remoteUri),
    body: n.offer,
    maxForwards: 70,
    headers,
    sessionTimer: ctx.cfg.sessionTimer,
    onProvisional: (res) => {
      if (res.status > 100) done(res.status, res.reason);
    },
  });
  if (result === undefined) {
    n.end('no-route');
    ctx.log(`${label}: the target does not resolve`);
    return done(404, 'Not Found');
  }
  await n.final(result);
  const res = result.response;
  if (res.status < 200 || res.status >= 300 || n.sdpFailure !== undefined || n.state !== 'Confirmed') {
    ctx.log(`${label}: the target answered ${res.status}${n.sdpFailure ? ` (${n.sdpFailure})` : ''}; the call stays as it was`);
    return done(n.sdpFailure ? 488 : res.status, n.sdpFailure ? 'Not Acceptable Here' : res.reason);
  }
  const reoffer = await r.request('INVITE', { body: reoriginate(resumeSdp(n.sdp.remoteSdp ?? ''), r.sdp.localSdp), contentType: 'application/sdp' });
  if (reoffer.status < 200 || reoffer.status >= 300) {
    ctx.log(`${label}: the remaining leg refused the target's media (${reoffer.status}); the new leg is ended`);
    void n.bye('transfer-failed').catch(() => {});
    return done(reoffer.status, reoffer.reason);
  }
  ctx.partners.delete(x);
  ctx.partners.set(r, n);
  ctx.partners.set(n, r);
  call.attach(n);
  call.transferred();
  ctx.log(`${label}: joined ${n.invite?.callId} to the remaining leg`);
  done(200, 'OK');
}

/** Attended transfer: R and Z (the far end of the replaced leg Y) exchange descriptions and are joined; Y ends. */
async function joinAttended(
  ctx: TransferContext, x: InviteSession, r: InviteSession, y: InviteSession, z: InviteSession, callY: B2buaCall, callX: B2buaCall,
  done: (status: number, reason: string) => void, label: string,
): Promise<void> {
  const zSdp = z.sdp.remoteSdp;
  if (zSdp === undefined) return done(488, 'Not Acceptable Here');
  const toR = await r.request('INVITE', { body: reoriginate(resumeSdp(zSdp), r.sdp.localSdp), contentType: 'application/sdp' });
  if (toR.status < 200 || toR.status >= 300) return done(toR.status, toR.reason);
  const toZ = await z.request('INVITE', { body: reoriginate(resumeSdp(r.sdp.remoteSdp ?? ''), z.sdp.localSdp), contentType: 'application/sdp' });
  if (toZ.status < 200 || toZ.status >= 300) {
    // R is put back on the transferor's media.
    const xSdp = x.sdp.remoteSdp;
    if (xSdp !== undefined) void r.request('INVITE', { body: reoriginate(xSdp, r.sdp.localSdp), contentType: 'application/sdp' }).catch(() => {});
    return done(toZ.status, toZ.reason);
  }
  ctx.partners.delete(x);
  ctx.partners.delete(y);
  ctx.partners.set(r, z);
  ctx.partners.set(z, r);
  callX.transferred();
  callY.transferred();
  ctx.log(`${label}: replaced ${y.dialog?.callId}: its far end joined to the remaining leg`);
  void y.bye('replaced').catch(() => {});
  done(200, 'OK');
}
