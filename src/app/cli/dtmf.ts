/**
 * DTMF relay for `switchboard call --dtmf DIGITS --dtmf-relay LIST` and `switchboard answer
 * --dtmf-relay LIST` (media/dtmf.ts): the Call-Info offer of NOTIFY-based relay in the INVITE and
 * the 200, the method both ends agreed on (in the caller's order of preference), the digits sent
 * one by one after the answer, and each digit received printed as `DTMF <digit> <method>`.
 *
 * @remarks App layer (`app/cli`).
 */
import {
  DEFAULT_NOTIFY_DURATION_MS, DTMF_METHODS, type DtmfMethod, agreeDtmf, dtmfRelayBody, isDtmfDigit, notifyCallInfo, parseDtmfRelay, parseNotifyCallInfo, parseTelephoneEvent,
  telephoneEventBody,
} from '../../media/index.js';
import type { HeaderList, SipRequest } from '../../sip/index.js';
import type { Call, IncomingCall, UserAgent } from '../../roles/user-agent/index.js';
import type { RtpSession } from '../../media/index.js';
import { UsageError } from './usage-error.js';

export function dtmfMethods(list: string | undefined): DtmfMethod[] {
  if (list === undefined) return [];
  const methods = list.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of methods) if (!DTMF_METHODS.includes(m as DtmfMethod)) throw new UsageError(`invalid --dtmf-relay "${m}": expected a list of ${DTMF_METHODS.join(', ')}`);
  return methods as DtmfMethod[];
}

/** `--dtmf-max-duration MS` (IOS `sip-ua` `notify telephone-event max-duration`, 500–3000 ms). */
export function dtmfMaxDuration(v: string | undefined): number {
  if (v === undefined) return DEFAULT_NOTIFY_DURATION_MS;
  if (!/^\d+$/.test(v) || Number(v) < 500 || Number(v) > 3000) throw new UsageError(`invalid --dtmf-max-duration "${v}": expected milliseconds from 500 to 3000`);
  return Number(v);
}

export function dtmfDigits(digits: string | undefined): string | undefined {
  if (digits === undefined) return undefined;
  if (digits.length === 0 || ![...digits].every(isDtmfDigit)) throw new UsageError(`invalid --dtmf "${digits}": expected digits 0-9, *, #, A-D`);
  return digits.toUpperCase();
}

/** Call-Info offering NOTIFY-based relay, when `sip-notify` is among our methods. */
export function dtmfOfferHeaders(ua: UserAgent, methods: readonly DtmfMethod[], maxDuration = DEFAULT_NOTIFY_DURATION_MS): HeaderList {
  return methods.includes('sip-notify') ? [['Call-Info', notifyCallInfo(ua.element.uac.contactUri('udp'), maxDuration)]] : [];
}

/** Our Call-Info in the 200 when both ends offer NOTIFY-based relay (the handbook §10.4). */
export function dtmfAnswerHeaders(ua: UserAgent, inv: IncomingCall, methods: readonly DtmfMethod[], maxDuration = DEFAULT_NOTIFY_DURATION_MS): HeaderList {
  const theirs = parseNotifyCallInfo(inv.request.headerValues('Call-Info'));
  if (theirs === undefined || !methods.includes('sip-notify')) return [];
  return [['Call-Info', notifyCallInfo(ua.element.uac.contactUri('udp'), Math.min(theirs, maxDuration))]];
}

/**
 * Sends `digits` by the method both ends agreed on; resolves with that method, or undefined when
 * none. What the peer offered is in its INVITE (we answered) or its 2xx (we called).
 */
export async function sendDigits(call: Call, methods: readonly DtmfMethod[], digits: string, rtp?: RtpSession, maxDuration = DEFAULT_NOTIFY_DURATION_MS): Promise<DtmfMethod | undefined> {
  const peer = call.direction === 'outgoing' ? call.finalResponse : call.invite;
  const allow = (peer?.header('Allow') ?? '').toUpperCase().split(/\s*,\s*/);
  const agreed = agreeDtmf(methods, { notifyDuration: peer ? parseNotifyCallInfo(peer.headerValues('Call-Info')) : undefined, allowsInfo: allow.includes('INFO'), rtpNte: rtp?.telephoneEvent !== undefined }, maxDuration);
  if (!agreed) return undefined;
  for (const d of digits) {
    if (agreed.method === 'rtp-nte') {
      await rtp!.sendDigit(d, agreed.duration);
      process.stdout.write(`DTMF sent ${d} rtp-nte\n`);
      continue;
    }
    const r = agreed.method === 'sip-notify'
      ? await call.request('NOTIFY', { headers: [['Event', 'telephone-event'], ['Subscription-State', 'active']], body: telephoneEventBody(d, agreed.duration), contentType: 'audio/telephone-event' })
      : await call.request('INFO', { body: dtmfRelayBody(d, agreed.duration), contentType: 'application/dtmf-relay' });
    process.stdout.write(`DTMF sent ${d} ${agreed.method}: ${r.status} ${r.reason}\n`);
  }
  return agreed.method;
}

/** A DTMF digit in an in-dialog NOTIFY or INFO, and its method; undefined for anything else. */
export function receivedDigit(req: SipRequest): { digit: string; method: DtmfMethod } | undefined {
  if (req.method === 'NOTIFY' && /^\s*telephone-event\b/i.test(req.header('Event') ?? '')) {
    const e = parseTelephoneEvent(req.body);
    return e ? { digit: e.digit, method: 'sip-notify' } : undefined;
  }
  if (req.method === 'INFO' && req.contentType === 'application/dtmf-relay') {
    const e = parseDtmfRelay(req.body.toString('utf8'));
    return e ? { digit: e.digit, method: 'sip-info' } : undefined;
  }
  return undefined;
}

/** Prints each digit that arrives in a dialog of `ua` (`DTMF <digit> <method>`) and answers it 200. */
export function printDigits(ua: UserAgent): void {
  ua.on('request', (r) => {
    const d = receivedDigit(r.request);
    if (d) process.stdout.write(`DTMF ${d.digit} ${d.method}\n`);
    r.respond(r.call || r.request.method === 'MESSAGE' ? 200 : 481);
  });
}
