/**
 * The presence role (docs/presence.md): the event server with the presence and watcher-info
 * packages, PUBLISH, the watcher policy, and offline instant messages — wired to the location
 * service (a registration opens a presentity, its end closes it, and stored messages go out)
 * and to the store (subscriptions and publications survive a restart).
 *
 * @remarks Role (`roles/presence`).
 */
import type { DigestVerifier } from '../../auth/index.js';
import type { EventStore, LocationStore, UserStore } from '../../store/index.js';
import type { SipElement } from '../../tu/index.js';
import { DialogPackage } from './dialog-package.js';
import { EventServer, type SubscriptionLimits } from './event-server.js';
import { OfflineMessages, type OfflineMessageSettings } from './offline-messages.js';
import { MessageSummaryPackage, PresencePackage, WatcherInfoPackage } from './presence-package.js';
import { Publications } from './publications.js';
import { type DefaultPolicy, type PresentityRules, WatcherPolicy } from './watcher-policy.js';

export interface PresenceConfig {
  /** Digest authentication of SUBSCRIBE and PUBLISH (the registrar's users). */
  authenticate: boolean;
  policy: DefaultPolicy;
  rules: Record<string, PresentityRules>;
  subscriptions: SubscriptionLimits;
  publications: SubscriptionLimits;
  /** Who may PUBLISH anyone's message-summary (voicemail servers' AORs); the account itself always may. */
  messageSummaryPublishers?: readonly string[];
  /** Offline MESSAGE storage (`enabled: false`: a MESSAGE to an unregistered user gets 404/480 as before). */
  messages: OfflineMessageSettings & { enabled: boolean };
}

/** A watcher rule kept in the store (`switchboard presence allow|block|polite-block`). */
export interface StoredRule {
  presentity: string;
  watcher: string;
  action: 'allow' | 'block' | 'polite-block';
}

/** The store key of a rule. */
export function ruleId(presentity: string, watcher: string): string {
  return `${presentity} ${watcher}`;
}

export interface PresenceDeps {
  element: SipElement;
  domains: readonly string[];
  verifier?: DigestVerifier;
  realm?: string;
  users: UserStore;
  location: LocationStore;
  store: EventStore;
  log(line: string): void;
  now?: () => number;
}

export class PresenceRole {
  readonly server: EventServer;
  readonly publications: Publications;
  readonly presence: PresencePackage;
  readonly policy: WatcherPolicy;
  readonly messages: OfflineMessages | undefined;
  /** The dialog package (RFC 4235), fed by the proxy's responses ({@link observe}). */
  readonly dialogs: DialogPackage;
  /** Calls up per AOR (fed by the proxy / B2BUA): `on-the-phone`. */
  private readonly calls = new Map<string, number>();
  private readonly unlisten: () => void;
  private readonly unannounce: () => void;

  constructor(private readonly deps: PresenceDeps, private readonly cfg: PresenceConfig) {
    const now = deps.now ?? Date.now;
    const userExists = (user: string, domain: string) => this.userExists(user, domain);
    this.policy = new WatcherPolicy(cfg.policy, cfg.rules, deps.domains);
    this.publications = new Publications(deps.element, deps.store, cfg.publications, deps.log, now);
    this.server = new EventServer({
      element: deps.element, domains: deps.domains, verifier: cfg.authenticate ? deps.verifier : undefined, realm: deps.realm,
      userExists, store: deps.store, decide: (w, r, a) => this.policy.decide(w, r, a), log: deps.log, now,
    }, cfg.subscriptions, this.publications);
    this.publications.server = this.server;
    this.presence = new PresencePackage(this.publications, deps.location, (r) => this.calls.get(r) ?? 0);
    this.server.register(this.presence);
    this.server.register(new WatcherInfoPackage(() => this.server));
    this.dialogs = new DialogPackage(deps.domains, (aor) => this.server.changed(aor, 'dialog'), (aor, d) => this.callChanged(aor, d), now);
    this.server.register(this.dialogs);
    this.server.register(new MessageSummaryPackage(this.publications));
    this.publications.publishersFor = (event) => (event === 'message-summary' ? (cfg.messageSummaryPublishers ?? []) : []);
    this.publications.onChange = (r, ev) => this.server.changed(r, ev);
    this.server.onWatchersChanged = (r, ev) => {
      if (ev === 'presence') this.server.changed(r, 'presence.winfo');
    };
    // A binding added or gone changes the registration tuple (when nothing is published).
    this.unlisten = deps.location.onChange((ev) => this.server.changed(ev.aor, 'presence'));
    // Several processes on one Redis: a PUBLISH taken by another process is read back here.
    this.unannounce = deps.store.onAnnounce((kind, resource) => {
      if (kind === 'pub') {
        void this.publications.reload(resource).then(() => {
          this.server.changed(resource, 'presence');
          this.server.changed(resource, 'message-summary');
        });
      }
    });
    this.messages = cfg.messages.enabled ? new OfflineMessages(deps.element, deps.store, deps.location, deps.domains, userExists, cfg.messages, deps.log, now) : undefined;
  }

