/**
 * The dialogs one INVITE of ours created (RFC 3261 §12.1.2, §13.2.2.4): a forking proxy may
 * return provisional responses from several UASs, each with its own To tag, and more than one
 * 2xx. Each To tag is an early dialog until its 2xx confirms it; the first 2xx makes the
 * session, a later one from another fork is ACKed and ended.
 *
 * @remarks TU building block (`dialog/`).
 */
import type { SipRequest, SipResponse } from '../sip/index.js';
import { Dialog } from './dialog.js';

export class DialogSet {
  private readonly byRemoteTag = new Map<string, Dialog>();
  /** The dialog the first 2xx confirmed. */
  confirmed: Dialog | undefined;

  constructor(readonly invite: SipRequest, private readonly localContact: string) {}

  get callId(): string {
    return this.invite.callId;
  }

  get localTag(): string {
    return this.invite.from.tag ?? '';
  }

  /** The early dialog a tagged provisional response (101–199) creates or names (§12.1.2). */
  early(res: SipResponse): Dialog | undefined {
    const tag = res.to.tag;
    if (tag === undefined || res.status <= 100 || res.status >= 200) return undefined;
    let d = this.byRemoteTag.get(tag);
    if (d === undefined) {
      d = Dialog.asUac(this.invite, res, this.localContact);
      this.byRemoteTag.set(tag, d);
    }
    return d;
  }

  /**
   * The dialog of a 2xx: the early one of its tag, confirmed (its route set stays the one of
   * the first response, but the remote target follows the 2xx's Contact, §12.2.1.2), or a new
   * one. `first` tells whether it is the first 2xx of the set.
   */
  answered(res: SipResponse): { dialog: Dialog; first: boolean } {
    const tag = res.to.tag ?? '';
    const fresh = Dialog.asUac(this.invite, res, this.localContact);
    const early = this.byRemoteTag.get(tag);
    const dialog = early ? Object.assign(early, { remoteTarget: fresh.remoteTarget }) : fresh;
    dialog.transition('Confirmed');
    this.byRemoteTag.set(tag, dialog);
    const first = this.confirmed === undefined;
    if (first) this.confirmed = dialog;
    return { dialog, first };
  }

  /** The dialog for a response's To tag, if the set has one. */
  get(res: SipResponse): Dialog | undefined {
    return this.byRemoteTag.get(res.to.tag ?? '');
  }

  /** Every early dialog that no 2xx confirmed ends with the INVITE's final response (§12.3). */
  terminateEarly(): void {
    for (const d of this.byRemoteTag.values()) if (d !== this.confirmed) d.transition('Terminated');
  }
}
