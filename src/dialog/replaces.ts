/**
 * The Replaces header (RFC 3891): names a dialog — Call-ID, to-tag and from-tag as seen by the
 * party that sends the replacing INVITE's target — that the new INVITE is to take the place of.
 * Attended transfer carries it inside a REFER's Refer-To URI (`?Replaces=…`, escaped, §5).
 *
 * @remarks Dialog layer (`dialog/`): it identifies a dialog, nothing more.
 */
import type { Dialog } from './dialog.js';

export interface ReplacesTarget {
  callId: string;
  /** The to-tag of the replaced dialog (the local tag of the UA that receives the INVITE). */
  toTag: string;
  fromTag: string;
  /** `early-only` (§6.1): only an early dialog may be replaced; a confirmed one → 486. */
  earlyOnly: boolean;
}

/** `callid;to-tag=x;from-tag=y[;early-only]` → its parts, or undefined when it is not that (→ 400). */
export function parseReplaces(value: string | undefined): ReplacesTarget | undefined {
  if (value === undefined) return undefined;
  const [callId, ...params] = value.split(';').map((s) => s.trim());
  if (!callId) return undefined;
  let toTag: string | undefined;
  let fromTag: string | undefined;
  let earlyOnly = false;
  for (const p of params) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? '' : p.slice(eq + 1).trim();
    if (name === 'to-tag') toTag = v;
    else if (name === 'from-tag') fromTag = v;
    else if (name === 'early-only') earlyOnly = true;
  }
  if (!toTag || !fromTag) return undefined;
  return { callId, toTag, fromTag, earlyOnly };
}

/**
 * The Replaces value that names `dialog` for its remote party: the remote party's INVITE target
 * sees our local tag as its from-tag and its own tag as the to-tag.
 */
export function replacesFor(dialog: Dialog): string {
  return `${dialog.callId};to-tag=${dialog.remoteTag};from-tag=${dialog.localTag}`;
}

/** A Refer-To URI that asks the referee to replace `dialog` at `target` (RFC 3891 §5: escaped as a URI header). */
export function referToReplacing(target: string, dialog: Dialog): string {
  return `${target}${target.includes('?') ? '&' : '?'}Replaces=${encodeURIComponent(replacesFor(dialog))}`;
}

/**
 * Splits the headers of a Refer-To URI (RFC 3261 §19.1.1: `?name=value&…`, escaped) off the
 * URI: the request goes to the bare URI and carries those headers (RFC 3515 §2.1).
 */
export function splitUriHeaders(uri: string): { uri: string; headers: Array<[string, string]> } {
  const q = uri.indexOf('?');
  if (q < 0) return { uri, headers: [] };
  const headers: Array<[string, string]> = [];
  for (const part of uri.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    headers.push([decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1))]);
  }
  return { uri: uri.slice(0, q), headers };
}
