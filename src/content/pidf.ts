/**
 * Presence documents (RFC 3863 PIDF, RFC 4479 data model, RFC 4480 RPID): built and read as
 * XML with namespaces, through a maintained DOM library (@xmldom/xmldom), never by string
 * matching — a client may bind the namespaces to any prefix it likes.
 *
 * @remarks Leaf (`content/`).
 */
import { DOMImplementation, DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { ContentError } from './content-error.js';

export const PIDF_NS = 'urn:ietf:params:xml:ns:pidf';
export const DM_NS = 'urn:ietf:params:xml:ns:pidf:data-model';
export const RPID_NS = 'urn:ietf:params:xml:ns:pidf:rpid';
export const PIDF_CONTENT_TYPE = 'application/pidf+xml';

/** One `<tuple>`: a way to reach the presentity (a device, a registration). */
export interface PresenceTuple {
  id: string;
  basic: 'open' | 'closed';
  contact?: string;
  note?: string;
  timestamp?: string;
}

/** A presence document: the tuples and the person's RPID activities and notes. */
export interface PresenceDocument {
  entity: string;
  tuples: PresenceTuple[];
  /** RPID activities of the `<dm:person>` (`busy`, `away`, `on-the-phone`, `meeting` …; RFC 4480 §3.2). */
  activities: string[];
  /** Notes of the person (or of the presence element, RFC 3863 §4.1.6). */
  notes: string[];
}

/** The RPID activities RFC 4480 §3.2 names (others are kept as `other`). */
export const RPID_ACTIVITIES = Object.freeze([
  'appointment', 'away', 'breakfast', 'busy', 'dinner', 'holiday', 'in-transit', 'looking-for-work', 'lunch', 'meal', 'meeting',
  'on-the-phone', 'performance', 'permanent-absence', 'playing', 'presentation', 'shopping', 'sleeping', 'spectator', 'steering',
  'travel', 'tv', 'unknown', 'vacation', 'working', 'worship',
]);

/** Builds the PIDF document of `doc` (UTF-8, with the XML declaration). */
export function buildPidf(doc: PresenceDocument): string {
  const d = new DOMImplementation().createDocument(PIDF_NS, 'presence', null);
  const root = d.documentElement!;
  root.setAttribute('xmlns:dm', DM_NS);
  root.setAttribute('xmlns:rpid', RPID_NS);
  root.setAttribute('entity', doc.entity);
  const el = (ns: string, name: string, text?: string): Element => {
    const e = d.createElementNS(ns, name);
    if (text !== undefined) e.appendChild(d.createTextNode(text));
    return e;
  };
  for (const t of doc.tuples) {
    const tuple = el(PIDF_NS, 'tuple');
    tuple.setAttribute('id', t.id);
    const status = el(PIDF_NS, 'status');
    status.appendChild(el(PIDF_NS, 'basic', t.basic));
    tuple.appendChild(status);
    if (t.contact !== undefined) tuple.appendChild(el(PIDF_NS, 'contact', t.contact));
    if (t.note !== undefined) tuple.appendChild(el(PIDF_NS, 'note', t.note));
    if (t.timestamp !== undefined) tuple.appendChild(el(PIDF_NS, 'timestamp', t.timestamp));
    root.appendChild(tuple);
  }
  if (doc.activities.length > 0 || doc.notes.length > 0) {
    const person = el(DM_NS, 'dm:person');
    person.setAttribute('id', 'p');
    if (doc.activities.length > 0) {
      const acts = el(RPID_NS, 'rpid:activities');
      for (const a of doc.activities) acts.appendChild(el(RPID_NS, `rpid:${RPID_ACTIVITIES.includes(a) ? a : 'other'}`, RPID_ACTIVITIES.includes(a) ? undefined : a));
      person.appendChild(acts);
    }
    for (const n of doc.notes) person.appendChild(el(DM_NS, 'dm:note', n));
    root.appendChild(person);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(d)}\n`;
}

/**
 * Reads a PIDF document (a PUBLISH body, a NOTIFY body). Throws {@link ContentError} when it is
 * not well-formed XML or its root is not `<presence>` in the PIDF namespace.
 */
export function parsePidf(xml: string | Buffer): PresenceDocument {
  const errors: string[] = [];
  let d;
  try {
    d = new DOMParser({ onError: (level, msg) => void (level !== 'warning' && errors.push(msg)) }).parseFromString(xml.toString(), 'text/xml');
  } catch (e) {
    throw new ContentError('CONTENT_ERR_XML', `not well-formed XML: ${(e as Error).message.split('\n')[0]}`);
  }
  const root = d.documentElement;
  if (errors.length > 0 || !root) throw new ContentError('CONTENT_ERR_XML', `not well-formed XML: ${errors[0] ?? 'no root element'}`);
  if (root.namespaceURI !== PIDF_NS || root.localName !== 'presence') throw new ContentError('CONTENT_ERR_PIDF', `not a PIDF document: root <${root.tagName}> in ${root.namespaceURI ?? 'no namespace'}`);
  const kids = (e: Element, ns: string, name: string): Element[] => {
    const out: Element[] = [];
    for (let n = e.firstChild; n; n = n.nextSibling) if (n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === name) out.push(n as Element);
    return out;
  };
  const text = (e: Element | undefined) => e?.textContent?.trim() || undefined;
  const tuples: PresenceTuple[] = kids(root, PIDF_NS, 'tuple').map((t, i) => {
    const basic = text(kids(kids(t, PIDF_NS, 'status')[0] ?? t, PIDF_NS, 'basic')[0]);
    return {
      id: t.getAttribute('id') || `t${i}`,
      basic: basic === 'open' ? 'open' : 'closed',
      contact: text(kids(t, PIDF_NS, 'contact')[0]),
      note: text(kids(t, PIDF_NS, 'note')[0]),
      timestamp: text(kids(t, PIDF_NS, 'timestamp')[0]),
    };
  });
  const activities: string[] = [];
  const notes: string[] = kids(root, PIDF_NS, 'note').map((n) => text(n)).filter((s): s is string => s !== undefined);
  // RPID activities may sit in a <dm:person> (RFC 4479) or, in older clients, in a tuple's status.
  const acts = d.getElementsByTagNameNS(RPID_NS, 'activities');
  for (let i = 0; i < acts.length; i++) {
    for (let n = acts[i]!.firstChild; n; n = n.nextSibling) {
      if (n.nodeType !== 1) continue;
      const a = n as Element;
      if (a.namespaceURI !== RPID_NS) continue;
      const name = a.localName === 'other' ? (text(a) ?? 'other') : a.localName!;
      if (!activities.includes(name)) activities.push(name);
    }
  }
  for (const p of kids(root, DM_NS, 'person')) for (const n of kids(p, DM_NS, 'note')) if (text(n)) notes.push(text(n)!);
  return { entity: root.getAttribute('entity') ?? '', tuples, activities, notes };
}
