/**
 * Q.850 release causes ↔ SIP status codes, with the defaults of RFC 3398 (§7.2.4.1 cause → SIP,
 * §8.2.6.1 SIP → cause) — what IOS's `sip-ua` `set pstn-cause` / `set sip-status` tables change —
 * and the `Reason` header field that carries a cause (RFC 3326: `Reason: Q.850;cause=16`).
 *
 * @remarks Leaf (`dialplan/`).
 */

/** RFC 3398 §7.2.4.1: the SIP response for a Q.850 cause (unlisted causes: 500). */
const CAUSE_TO_SIP: Readonly<Record<number, number>> = {
  1: 404, 2: 404, 3: 404, 17: 486, 18: 408, 19: 480, 20: 480, 21: 403, 22: 410, 23: 410, 26: 404,
  27: 502, 28: 484, 29: 501, 31: 480, 34: 503, 38: 503, 41: 503, 42: 503, 47: 503, 55: 403, 57: 403,
  58: 503, 65: 488, 70: 488, 79: 501, 87: 403, 88: 503, 102: 504, 111: 500, 127: 500,
};

/** RFC 3398 §8.2.6.1: the Q.850 cause for a SIP response (unlisted: 31, normal unspecified). */
const SIP_TO_CAUSE: Readonly<Record<number, number>> = {
  400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102, 410: 22, 413: 127,
  414: 127, 415: 79, 416: 127, 420: 127, 421: 127, 423: 127, 480: 18, 481: 41, 482: 25, 483: 25,
  484: 28, 485: 1, 486: 17, 500: 41, 501: 79, 502: 38, 503: 41, 504: 102, 505: 127, 513: 127,
  600: 17, 603: 21, 604: 1, 606: 58,
};

/** Normal call clearing: the cause a BYE carries. */
export const NORMAL_CLEARING = 16;

export interface CauseMapping {
  /** `set pstn-cause CAUSE sip-status STATUS` overrides (cause → SIP). */
  pstnCause?: Readonly<Record<string, number>>;
  /** `set sip-status STATUS pstn-cause CAUSE` overrides (SIP → cause). */
  sipStatus?: Readonly<Record<string, number>>;
}

/** The SIP status a Q.850 cause is answered with. */
export function sipStatusForCause(cause: number, m: CauseMapping = {}): number {
  return m.pstnCause?.[String(cause)] ?? CAUSE_TO_SIP[cause] ?? 500;
}

/** The Q.850 cause of a SIP final status (BYE and CANCEL: 16, normal call clearing). */
export function causeForSipStatus(status: number, m: CauseMapping = {}): number {
  if (status >= 200 && status < 300) return NORMAL_CLEARING;
  return m.sipStatus?.[String(status)] ?? SIP_TO_CAUSE[status] ?? 31;
}

/** `Reason: Q.850;cause=N` (RFC 3326 §2). */
export function q850Reason(cause: number): string {
  return `Q.850;cause=${cause}`;
}

/** The Q.850 cause in a Reason header value, if it has one (RFC 3326: `Q.850;cause=17;text="…"`). */
export function parseQ850Reason(value: string | undefined): number | undefined {
  for (const part of (value ?? '').split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
    const m = /^\s*Q\.850\s*;(?:.*;)?\s*cause\s*=\s*(\d{1,3})\b/i.exec(part);
    if (m) return Number(m[1]);
  }
  return undefined;
}
