/**
 * The SIP timer table, in one place (RFC 3261 §17 and Appendix A, RFC 6026 §7).
 *
 * @remarks Layer 3 (`transaction/`). Every duration is a function of `(config, reliable)`;
 * no machine inlines a number (STYLE §11.2). Called by the four transaction machines.
 *
 * | Timer | Value                          | Machine / state          | Reference            |
 * |-------|--------------------------------|--------------------------|----------------------|
 * | A     | T1, doubling (no cap)          | ICT Calling, unreliable  | RFC 3261 §17.1.1.2   |
 * | B     | 64·T1                          | ICT Calling              | RFC 3261 §17.1.1.2   |
 * | D     | ≥ 32 s unreliable, 0 reliable  | ICT Completed            | RFC 3261 §17.1.1.2   |
 * | E     | T1, doubling to T2             | NICT Trying/Proceeding   | RFC 3261 §17.1.2.2   |
 * | F     | 64·T1                          | NICT Trying/Proceeding   | RFC 3261 §17.1.2.2   |
 * | G     | T1, doubling to T2             | IST Completed, unreliable| RFC 3261 §17.2.1     |
 * | H     | 64·T1                          | IST Completed            | RFC 3261 §17.2.1     |
 * | I     | T4 unreliable, 0 reliable      | IST Confirmed            | RFC 3261 §17.2.1     |
 * | J     | 64·T1 unreliable, 0 reliable   | NIST Completed           | RFC 3261 §17.2.2     |
 * | K     | T4 unreliable, 0 reliable      | NICT Completed           | RFC 3261 §17.1.2.2   |
 * | L     | 64·T1                          | IST Accepted             | RFC 6026 §7.1        |
 * | M     | 64·T1                          | ICT Accepted             | RFC 6026 §7.2        |
 * | 100   | 200 ms                         | IST Proceeding           | RFC 3261 §17.2.1     |
 */

/** The spec-visible timer values (RFC 3261 §17.1.1.1, Appendix A). All in milliseconds. */
export interface TimerConfig {
  /** RTT estimate (default 500 ms). */
  readonly T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s). */
  readonly T2: number;
  /** Maximum duration a message remains in the network (default 5 s). */
  readonly T4: number;
  /** The IST sends `100 Trying` when the TU has not answered within this time (default 200 ms). */
  readonly timer100TryingMs: number;
  /**
   * Most retransmissions of a client transaction's request, by method (IOS `sip-ua` `retry invite
   * N`, `retry bye N` …): when its timer fires once more after the last one, the transaction times
   * out at once (a 408 to the TU) instead of waiting for Timer B/F. A method not listed is bounded by
   * Timer B/F alone (RFC 3261 §17.1).
   */
  readonly retries?: Readonly<Record<string, number>>;
}

/** RFC 3261 defaults. */
export const DEFAULT_TIMER_CONFIG: TimerConfig = Object.freeze({
  T1: 500,
  T2: 4000,
  T4: 5000,
  timer100TryingMs: 200,
});

/**
 * Fills in defaults and validates once (STYLE §16).
 * @throws RangeError when a value is not a positive finite number or T2 < T1 (misuse).
 */
export function timerConfig(partial: Partial<TimerConfig> = {}): TimerConfig {
  const retries: Record<string, number> = {};
  for (const [m, n] of Object.entries(partial.retries ?? {})) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Timer config retries.${m} must be a whole number >= 0, got ${String(n)}`);
    retries[m.toUpperCase()] = n; // methods are case-sensitive tokens, but IOS writes `retry invite`
  }
  const cfg: TimerConfig = { ...DEFAULT_TIMER_CONFIG, ...partial, retries: Object.freeze(retries) };
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'retries') continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new RangeError(`Timer config ${k} must be a positive number of milliseconds, got ${String(v)}`);
    }
  }
  if (cfg.T2 < cfg.T1) throw new RangeError('Timer config T2 must not be smaller than T1');
  return Object.freeze(cfg);
}

/** The retransmission limit of a request method (IOS `retry`), undefined when only Timer B/F bounds it. */
export function retryLimit(cfg: TimerConfig, method: string): number | undefined {
  return cfg.retries?.[method];
}

/** Minimum of Timer D on unreliable transports: "at least 32 seconds" (RFC 3261 §17.1.1.2). */
const TIMER_D_MIN_MS = 32_000;

/** Timer A: initial INVITE retransmit interval, T1 (RFC 3261 §17.1.1.2). */
export function A(cfg: TimerConfig): number {
  return cfg.T1;
}

/** Timer A cap: INVITE requests keep doubling; only Timer B bounds them (RFC 3261 §17.1.1.2). */
export const A_CAP = Number.POSITIVE_INFINITY;

/** Timer B: INVITE transaction timeout, 64·T1 (RFC 3261 §17.1.1.2). */
export function B(cfg: TimerConfig): number {
  return 64 * cfg.T1;
}

/**
 * Timer D: wait for response retransmits in ICT Completed. "At least 32 seconds" for
 * unreliable transports and zero for reliable ones (RFC 3261 §17.1.1.2); 64·T1 when T1 is
 * raised, so D still outlives the server's Timer H window.
 */
export function D(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : Math.max(TIMER_D_MIN_MS, 64 * cfg.T1);
}

/** Timer E: initial non-INVITE retransmit interval, T1 (RFC 3261 §17.1.2.2). */
export function E(cfg: TimerConfig): number {
  return cfg.T1;
}

/** Timer F: non-INVITE transaction timeout, 64·T1 (RFC 3261 §17.1.2.2). */
export function F(cfg: TimerConfig): number {
  return 64 * cfg.T1;
}

/** Timer G: initial INVITE final-response retransmit interval, T1 (RFC 3261 §17.2.1). */
export function G(cfg: TimerConfig): number {
  return cfg.T1;
}

/** Timer H: wait time for ACK receipt, 64·T1 (RFC 3261 §17.2.1). */
export function H(cfg: TimerConfig): number {
  return 64 * cfg.T1;
}

/** Timer I: wait for ACK retransmits, T4 unreliable, 0 reliable (RFC 3261 §17.2.1). */
export function I(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : cfg.T4;
}

/** Timer J: wait for non-INVITE request retransmits, 64·T1 unreliable, 0 reliable (RFC 3261 §17.2.2). */
export function J(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : 64 * cfg.T1;
}

/** Timer K: wait for response retransmits, T4 unreliable, 0 reliable (RFC 3261 §17.1.2.2). */
export function K(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : cfg.T4;
}

/** Timer L: wait for INVITE retransmits after a 2xx, 64·T1 (RFC 6026 §7.1). */
export function L(cfg: TimerConfig): number {
  return 64 * cfg.T1;
}

/** Timer M: wait for 2xx retransmits and forked 2xx, 64·T1 (RFC 6026 §7.2). */
export function M(cfg: TimerConfig): number {
  return 64 * cfg.T1;
}

/** The `100 Trying` deadline of the IST (RFC 3261 §17.2.1). */
export function trying100(cfg: TimerConfig): number {
  return cfg.timer100TryingMs;
}

/**
 * The next retransmit interval: double the previous one, never above `cap`
 * (RFC 3261 §17.1.1.2 with cap ∞, §17.1.2.2 and §17.2.1 with cap T2).
 */
export function nextInterval(prev: number, cap: number): number {
  return Math.min(prev * 2, cap);
}
