/**
 * The presence package (RFC 3856) and its watcher information (RFC 3857): a presentity's
 * state composed from three sources (docs/presence.md):
 * - its devices' publications (RFC 3903), each device's tuples kept as they were published
 *   (RFC 3863 §4.1: one tuple per way of reaching it), their RPID activities and notes merged;
 * - its registrations, when nothing is published: one tuple, `open` with a binding, else
 *   `closed`;
 * - its calls through the proxy or the B2BUA: `on-the-phone` added while one is up.
 * A polite-blocked watcher (RFC 5025) sees a presentity that is always closed.
 *
 * @remarks Role (`roles/presence`).
 */
import { MESSAGE_SUMMARY_CONTENT_TYPE, PIDF_CONTENT_TYPE, type PresenceDocument, type PresenceTuple, WATCHERINFO_CONTENT_TYPE, buildMessageSummary, buildPidf, buildWatcherinfo } from '../../content/index.js';
import type { Binding, LocationStore } from '../../store/index.js';
import type { NotifyContent } from '../../usage/index.js';
import type { EventPackage, RenderView, WatcherDecision } from './event-package.js';
import type { EventServer } from './event-server.js';
import type { Publication, Publications } from './publications.js';

export class PresencePackage implements EventPackage {
  readonly name = 'presence';
  readonly contentType = PIDF_CONTENT_TYPE;
  readonly publishable = true;

  constructor(
    private readonly publications: Publications,
    private readonly location: LocationStore | undefined,
    /** How many calls the presentity has up (through our proxy or B2BUA). */
    private readonly callsOf: (resource: string) => number,
  ) {}

  async render(resource: string, view: { decision: WatcherDecision }): Promise<NotifyContent> {
    if (view.decision === 'confirm') return {}; // pending: no state yet (RFC 6665 §4.2.1.1)
    return { body: buildPidf(await this.compose(resource, view.decision === 'polite-block')), contentType: PIDF_CONTENT_TYPE };
  }

  /** The composed state. */
  async compose(resource: string, politeBlock = false): Promise<PresenceDocument> {
    if (politeBlock) return { entity: resource, tuples: [{ id: 'closed', basic: 'closed' }], activities: [], notes: [] };
    const pubs = this.publications.of(resource);
    const bindings = pubs.length === 0 && this.location ? await this.location.lookup(resource) : [];
    return composePresence(resource, pubs, bindings, this.callsOf(resource) > 0);
  }
}

/**
 * A presentity's document from its sources (also `switchboard presence list`): the published
 * tuples (ids prefixed by the device's position, unique in the document), activities and notes
 * merged; with nothing published, one registration tuple; `on-the-phone` while in a call.
 */
export function composePresence(resource: string, pubs: readonly Publication[], bindings: readonly Binding[], inCall: boolean): PresenceDocument {
  const tuples: PresenceTuple[] = [];
  const activities: string[] = [];
  const notes: string[] = [];
  pubs.forEach((p, i) => {
    for (const t of p.document.tuples) tuples.push({ ...t, id: `d${i}-${t.id}` });
    for (const a of p.document.activities) if (!activities.includes(a)) activities.push(a);
    for (const n of p.document.notes) if (!notes.includes(n)) notes.push(n);
  });
  if (pubs.length === 0) tuples.push(bindings.length > 0 ? { id: 'registration', basic: 'open', contact: bindings[0]!.contact } : { id: 'registration', basic: 'closed' });
  if (inCall && !activities.includes('on-the-phone')) activities.push('on-the-phone');
  return { entity: resource, tuples, activities, notes };
}

/** `presence.winfo`: the presentity's watchers (RFC 3857); only the presentity may subscribe. */
export class WatcherInfoPackage implements EventPackage {
  readonly name = 'presence.winfo';
  readonly contentType = WATCHERINFO_CONTENT_TYPE;
  readonly perSubscription = true;
  /** RFC 3858 §4.1: the version counts the documents of one subscription, from 0. */
  private readonly versions = new Map<string, number>();

  constructor(private readonly server: () => EventServer) {}

  forget(id: string): void {
    this.versions.delete(id);
  }

  async render(resource: string, view: RenderView): Promise<NotifyContent> {
    const version = this.versions.get(view.subscriptionId) ?? 0;
    this.versions.set(view.subscriptionId, version + 1);
    const watchers = this.server().watchersOf(resource, 'presence').map((w) => ({ id: w.id.replace(/\0/g, '.').slice(0, 64), uri: w.watcher, status: w.state === 'pending' ? 'pending' as const : 'active' as const, event: 'subscribe' }));
    return { body: buildWatcherinfo({ version, resource, pkg: 'presence', watchers }), contentType: WATCHERINFO_CONTENT_TYPE };
  }
}

/**
 * `message-summary` (RFC 3842): the voicemail lamp. Its state is what a voicemail server last
 * published for the account (`presence.messageSummaryPublishers`); none: no messages waiting.
 */
export class MessageSummaryPackage implements EventPackage {
  readonly name = 'message-summary';
  readonly contentType = MESSAGE_SUMMARY_CONTENT_TYPE;
  readonly publishable = true;

  constructor(private readonly publications: Publications) {}

  async render(resource: string): Promise<NotifyContent> {
    const latest = this.publications.of(resource, 'message-summary').at(-1);
    return { body: latest?.body ?? buildMessageSummary({ waiting: false, account: resource, counts: {} }), contentType: MESSAGE_SUMMARY_CONTENT_TYPE };
  }
}
