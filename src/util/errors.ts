/**
 * The one error family: every error Switchboard throws is a {@link SipError} with a stable,
 * machine-readable `code` (in the style of undici's `UND_ERR_*`), so a caller can tell a closed
 * store from a malformed header without reading messages.
 *
 * @remarks Utility (`util/`): here so that the leaves (`sdp/`, `auth/`, `store/` …), which may not
 * import `sip/`, can extend it too; `sip/errors.ts` re-exports it.
 */
export class SipError extends Error {
  override name = 'SipError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A store that cannot do what was asked (closed, full, a bad URL, a write that kept conflicting). */
export class StoreError extends SipError {
  override name = 'StoreError';
}

/** A state machine asked for something its state does not allow (a bug, or a use out of order). */
export class StateError extends SipError {
  override name = 'StateError';
}

/** A request the user agent or its cores cannot make (no dialog, no destination, no SDP). */
export class RequestError extends SipError {
  override name = 'RequestError';
}
