/**
 * Who may watch whom (RFC 5025 actions, docs/presence.md): per presentity lists of watchers
 * allowed, blocked (403) and polite-blocked (accepted, shown a presentity that is always
 * closed), then the site's default — `domain` (the default: the authenticated users of the
 * served domains watch each other, others are blocked), `open` (anyone), `confirm` (the
 * subscription waits `pending`), `closed` (nobody but the lists). A presentity may always watch
 * itself. An entry is an AOR (`sip:bob@example.com`) or a domain (`example.com`: any of its users).
 *
 * @remarks Role (`roles/presence`).
 */
import type { WatcherDecision } from './event-package.js';

export type DefaultPolicy = 'domain' | 'open' | 'confirm' | 'closed';

export interface PresentityRules {
  allow?: string[];
  block?: string[];
  politeBlock?: string[];
}

export class WatcherPolicy {
  constructor(
    private readonly defaultPolicy: DefaultPolicy,
    private rules: Readonly<Record<string, PresentityRules>>,
    private readonly domains: readonly string[],
  ) {}

  /** Replaces the per-presentity rules (a reload). */
  setRules(rules: Readonly<Record<string, PresentityRules>>): void {
    this.rules = rules;
  }

  decide(watcher: string, resource: string, authenticated: boolean): WatcherDecision {
    if (watcher === resource) return 'allow';
    const r = this.rules[resource];
    if (r) {
      if (matches(r.block, watcher)) return 'block';
      if (matches(r.politeBlock, watcher)) return 'polite-block';
      if (matches(r.allow, watcher)) return 'allow';
    }
    switch (this.defaultPolicy) {
      case 'open':
        return 'allow';
      case 'confirm':
        return 'confirm';
      case 'closed':
        return 'block';
      case 'domain': {
        // The watcher is the authenticated user (always in a served domain); without
        // authentication (`presence.authenticate: false`) the From's domain is all we know.
        const domain = /@([^;>]+)$/.exec(watcher)?.[1]?.toLowerCase();
        return authenticated || (domain !== undefined && this.domains.includes(domain)) ? 'allow' : 'block';
      }
    }
  }
}

function matches(list: readonly string[] | undefined, watcher: string): boolean {
  if (!list) return false;
  const domain = /@([^;>]+)$/.exec(watcher)?.[1]?.toLowerCase();
  return list.some((e) => (e.includes(':') || e.includes('@') ? e.toLowerCase() === watcher.toLowerCase() : e.toLowerCase() === domain));
}
