/**
 * The event server (RFC 6665 notifier, RFC 3903 state agent; docs/presence.md): SUBSCRIBE for
 * the users of the served domains, with the same digest users as the registrar (401), the
 * package plug-ins of {@link EventPackage}, the watcher policy, and the subscriptions kept in
 * the store so that a restart finds them (each gets its NOTIFYs again). PUBLISH goes to
 * {@link Publications}. A resource whose state changes is re-rendered for each of its watchers.
 *
 * | SUBSCRIBE                              | answer                                          |
 * | -------------------------------------- | ----------------------------------------------- |
 * | no Event                               | 400 Missing Event                               |
 * | a package we do not have               | 489 Bad Event, Allow-Events                     |
 * | a domain we do not serve               | 404 (a proxy would route it; we are the notifier) |
 * | no credentials / wrong ones            | 401 with a challenge / 403                       |
 * | Expires below min (not 0)              | 423, Min-Expires                                |
 * | Accept without the package's type      | 406                                             |
 * | blocked watcher                        | 403                                             |
 * | otherwise                              | 200, Expires (at most max), then NOTIFY at once |
 * | Expires: 0 (fetch)                     | 200, one NOTIFY `terminated;reason=timeout`     |
 *
 * @remarks Role (`roles/presence`).
 */
import type { DigestVerifier } from '../../auth/index.js';
import { dialogId } from '../../dialog/index.js';
import { type SipRequest, type SipUri, percentDecode } from '../../sip/index.js';
import type { EventRecord, EventStore } from '../../store/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SipElement, TransactionUser, UasPolicy } from '../../tu/index.js';
import { type NotifyContent, ServerSubscription, type SubscriptionRecord, parseEvent } from '../../usage/index.js';
import type { EventPackage, WatcherDecision } from './event-package.js';

export interface SubscriptionLimits {
  /** Seconds: granted when the SUBSCRIBE has no Expires (RFC 3856 §6.4: 3600 for presence). */
  defaultExpires: number;
  minExpires: number;
  maxExpires: number;
}

export interface EventServerDeps {
  element: SipElement;
  domains: readonly string[];
  /** Digest verification (the registrar's users); none: no authentication. */
  verifier?: DigestVerifier;
  realm?: string;
  /** Does `user` exist in `domain` (a user of the user store, or someone with a binding)? */
  userExists(user: string, domain: string): Promise<boolean>;
  store: EventStore;
  /** The watcher policy of a presentity. */
  decide(watcher: string, resource: string, authenticated: boolean): WatcherDecision;
  log(line: string): void;
  now?: () => number;
}

/** One live subscription and what the policy said about its watcher. */
interface Live {
  sub: ServerSubscription;
  decision: WatcherDecision;
}

export class EventServer implements TransactionUser {
  readonly uas: UasPolicy;
  private readonly packages = new Map<string, EventPackage>();
  private readonly byId = new Map<string, Live>();
  private readonly byResource = new Map<string, Set<Live>>();
  private readonly now: () => number;
  /** Called with (resource, event) whenever the watcher set of a resource changes (winfo). */
  onWatchersChanged: ((resource: string, event: string) => void) | undefined;

