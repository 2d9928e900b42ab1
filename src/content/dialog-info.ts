/**
 * Dialog information (RFC 4235 `application/dialog-info+xml`): a user's dialogs and their
 * states — trying, proceeding, early, confirmed, terminated — for busy-lamp fields, built and
 * read as XML with namespaces.
 *
 * @remarks Leaf (`content/`).
 */
import { DOMImplementation, DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { ContentError } from './content-error.js';

export const DIALOG_INFO_NS = 'urn:ietf:params:xml:ns:dialog-info';
export const DIALOG_INFO_CONTENT_TYPE = 'application/dialog-info+xml';

export type DialogInfoState = 'trying' | 'proceeding' | 'early' | 'confirmed' | 'terminated';

export interface DialogInfoEntry {
  id: string;
  callId: string;
  localTag?: string;
  remoteTag?: string;
  /** `initiator`: the entity called; `recipient`: it was called. */
  direction: 'initiator' | 'recipient';
  state: DialogInfoState;
  local: string;
  remote: string;
}

export function buildDialogInfo(o: { entity: string; version: number; dialogs: DialogInfoEntry[] }): string {
  const d = new DOMImplementation().createDocument(DIALOG_INFO_NS, 'dialog-info', null);
  const root = d.documentElement!;
  root.setAttribute('version', String(o.version));
  root.setAttribute('state', 'full');
  root.setAttribute('entity', o.entity);
  const el = (name: string, text?: string): Element => {
    const e = d.createElementNS(DIALOG_INFO_NS, name);
    if (text !== undefined) e.appendChild(d.createTextNode(text));
    return e;
  };
  for (const x of o.dialogs) {
    const dialog = el('dialog');
    dialog.setAttribute('id', x.id);
    dialog.setAttribute('call-id', x.callId);
    if (x.localTag) dialog.setAttribute('local-tag', x.localTag);
    if (x.remoteTag) dialog.setAttribute('remote-tag', x.remoteTag);
    dialog.setAttribute('direction', x.direction);
    dialog.appendChild(el('state', x.state));
    const local = el('local');
    local.appendChild(el('identity', x.local));
    const remote = el('remote');
    remote.appendChild(el('identity', x.remote));
    dialog.appendChild(local);
    dialog.appendChild(remote);
    root.appendChild(dialog);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(d)}\n`;
}

export function parseDialogInfo(xml: string | Buffer): { entity: string; version: number; dialogs: DialogInfoEntry[] } {
  const errors: string[] = [];
  const d = new DOMParser({ onError: (level, msg) => void (level !== 'warning' && errors.push(msg)) }).parseFromString(xml.toString(), 'text/xml');
  const root = d.documentElement;
  if (errors.length > 0 || !root || root.namespaceURI !== DIALOG_INFO_NS || root.localName !== 'dialog-info') throw new ContentError('CONTENT_ERR_XML', `not a dialog-info document${errors[0] ? `: ${errors[0]}` : ''}`);
  const text = (e: Element, name: string) => (e.getElementsByTagNameNS(DIALOG_INFO_NS, name)[0]?.textContent ?? '').trim();
  const dialogs: DialogInfoEntry[] = [];
  const list = root.getElementsByTagNameNS(DIALOG_INFO_NS, 'dialog');
  for (let i = 0; i < list.length; i++) {
    const x = list[i] as Element;
    const local = x.getElementsByTagNameNS(DIALOG_INFO_NS, 'local')[0] as Element | undefined;
    const remote = x.getElementsByTagNameNS(DIALOG_INFO_NS, 'remote')[0] as Element | undefined;
    dialogs.push({
      id: x.getAttribute('id') ?? '', callId: x.getAttribute('call-id') ?? '', localTag: x.getAttribute('local-tag') ?? undefined, remoteTag: x.getAttribute('remote-tag') ?? undefined,
      direction: (x.getAttribute('direction') ?? 'initiator') as DialogInfoEntry['direction'], state: text(x, 'state') as DialogInfoState,
      local: local ? text(local, 'identity') : '', remote: remote ? text(remote, 'identity') : '',
    });
  }
  return { entity: root.getAttribute('entity') ?? '', version: Number(root.getAttribute('version') ?? '0'), dialogs };
}