  /** Restores publications, then subscriptions (each gets a NOTIFY of the current state). */
  async start(): Promise<void> {
    await this.reloadRules(false);
    await this.publications.restore();
    await this.server.restore();
  }

  /**
   * The watcher rules again: the config's, with those `switchboard presence allow|block|polite-block`
   * stored over them (SIGHUP); live subscriptions are decided again. Resolves with a line for the log.
   */
  async reloadRules(reauthorize = true): Promise<string> {
    const rules: Record<string, PresentityRules> = {};
    for (const [r, x] of Object.entries(this.cfg.rules)) rules[r] = { allow: [...(x.allow ?? [])], block: [...(x.block ?? [])], politeBlock: [...(x.politeBlock ?? [])] };
    let stored = 0;
    for (const rec of await this.deps.store.all('rule')) {
      let rule: StoredRule;
      try {
        rule = JSON.parse(rec.data) as StoredRule;
      } catch {
        continue;
      }
      stored++;
      const r = (rules[rule.presentity] ??= { allow: [], block: [], politeBlock: [] });
      // A stored rule replaces what the config said about the same watcher.
      for (const list of [r.allow!, r.block!, r.politeBlock!]) {
        const i = list.indexOf(rule.watcher);
        if (i >= 0) list.splice(i, 1);
      }
      (rule.action === 'allow' ? r.allow! : rule.action === 'block' ? r.block! : r.politeBlock!).push(rule.watcher);
    }
    this.policy.setRules(rules);
    const changed = reauthorize ? this.server.reauthorize() : 0;
    return `presence rules: ${Object.keys(this.cfg.rules).length} presentities in the config, ${stored} stored rules${reauthorize ? `; ${changed} subscriptions decided again` : ''}`;
  }

  stop(): void {
    this.unlisten();
    this.unannounce();
    this.publications.stop();
    this.server.stop();
  }

  /** A call through the B2BUA changed state (its leg A: the caller and whom it called). */
  b2buaCall(leg: { callId: string; fromTag: string; toTag?: string; caller: import('../../sip/index.js').SipRequest['from']['uri']; callee: import('../../sip/index.js').SipRequest['from']['uri'] }, state: 'Routing' | 'Early' | 'Answered' | 'Ended'): void {
    this.dialogs.track(leg, state === 'Routing' ? 'trying' : state === 'Early' ? 'early' : state === 'Answered' ? 'confirmed' : 'terminated');
  }

  /** A response the proxy relayed (its reply hook): calls for the dialog package and presence. */
  observe(res: import('../../sip/index.js').SipResponse): void {
    this.dialogs.observe(res);
  }

  /** A call of `aor` started or ended (through the proxy or the B2BUA): `on-the-phone`. */
  callChanged(aor: string, delta: 1 | -1): void {
    const n = Math.max(0, (this.calls.get(aor) ?? 0) + delta);
    if (n === 0) this.calls.delete(aor);
    else this.calls.set(aor, n);
    this.server.changed(aor, 'presence');
  }

  /** A user of the user store (any digest algorithm's HA1) or one with a binding. */
  async userExists(user: string, domain: string): Promise<boolean> {
    const realm = this.deps.realm ?? domain;
    if ((await this.deps.users.getHa1(user, realm, 'MD5')) !== undefined) return true;
    return (await this.deps.location.lookup(`sip:${user}@${domain}`)).length > 0;
  }
}
