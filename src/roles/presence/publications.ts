/** What each publishable package takes: its body type and the check of a body. */
const PUBLISHABLE: Record<string, { contentType: string; check(body: Buffer): PresenceDocument | undefined; what: string }> = {
  presence: { contentType: PIDF_CONTENT_TYPE, check: (b) => parsePidf(b), what: 'PIDF' },
  // RFC 3842: a voicemail server publishes the lamp's state (an extension many servers use).
  'message-summary': { contentType: MESSAGE_SUMMARY_CONTENT_TYPE, check: (b) => void parseMessageSummary(b), what: 'message summary' },
};

/**
 * PUBLISH (RFC 3903): the presence state a user's devices publish, each publication an entity
 * with an entity-tag. Initial (a body, no SIP-If-Match) → a new ETag; refresh (SIP-If-Match, no
 * body) → the same state, a new ETag and expiry; modify (SIP-If-Match and a body) → new state and
 * ETag; remove (SIP-If-Match, Expires 0). An unknown or expired ETag is `412 Conditional Request
 * Failed`; a body that is not PIDF is 400 naming what is wrong. Only the presentity itself may
 * publish its state (403 otherwise). Kept in the store and expired on time.
 *
 * @remarks Role (`roles/presence`).
 */
import { randomBytes } from 'node:crypto';
import { MESSAGE_SUMMARY_CONTENT_TYPE, type PresenceDocument, PIDF_CONTENT_TYPE, parseMessageSummary, parsePidf } from '../../content/index.js';
import type { SipRequest } from '../../sip/index.js';
import type { EventStore } from '../../store/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SipElement, TransactionUser } from '../../tu/index.js';
import { parseEvent } from '../../usage/index.js';
import type { Clock } from '../../util/clock.js';
import type { EventServer, SubscriptionLimits } from './event-server.js';

export interface Publication {
  etag: string;
  resource: string;
  /** The event package (`presence`, or `message-summary`); records of older versions have none: presence. */
  event?: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** The presence document (`presence`); for `message-summary`, the summary's fields. */
  document: PresenceDocument;
  /** The body as published (`message-summary`: sent to the watchers as it is). */
  body?: string;
  /** When it was first published (its order among the presentity's devices). */
  since: number;
}

export class Publications implements TransactionUser {
  private readonly byEtag = new Map<string, Publication>();
  private readonly timers = new Map<string, ReturnType<Clock['setTimer']>>();
  /** Set by the server that owns it (rendering, authentication). */
  server: EventServer | undefined;
  /** A presentity's published state of `event` changed. */
  onChange: ((resource: string, event: string) => void) | undefined;
  /** Who may publish someone else's state of a package (`message-summary`: the voicemail servers). */
  publishersFor: (event: string) => readonly string[] = () => [];

  constructor(
    private readonly element: SipElement,
    private readonly store: EventStore,
    private readonly limits: SubscriptionLimits,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The unexpired publications of a presentity for a package, oldest first. */
  of(resource: string, event = 'presence'): Publication[] {
    const now = this.now();
    return [...this.byEtag.values()].filter((p) => p.resource === resource && (p.event ?? 'presence') === event && p.expiresAt > now).sort((a, b) => a.since - b.since);
  }

  /** Presentities with a publication. */
  resources(): string[] {
    return [...new Set([...this.byEtag.values()].map((p) => p.resource))];
  }

  async restore(): Promise<void> {
    for (const r of await this.store.all('pub')) {
      try {
        this.keep(JSON.parse(r.data) as Publication);
      } catch {
        await this.store.remove('pub', r.id);
      }
    }
  }

  stop(): void {
    for (const t of this.timers.values()) this.element.clock.clearTimer(t);
    this.timers.clear();
  }

  /**
   * Another process sharing the store (Redis) changed `resource`'s publications: this process's
   * copy is read again from the store.
   */
  async reload(resource: string): Promise<void> {
    const stored = (await this.store.all('pub')).filter((r) => r.resource === resource);
    for (const p of [...this.byEtag.values()]) {
      if (p.resource !== resource) continue;
      this.byEtag.delete(p.etag);
      const t = this.timers.get(p.etag);
      if (t) this.element.clock.clearTimer(t);
      this.timers.delete(p.etag);
    }
    for (const r of stored) {
      try {
        this.keep(JSON.parse(r.data) as Publication);
      } catch {
        /* a record another version wrote: skipped */
      }
    }
  }

  receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    this.handle(req, tx).catch((e: unknown) => this.element.requestFailed('publish', req, tx, e, 'Publication Error'));
  }

