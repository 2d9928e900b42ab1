/**
 * DTMF relay across the B2BUA's legs (docs/gateway.md, `b2bua.dtmf: convert`): each leg agrees
 * on its own out-of-band method with its far end — NOTIFY-based relay when the far end and we
 * both advertised the Cisco `Call-Info` (the handbook §10.4), else INFO `application/dtmf-relay`
 * when the far end allows INFO — and a digit arriving on one leg is sent on the other by that
 * leg's method: a NOTIFY `telephone-event` becomes an INFO `Signal=`/`Duration=` and back. RFC
 * 4733 events (rtp-nte) travel in the media, which the B2BUA does not touch: they pass end to
 * end between the phones' RTP, and cannot be converted to or from the signalling methods here.
 *
 * @remarks Role (`roles/b2bua`).
 */
import { DEFAULT_NOTIFY_DURATION_MS, dtmfRelayBody, notifyCallInfo, parseDtmfRelay, parseNotifyCallInfo, parseTelephoneEvent, telephoneEventBody } from '../../media/index.js';
import type { HeaderList, SipMessage, SipRequest } from '../../sip/index.js';

/** What a leg's far end takes, and whether we offered it NOTIFY-based relay. */
export interface LegDtmf {
  /** The Duration of the far end's Call-Info NOTIFY offer (ms), when it made one. */
  notifyDuration?: number;
  /** We advertised NOTIFY-based relay to this far end (our Call-Info in the INVITE or the 200). */
  notifyOffered: boolean;
  /** Its Allow lists INFO (or it sent no Allow: RFC 3261 §20.5 assumes the basic set, INFO is an extension we try). */
  allowsInfo: boolean;
}

/** The far end's DTMF capabilities from its INVITE or 2xx. */
export function farEndDtmf(msg: SipMessage, notifyOffered: boolean): LegDtmf {
  const allow = msg.header('Allow');
  return {
    notifyDuration: parseNotifyCallInfo(msg.headerValues('Call-Info')),
    notifyOffered,
    allowsInfo: allow === undefined || allow.toUpperCase().split(/\s*,\s*/).includes('INFO'),
  };
}

/** NOTIFY-based relay was agreed on this leg: both ends advertised it. */
export function notifyAgreed(leg: LegDtmf | undefined): boolean {
  return leg?.notifyDuration !== undefined && leg.notifyOffered;
}

/** Our Call-Info offering NOTIFY-based relay, Duration the lower of `duration` and IOS's default. */
export function notifyOfferHeader(contactUri: string, duration: number | undefined): HeaderList {
  return [['Call-Info', notifyCallInfo(contactUri, Math.min(duration ?? DEFAULT_NOTIFY_DURATION_MS, DEFAULT_NOTIFY_DURATION_MS))]];
}

/** A digit in a NOTIFY telephone-event or an INFO dtmf-relay, with its duration (ms). */
export function dtmfOf(req: SipRequest): { digit: string; duration: number; method: 'sip-notify' | 'sip-info' } | undefined {
  if (req.method === 'NOTIFY' && /^\s*telephone-event\b/i.test(req.header('Event') ?? '')) {
    const e = parseTelephoneEvent(req.body);
    return e ? { digit: e.digit, duration: e.duration, method: 'sip-notify' } : undefined;
  }
  if (req.method === 'INFO' && req.contentType === 'application/dtmf-relay') {
    const e = parseDtmfRelay(req.body.toString('utf8'));
    return e ? { digit: e.digit, duration: e.duration ?? 160, method: 'sip-info' } : undefined;
  }
  return undefined;
}

/** The request that carries `digit` to a leg whose far end is `to`; undefined when it takes neither method. */
export function dtmfRequestFor(to: LegDtmf, digit: string, duration: number): { method: string; body: string | Buffer; contentType: string; headers: HeaderList; via: 'sip-notify' | 'sip-info' } | undefined {
  if (notifyAgreed(to)) {
    // Cisco's NOTIFY carries the agreed Duration, not the press's length (handbook §10.4).
    const agreed = Math.min(to.notifyDuration!, DEFAULT_NOTIFY_DURATION_MS);
    return { method: 'NOTIFY', body: telephoneEventBody(digit, agreed), contentType: 'audio/telephone-event', headers: [['Event', 'telephone-event'], ['Subscription-State', 'active']], via: 'sip-notify' };
  }
  if (to.allowsInfo) return { method: 'INFO', body: dtmfRelayBody(digit, duration), contentType: 'application/dtmf-relay', headers: [], via: 'sip-info' };
  return undefined;
}