  constructor(private readonly deps: EventServerDeps, private readonly limits: SubscriptionLimits, readonly publish?: TransactionUser) {
    this.now = deps.now ?? Date.now;
    this.uas = { allow: ['SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'OPTIONS'], supported: [], accept: ['application/pidf+xml', 'application/sdp'] };
  }

  register(pkg: EventPackage): void {
    this.packages.set(pkg.name, pkg);
  }

  /** The packages, for Allow-Events (RFC 6665 §8.2.2). */
  get allowEvents(): string {
    return [...this.packages.keys()].join(', ');
  }

  /** Live subscriptions (for `subscriptions list` and tests). */
  subscriptions(): Array<{ id: string; event: string; resource: string; watcher: string; state: string; expires: number; decision: WatcherDecision }> {
    return [...this.byId.values()].map(({ sub, decision }) => ({ id: sub.id, event: sub.event, resource: sub.resource, watcher: sub.watcher, state: sub.state, expires: sub.remaining, decision }));
  }

  /** The watchers of a resource for one package. */
  watchersOf(resource: string, event: string): Array<{ watcher: string; state: string; id: string }> {
    return [...(this.byResource.get(resource) ?? [])].filter((l) => l.sub.event === event).map((l) => ({ watcher: l.sub.watcher, state: l.sub.state, id: l.sub.id }));
  }

  hasDialog(req: SipRequest): boolean {
    return this.byId.has(dialogKey(req));
  }

  receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    const p = req.method === 'PUBLISH' && this.publish
      ? Promise.resolve(this.publish.receiveRequest(req, tx))
      : req.method === 'SUBSCRIBE'
        ? (req.to.tag !== undefined ? this.resubscribe(req, tx) : this.subscribe(req, tx))
        : Promise.resolve(void this.deps.element.uas.respond(tx, req, req.to.tag !== undefined ? 481 : 405, req.to.tag !== undefined ? {} : { headers: [['Allow', this.uas.allow.join(', ')]] }));
    p.catch((e: unknown) => this.deps.element.requestFailed('events', req, tx, e, 'Event Server Error'));
  }

  /** The state of `resource` changed for `event`: every watcher gets a NOTIFY. */
  changed(resource: string, event: string): void {
    const pkg = this.packages.get(event);
    const live = this.byResource.get(resource);
    if (!pkg || !live) return;
    // A package whose document is the same for every watcher with the same decision (presence,
    // message-summary) is rendered once per change, not once per watcher (a fan-out to 1,000).
    const shared = pkg.perSubscription ? undefined : new Map<WatcherDecision, Promise<NotifyContent>>();
    for (const l of live) {
      if (l.sub.event !== event || l.sub.state === 'terminated') continue;
      const view = { decision: l.decision, watcher: l.sub.watcher, subscriptionId: l.sub.id };
      let content = shared?.get(l.decision);
      if (!content) {
        content = pkg.render(resource, view);
        shared?.set(l.decision, content);
      }
      void content.then((c) => l.sub.notify(c)).catch((e: unknown) => this.deps.log(`events: ${resource} ${event}: NOTIFY not rendered: ${(e as Error).message}`));
    }
  }

  /** Restores the stored subscriptions (after a restart): each gets a NOTIFY of the current state. */
  async restore(): Promise<number> {
    const records = await this.deps.store.all('sub');
    for (const r of records) {
      let data: SubscriptionRecord & { decision: WatcherDecision };
      try {
        data = JSON.parse(r.data) as SubscriptionRecord & { decision: WatcherDecision };
      } catch {
        await this.deps.store.remove('sub', r.id);
        continue;
      }
      const pkg = this.packages.get(data.event);
      if (!pkg) continue;
      const sub = ServerSubscription.restore(this.deps.element, data, this.now);
      const live = this.track(sub, data.decision);
      await this.persist(live); // the new CSeq base, before any NOTIFY
      void pkg.render(sub.resource, { decision: live.decision, watcher: sub.watcher, subscriptionId: sub.id }).then((c) => sub.notify(c));
    }
    if (records.length > 0) this.deps.log(`events: ${records.length} subscriptions restored from the store`);
    return records.length;
  }

  /**
   * The watcher policy changed (a reload): each live subscription is decided again — a watcher
   * now blocked gets its final NOTIFY (`terminated;reason=rejected`, RFC 6665 §4.2.2), one whose
   * decision changed (allowed ↔ polite-blocked, pending → active) gets the state it may now see.
   */
  reauthorize(): number {
    let changed = 0;
    for (const l of [...this.byId.values()]) {
      const pkg = this.packages.get(l.sub.event);
      if (!pkg || l.sub.event === 'presence.winfo') continue;
      const now = this.deps.decide(l.sub.watcher, l.sub.resource, true);
      if (now === l.decision) continue;
      changed++;
      if (now === 'block') {
        void l.sub.terminate('rejected', {});
        continue;
      }
      l.decision = now;
      if (now !== 'confirm') l.sub.activate();
      void this.persist(l);
      void pkg.render(l.sub.resource, { decision: now, watcher: l.sub.watcher, subscriptionId: l.sub.id }).then((c) => l.sub.notify(c));
    }
    return changed;
  }

  /** Ends every subscription without NOTIFY (the server stops; the store keeps them for the restart). */
  stop(): void {
    for (const l of [...this.byId.values()]) {
      l.sub.removeAllListeners('terminated');
      l.sub.drop('stopping');
    }
    this.byId.clear();
    this.byResource.clear();
  }

  // ---- SUBSCRIBE ------------------------------------------------------------------------

  private async subscribe(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const uas = this.deps.element.uas;
    const eventHeader = req.header('Event');
    if (eventHeader === undefined) return void uas.respond(tx, req, 400, { reason: 'Missing Event Header' });
    const ev = parseEvent(eventHeader);
    const pkg = this.packages.get(ev.name);
    if (!pkg) return void uas.respond(tx, req, 489, { reason: 'Bad Event', headers: [['Allow-Events', this.allowEvents]] });
    const target = this.resourceOf(req);
    if (target === undefined) return void uas.respond(tx, req, 404, { reason: 'Not a User of a Served Domain' });
    const { resource, user, domain } = target;
    const watcher = await this.authenticate(req, tx, 'SUBSCRIBE', domain);
    if (watcher === undefined) return;
    if (!(await this.deps.userExists(user, domain))) return void uas.respond(tx, req, 404, { reason: 'Unknown Presentity' });
    const expires = this.expiresOf(req, tx);
    if (expires === undefined) return;
    const accept = req.headerValues('Accept').flatMap((v) => v.split(',')).map((s) => s.trim().split(';')[0]!.toLowerCase()).filter(Boolean);
    if (accept.length > 0 && !accept.includes(pkg.contentType) && !accept.includes('*/*')) {
      return void uas.respond(tx, req, 406, { reason: `Accept Lacks ${pkg.contentType}`, headers: [['Accept', pkg.contentType]] });
    }
    const decision = pkg.name === 'presence.winfo' ? (watcher.identity === resource ? 'allow' : 'block') : this.deps.decide(watcher.identity, resource, watcher.authenticated);
    if (decision === 'block') {
      this.deps.log(`events: SUBSCRIBE ${ev.name} to ${resource} from ${watcher.identity}: blocked by policy (403)`);
      return void uas.respond(tx, req, 403, { reason: 'Watcher Not Allowed' });
    }
    const contact = this.deps.element.uac.contactUri(req.source?.transport === 'udp' || req.source === undefined ? 'udp' : (req.source.transport as 'tcp'), 'events');
    const sub = ServerSubscription.accept(this.deps.element, req, tx, { resource, watcher: watcher.identity, state: decision === 'confirm' ? 'pending' : 'active', expires, contact, now: this.now, headers: [['Allow-Events', this.allowEvents]] });
    if (expires === 0) {
      // RFC 6665 §4.4.3: a fetch — one NOTIFY with the state, the subscription over at once.
      const content = await pkg.render(resource, { decision, watcher: watcher.identity, subscriptionId: sub.id });
      await sub.terminate('timeout', content);
      return;
    }
    const live = this.track(sub, decision);
    this.deps.log(`events: ${watcher.identity} watches ${resource} (${ev.name}, ${sub.state}, ${expires} s)`);
    await this.persist(live);
    this.onWatchersChanged?.(resource, ev.name);
    await sub.notify(await pkg.render(resource, { decision, watcher: watcher.identity, subscriptionId: sub.id }));
  }

  /** A SUBSCRIBE within a subscription's dialog: a refresh, or with Expires 0 its end. */
  private async resubscribe(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const live = this.byId.get(dialogKey(req));
    const uas = this.deps.element.uas;
    if (!live) return void uas.respond(tx, req, 481, { reason: 'Subscription Does Not Exist' });
    const ev = parseEvent(req.header('Event') ?? '');
    if (ev.name !== live.sub.event) return void uas.respond(tx, req, 489, { reason: 'Bad Event', headers: [['Allow-Events', this.allowEvents]] });
    const expires = this.expiresOf(req, tx);
    if (expires === undefined) return;
    if (!live.sub.refresh(req, tx, expires)) return;
    const pkg = this.packages.get(live.sub.event)!;
    const content = await pkg.render(live.sub.resource, { decision: live.decision, watcher: live.sub.watcher, subscriptionId: live.sub.id });
    if (expires === 0) {
      // RFC 6665 §4.2.1.2: an unsubscribe gets a final NOTIFY.
      await live.sub.terminate('timeout', content);
      return;
    }
    await this.persist(live);
    await live.sub.notify(content);
  }

  private expiresOf(req: SipRequest, tx: ServerTransaction): number | undefined {
    const raw = req.header('Expires');
    if (raw === undefined) return this.limits.defaultExpires;
    if (!/^\s*\d{1,10}\s*$/.test(raw)) return void this.deps.element.uas.respond(tx, req, 400, { reason: 'Expires Is Not a Number' });
    const n = Number(raw);
    // RFC 6665 §4.2.1.1: too short (and not 0) → 423 with Min-Expires; too long → shortened.
    if (n > 0 && n < this.limits.minExpires) return void this.deps.element.uas.respond(tx, req, 423, { headers: [['Min-Expires', String(this.limits.minExpires)]] });
    return Math.min(n, this.limits.maxExpires);
  }

  /** The resource a request is about: a user of a served domain (its canonical AOR). */
  resourceOf(req: SipRequest): { resource: string; user: string; domain: string } | undefined {
    const u = req.uri;
    if (u.kind !== 'sip' || u.user === undefined) return undefined;
    const domain = u.hostname.toLowerCase();
    if (!this.deps.domains.includes(domain)) return undefined;
    const user = percentDecode(u.user);
    return { resource: `sip:${user}@${domain}`, user, domain };
  }

  /**
   * The watcher (or publisher): the authenticated user when authentication is on (401 with a
   * challenge otherwise, resolving undefined), else the From AOR.
   */
  async authenticate(req: SipRequest, tx: ServerTransaction, method: string, domain: string): Promise<{ identity: string; authenticated: boolean } | undefined> {
    const v = this.deps.verifier;
    const fu = req.from.uri;
    const fromAor = fu.kind === 'sip' ? aorOf(fu) : req.from.uriText;
    if (!v) return { identity: fromAor, authenticated: false };
    const realm = this.deps.realm ?? domain;
    const verdict = await v.verify(req.header('Authorization'), { method, realm, requestUri: req.uriText, source: req.source?.address });
    if (!verdict.ok) {
      if (verdict.reason === 'malformed') return void this.deps.element.uas.respond(tx, req, 400, { reason: 'Malformed Authorization' });
      if (verdict.reason === 'bad-response') return void this.deps.element.uas.respond(tx, req, 403, { reason: 'Wrong Credentials' });
      const challenges = v.challenge(realm, { stale: verdict.reason === 'stale' });
      return void this.deps.element.uas.respond(tx, req, 401, { headers: challenges.map((c) => ['WWW-Authenticate', c] as [string, string]) });
    }
    return { identity: `sip:${verdict.username}@${domain}`, authenticated: true };
  }

  private track(sub: ServerSubscription, decision: WatcherDecision): Live {
    const live: Live = { sub, decision };
    this.byId.set(sub.id, live);
    let set = this.byResource.get(sub.resource);
    if (!set) this.byResource.set(sub.resource, (set = new Set()));
    set.add(live);
    sub.once('terminated', (reason: string) => {
      this.byId.delete(sub.id);
      set!.delete(live);
      if (set!.size === 0) this.byResource.delete(sub.resource);
      this.deps.log(`events: ${sub.watcher}'s ${sub.event} subscription to ${sub.resource} ended (${reason})`);
      void this.deps.store.remove('sub', sub.id).catch(() => undefined);
      this.packages.get(sub.event)?.forget?.(sub.id);
      this.onWatchersChanged?.(sub.resource, sub.event);
    });
    return live;
  }

  private async persist(live: Live): Promise<void> {
    const r = live.sub.toRecord();
    const rec: EventRecord = { kind: 'sub', id: r.id, resource: r.resource, expiresAt: r.expiresAt, data: JSON.stringify({ ...r, decision: live.decision }) };
    await this.deps.store.put(rec).catch((e: unknown) => this.deps.log(`events: subscription ${r.id} not stored: ${(e as Error).message}`));
  }
}

/** The key of a subscription's dialog as a request within it names it (our tag is in To). */
function dialogKey(req: SipRequest): string {
  return dialogId(req.callId, req.to.tag ?? '', req.from.tag ?? '');
}

function aorOf(u: SipUri): string {
  return `sip:${u.user !== undefined ? `${percentDecode(u.user)}@` : ''}${u.hostname.toLowerCase()}`;
}