  private async handle(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const uas = this.element.uas;
    const server = this.server!;
    const ev = parseEvent(req.header('Event') ?? '');
    const pkg = PUBLISHABLE[ev.name];
    if (!pkg) return void uas.respond(tx, req, 489, { reason: 'Bad Event', headers: [['Allow-Events', Object.keys(PUBLISHABLE).join(', ')]] });
    const target = server.resourceOf(req);
    if (!target) return void uas.respond(tx, req, 404, { reason: 'Not a User of a Served Domain' });
    const who = await server.authenticate(req, tx, 'PUBLISH', target.domain);
    if (!who) return;
    if (who.authenticated && who.identity !== target.resource && !this.publishersFor(ev.name).includes(who.identity)) return void uas.respond(tx, req, 403, { reason: 'Only the Presentity May Publish' });
    const rawExpires = req.header('Expires');
    if (rawExpires !== undefined && !/^\s*\d{1,10}\s*$/.test(rawExpires)) return void uas.respond(tx, req, 400, { reason: 'Expires Is Not a Number' });
    let expires = rawExpires === undefined ? this.limits.defaultExpires : Number(rawExpires);
    // RFC 3903 §6 step 5: too short (not 0) → 423 with Min-Expires; too long → the maximum.
    if (expires > 0 && expires < this.limits.minExpires) return void uas.respond(tx, req, 423, { headers: [['Min-Expires', String(this.limits.minExpires)]] });
    expires = Math.min(expires, this.limits.maxExpires);
    const ifMatch = req.header('SIP-If-Match')?.trim();
    const hasBody = req.body.length > 0;
    let previous: Publication | undefined;
    if (ifMatch !== undefined) {
      previous = this.byEtag.get(ifMatch);
      // RFC 3903 §6 step 4: no such entity (or another presentity's) → 412.
      if (!previous || previous.resource !== target.resource || (previous.event ?? 'presence') !== ev.name || previous.expiresAt <= this.now()) return void uas.respond(tx, req, 412, { reason: 'Conditional Request Failed' });
    } else if (!hasBody) return void uas.respond(tx, req, 400, { reason: 'Initial PUBLISH Without a Body' });
    if (expires === 0) {
      if (!previous) return void uas.respond(tx, req, 400, { reason: 'Expires 0 Without SIP-If-Match' });
      this.forget(previous.etag);
      this.store.announce('pub', target.resource);
      // RFC 3903 §6 step 8: a 2xx carries a SIP-ETag — here the one of the entity just removed.
      uas.respond(tx, req, 200, { headers: [['SIP-ETag', previous.etag], ['Expires', '0']] });
      this.log(`presence: ${target.resource} removed ${ev.name} publication ${previous.etag}`);
      this.onChange?.(target.resource, ev.name);
      return;
    }
    let document = previous?.document;
    let body = previous?.body;
    if (hasBody) {
      if (req.contentType !== pkg.contentType) return void uas.respond(tx, req, 415, { headers: [['Accept', pkg.contentType]] });
      try {
        document = pkg.check(req.body) ?? { entity: target.resource, tuples: [], activities: [], notes: [] };
      } catch (e) {
        return void uas.respond(tx, req, 400, { reason: `Bad ${pkg.what}: ${(e as Error).message}`.slice(0, 120) });
      }
      body = ev.name === 'presence' ? undefined : req.body.toString('utf8');
    }
    // RFC 3903 §6 step 7/8: every accepted PUBLISH gets a new entity-tag.
    const etag = randomBytes(8).toString('hex');
    if (previous) this.forget(previous.etag);
    const pub: Publication = { etag, resource: target.resource, event: ev.name, expiresAt: this.now() + expires * 1000, document: document!, since: previous?.since ?? this.now(), ...(body !== undefined ? { body } : {}) };
    this.keep(pub);
    await this.store.put({ kind: 'pub', id: etag, resource: pub.resource, expiresAt: pub.expiresAt, data: JSON.stringify(pub) }).catch((e: unknown) => this.log(`presence: publication not stored: ${(e as Error).message}`));
    this.store.announce('pub', pub.resource);
    uas.respond(tx, req, 200, { headers: [['SIP-ETag', etag], ['Expires', String(expires)]] });
    this.log(`presence: ${target.resource} ${previous ? (hasBody ? 'modified' : 'refreshed') : 'published'} ${ev.name === 'presence' ? '' : `${ev.name} `}${etag} (${ev.name === 'presence' ? describe(pub.document) : (body ?? '').trim().split(/\r?\n/)[0]}, ${expires} s)`);
    if (hasBody || !previous) this.onChange?.(target.resource, ev.name);
  }

  private keep(p: Publication): void {
    this.byEtag.set(p.etag, p);
    const t = this.element.clock.setTimer(Math.max(0, p.expiresAt - this.now()), () => {
      if (this.byEtag.get(p.etag) !== p) return;
      this.forget(p.etag);
      this.log(`presence: publication ${p.etag} of ${p.resource} expired`);
      this.onChange?.(p.resource, p.event ?? 'presence');
    });
    this.timers.set(p.etag, t);
  }

  private forget(etag: string): void {
    this.byEtag.delete(etag);
    const t = this.timers.get(etag);
    if (t) this.element.clock.clearTimer(t);
    this.timers.delete(etag);
    void this.store.remove('pub', etag).catch(() => undefined);
  }
}

function describe(d: PresenceDocument): string {
  const basic = d.tuples.map((t) => t.basic).join('/') || 'no tuple';
  return d.activities.length > 0 ? `${basic}, ${d.activities.join(' ')}` : basic;
}
