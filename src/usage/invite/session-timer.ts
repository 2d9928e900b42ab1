/**
 * Session timers (RFC 4028): a keep-alive for the session, so that a call whose far end is gone
 * without a BYE does not stay up for ever. The negotiation — `Session-Expires` (with the
 * `refresher`), `Min-SE`, `422 Session Interval Too Small` — is pure functions here; the running
 * timer is {@link SessionTimer}: the refresher sends a re-INVITE at half the interval, the other
 * side sends BYE if no refresh came by the interval minus min(32 s, interval/3) (§10).
 *
 * @remarks Usage layer (`usage/invite`).
 */
import type { SipRequest, SipResponse } from '../../sip/index.js';
import type { Clock, TimerHandle } from '../../util/clock.js';

/** RFC 4028 §4: Min-SE is never below 90 s. */
export const ABSOLUTE_MIN_SE = 90;

export interface SessionTimerSettings {
  /** The interval we ask for or accept at most, seconds (RFC 4028 §4 recommends 1800). */
  expires: number;
  /** The smallest interval we accept, seconds (≥ 90). */
  minSE: number;
}

export const DEFAULT_SESSION_TIMER: SessionTimerSettings = { expires: 1800, minSE: 90 };

export type Refresher = 'uac' | 'uas';

/** `Session-Expires: 1800;refresher=uac` (compact `x`). */
export function parseSessionExpires(m: SipRequest | SipResponse): { seconds: number; refresher?: Refresher } | undefined {
  const v = m.header('Session-Expires');
  const match = /^\s*(\d{1,10})\s*((?:;[^;]*)*)$/.exec(v ?? '');
  if (!match) return undefined;
  const r = /;\s*refresher\s*=\s*(uac|uas)\b/i.exec(match[2] ?? '');
  return { seconds: Number(match[1]), refresher: r ? (r[1]!.toLowerCase() as Refresher) : undefined };
}

export function parseMinSE(m: SipRequest | SipResponse): number | undefined {
  const match = /^\s*(\d{1,10})\s*(?:;.*)?$/.exec(m.header('Min-SE') ?? '');
  return match ? Number(match[1]) : undefined;
}

const supportsTimer = (m: SipRequest | SipResponse): boolean => m.optionTags('Supported').includes('timer') || m.optionTags('Require').includes('timer');

/**
 * RFC 4028 §8.1 at a UAS: an INVITE whose Session-Expires is below our Min-SE gets
 * `422 Session Interval Too Small` with our Min-SE. Returns that Min-SE, or undefined to go on.
 */
export function tooSmall(req: SipRequest, ours: SessionTimerSettings): number | undefined {
  const se = parseSessionExpires(req);
  if (se === undefined) return undefined;
  return se.seconds < ours.minSE ? Math.max(ours.minSE, parseMinSE(req) ?? 0) : undefined;
}

/**
 * RFC 4028 §9: what a UAS puts in its 2xx. The interval: the INVITE's Session-Expires lowered to
 * ours if larger, never below either Min-SE; an INVITE without one from a UAC that supports
 * timers gets ours (at least its Min-SE — the handbook's INVITE says `Supported: 100rel, timer`
 * and `Min-SE: 1800`: it gets `Session-Expires: 1800;refresher=uac`). The refresher: the one the
 * INVITE named, else the UAC when it supports timers, else us. Undefined: no session timer (the
 * UAC neither asked nor supports it).
 */
export function uasSessionTimer(req: SipRequest, ours: SessionTimerSettings): { seconds: number; refresher: Refresher; headers: Array<[string, string]> } | undefined {
  const se = parseSessionExpires(req);
  const uacSupports = supportsTimer(req);
  if (se === undefined && !uacSupports) return undefined;
  const floor = Math.max(ours.minSE, parseMinSE(req) ?? ABSOLUTE_MIN_SE);
  const seconds = Math.max(floor, Math.min(se?.seconds ?? ours.expires, ours.expires));
  const refresher: Refresher = se?.refresher ?? (uacSupports ? 'uac' : 'uas');
  const headers: Array<[string, string]> = [['Session-Expires', `${seconds};refresher=${refresher}`]];
  // §9: with the UAC as refresher the 2xx requires the extension it must run.
  if (refresher === 'uac') headers.push(['Require', 'timer']);
  return { seconds, refresher, headers };
}

/** RFC 4028 §7.1: what a UAC puts in its INVITE. */
export function uacSessionTimerHeaders(ours: SessionTimerSettings, minSE = ours.minSE, expires = ours.expires): Array<[string, string]> {
  return [['Session-Expires', String(Math.max(expires, minSE))], ['Min-SE', String(minSE)]];
}

/**
 * RFC 4028 §7.2: the 2xx a UAC got decides. No Session-Expires in it: no session timer. With
 * one: that interval, and the refresher it names (a 2xx without the parameter: the UAC, §7.2).
 */
export function uacSessionTimer(res: SipResponse): { seconds: number; refresher: Refresher } | undefined {
  const se = parseSessionExpires(res);
  if (se === undefined) return undefined;
  return { seconds: se.seconds, refresher: se.refresher ?? 'uac' };
}

/** The running timer of one session: refresh at half the interval, or BYE when none came (§10). */
export class SessionTimer {
  private handle: TimerHandle | undefined;
  seconds = 0;
  /** Are we the refresher? */
  refreshing = false;

  constructor(
    private readonly clock: Clock,
    private readonly refresh: () => void,
    private readonly expired: () => void,
  ) {}

  /** (Re)starts after a 2xx to an INVITE or UPDATE that set the interval. */
  start(seconds: number, weRefresh: boolean): void {
    this.stop();
    this.seconds = seconds;
    this.refreshing = weRefresh;
    if (weRefresh) {
      this.handle = this.clock.setTimer((seconds * 1000) / 2, this.refresh);
    } else {
      const slack = Math.min(32, seconds / 3);
      this.handle = this.clock.setTimer((seconds - slack) * 1000, this.expired);
    }
  }

  stop(): void {
    if (this.handle) this.clock.clearTimer(this.handle);
    this.handle = undefined;
  }

  get running(): boolean {
    return this.handle !== undefined;
  }
}
