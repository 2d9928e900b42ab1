/**
 * The dialog event package (RFC 4235) — busy-lamp fields — fed by the calls the proxy relays:
 * every response to an INVITE (180/183 → early, 2xx → confirmed, a final failure → terminated)
 * and the 2xx to a BYE (→ terminated) of a call between users of the served domains moves that
 * call's dialog, seen from each party that is ours (the caller as `initiator`, the callee as
 * `recipient`). A watcher of a user gets the user's dialogs in `application/dialog-info+xml`;
 * a terminated dialog is reported once, then forgotten. The same view feeds presence
 * (`on-the-phone` while confirmed). The proxy sees the BYE only when it stays in the path
 * (`proxy.recordRoute`, on by default); a call it never sees end is forgotten after
 * {@link STALE_CALL_MS}.
 *
 * @remarks Role (`roles/presence`).
 */
import { DIALOG_INFO_CONTENT_TYPE, type DialogInfoEntry, type DialogInfoState, buildDialogInfo } from '../../content/index.js';
import { type SipResponse, type SipUri, percentDecode } from '../../sip/index.js';
import type { NotifyContent } from '../../usage/index.js';
import type { EventPackage, RenderView } from './event-package.js';

/** A confirmed call whose end was never seen is dropped after this long (12 h). */
export const STALE_CALL_MS = 12 * 3600 * 1000;

interface TrackedCall {
  callId: string;
  fromTag: string;
  toTag: string | undefined;
  caller: string;
  callee: string;
  state: DialogInfoState;
  since: number;
}

export class DialogPackage implements EventPackage {
  readonly name = 'dialog';
  readonly contentType = DIALOG_INFO_CONTENT_TYPE;
  readonly perSubscription = true;
  private readonly calls = new Map<string, TrackedCall>();
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly domains: readonly string[],
    /** A user's dialog state changed (the server re-renders it for the watchers). */
    private readonly changed: (aor: string) => void,
    /** A call went confirmed (+1) or ended after being confirmed (−1), per party of ours. */
    private readonly onCall: (aor: string, delta: 1 | -1) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A call seen by another role (the B2BUA's leg A): caller and callee as URIs (those of our
   * domains are tracked), and its new state.
   */
  track(c: { callId: string; fromTag: string; toTag?: string; caller: SipResponse['from']['uri']; callee: SipResponse['from']['uri'] }, state: DialogInfoState): void {
    let call = this.calls.get(c.callId);
    if (!call) {
      if (state === 'terminated') return;
      const caller = this.ours(c.caller);
      const callee = this.ours(c.callee);
      if (caller === undefined && callee === undefined) return;
      call = { callId: c.callId, fromTag: c.fromTag, toTag: c.toTag, caller: caller ?? uriText(c.caller), callee: callee ?? uriText(c.callee), state: 'trying', since: this.now() };
      this.calls.set(c.callId, call);
      this.sweep();
    }
    if (c.toTag) call.toTag = c.toTag;
    if (state === 'trying') return;
    this.move(call, state);
  }

  /** The proxy's reply hook: a response a branch got. */
  observe(res: SipResponse): void {
    const method = res.cseq.method;
    if (method !== 'INVITE' && method !== 'BYE') return;
    const key = res.callId;
    let call = this.calls.get(key);
    if (method === 'BYE') {
      if (call && res.status >= 200 && res.status < 300) this.move(call, 'terminated');
      return;
    }
    if (!call) {
      if (res.status >= 300) return;
      const caller = this.ours(res.from.uri);
      const callee = this.ours(res.to.uri);
      if (caller === undefined && callee === undefined) return;
      call = { callId: key, fromTag: res.from.tag ?? '', toTag: undefined, caller: caller ?? uriText(res.from.uri), callee: callee ?? uriText(res.to.uri), state: 'trying', since: this.now() };
      this.calls.set(key, call);
      this.sweep();
    }
    if (call.state === 'terminated' || call.state === 'confirmed') return; // a retransmitted or forked final
    if (res.to.tag) call.toTag = res.to.tag;
    if (res.status === 100) return;
    if (res.status < 200) this.move(call, res.to.tag ? 'early' : 'proceeding');
    else if (res.status < 300) this.move(call, 'confirmed');
    else this.move(call, 'terminated');
  }

  forget(id: string): void {
    this.versions.delete(id);
  }

  async render(resource: string, view: RenderView): Promise<NotifyContent> {
    // RFC 4235 §4.1: the version counts the documents of one subscription, from 0.
    const version = this.versions.get(view.subscriptionId) ?? 0;
    this.versions.set(view.subscriptionId, version + 1);
    const dialogs: DialogInfoEntry[] = [];
    if (view.decision !== 'polite-block' && view.decision !== 'confirm') {
      for (const c of this.calls.values()) {
        if (c.caller === resource) dialogs.push(entry(c, 'initiator'));
        if (c.callee === resource) dialogs.push(entry(c, 'recipient'));
      }
    }
    return { body: buildDialogInfo({ entity: resource, version, dialogs }), contentType: DIALOG_INFO_CONTENT_TYPE };
  }

  private move(call: TrackedCall, to: DialogInfoState): void {
    if (call.state === to) return;
    const was = call.state;
    call.state = to;
    const parties = [call.caller, call.callee].filter((p) => this.isOurs(p));
    if (to === 'confirmed') for (const p of parties) this.onCall(p, 1);
    if (to === 'terminated' && was === 'confirmed') for (const p of parties) this.onCall(p, -1);
    for (const p of parties) this.changed(p);
    // Reported once as terminated (the NOTIFYs above), then forgotten.
    if (to === 'terminated') this.calls.delete(call.callId);
  }

  private sweep(): void {
    const limit = this.now() - STALE_CALL_MS;
    for (const c of this.calls.values()) if (c.since < limit) this.move(c, 'terminated');
  }

  private ours(u: SipResponse['from']['uri']): string | undefined {
    if (u.kind !== 'sip' || u.user === undefined) return undefined;
    const host = (u as SipUri).hostname.toLowerCase();
    return this.domains.includes(host) ? `sip:${percentDecode(u.user)}@${host}` : undefined;
  }

  private isOurs(aor: string): boolean {
    const host = /@([^;>]+)$/.exec(aor)?.[1]?.toLowerCase();
    return host !== undefined && this.domains.includes(host);
  }
}

function entry(c: TrackedCall, direction: 'initiator' | 'recipient'): DialogInfoEntry {
  const caller = direction === 'initiator';
  return {
    id: `${c.callId.replace(/[^A-Za-z0-9._-]/g, '')}-${direction === 'initiator' ? 'i' : 'r'}`.slice(0, 80),
    callId: c.callId,
    localTag: caller ? c.fromTag : c.toTag,
    remoteTag: caller ? c.toTag : c.fromTag,
    direction,
    state: c.state,
    local: caller ? c.caller : c.callee,
    remote: caller ? c.callee : c.caller,
  };
}

function uriText(u: SipResponse['from']['uri']): string {
  return u.kind === 'sip' ? `sip:${u.user !== undefined ? `${percentDecode(u.user)}@` : ''}${u.hostname.toLowerCase()}` : String(u);
}
