/**
 * Watcher information (RFC 3857 package `presence.winfo`, RFC 3858 format): who watches a
 * presentity and in which state, built and read as XML with namespaces.
 *
 * @remarks Leaf (`content/`).
 */
import { DOMImplementation, DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { ContentError } from './content-error.js';

export const WATCHERINFO_NS = 'urn:ietf:params:xml:ns:watcherinfo';
export const WATCHERINFO_CONTENT_TYPE = 'application/watcherinfo+xml';

export interface WatcherEntry {
  id: string;
  /** The watcher's URI. */
  uri: string;
  status: 'active' | 'pending' | 'waiting' | 'terminated';
  /** What made the last change (RFC 3858 §4.4: subscribe, approved, timeout …). */
  event: string;
}

/** A full watcherinfo document for one resource and package. */
export function buildWatcherinfo(o: { version: number; resource: string; pkg: string; watchers: WatcherEntry[] }): string {
  const d = new DOMImplementation().createDocument(WATCHERINFO_NS, 'watcherinfo', null);
  const root = d.documentElement!;
  root.setAttribute('version', String(o.version));
  root.setAttribute('state', 'full');
  const list = d.createElementNS(WATCHERINFO_NS, 'watcher-list');
  list.setAttribute('resource', o.resource);
  list.setAttribute('package', o.pkg);
  for (const w of o.watchers) {
    const e = d.createElementNS(WATCHERINFO_NS, 'watcher');
    e.setAttribute('id', w.id);
    e.setAttribute('event', w.event);
    e.setAttribute('status', w.status);
    e.appendChild(d.createTextNode(w.uri));
    list.appendChild(e);
  }
  root.appendChild(list);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(d)}\n`;
}

/** Reads a watcherinfo document: its version and each watcher-list's watchers. */
export function parseWatcherinfo(xml: string | Buffer): { version: number; lists: Array<{ resource: string; pkg: string; watchers: WatcherEntry[] }> } {
  const errors: string[] = [];
  const d = new DOMParser({ onError: (level, msg) => void (level !== 'warning' && errors.push(msg)) }).parseFromString(xml.toString(), 'text/xml');
  const root = d.documentElement;
  if (errors.length > 0 || !root || root.namespaceURI !== WATCHERINFO_NS || root.localName !== 'watcherinfo') throw new ContentError('CONTENT_ERR_XML', `not a watcherinfo document${errors[0] ? `: ${errors[0]}` : ''}`);
  const lists = [];
  const ls = root.getElementsByTagNameNS(WATCHERINFO_NS, 'watcher-list');
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!;
    const watchers: WatcherEntry[] = [];
    const ws = l.getElementsByTagNameNS(WATCHERINFO_NS, 'watcher');
    for (let j = 0; j < ws.length; j++) {
      const w = ws[j] as Element;
      watchers.push({ id: w.getAttribute('id') ?? '', uri: (w.textContent ?? '').trim(), status: (w.getAttribute('status') ?? 'active') as WatcherEntry['status'], event: w.getAttribute('event') ?? '' });
    }
    lists.push({ resource: l.getAttribute('resource') ?? '', pkg: l.getAttribute('package') ?? '', watchers });
  }
  return { version: Number(root.getAttribute('version') ?? '0'), lists };
}
