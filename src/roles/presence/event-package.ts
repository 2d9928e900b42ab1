/**
 * Event packages (RFC 6665 §7): what the event server needs of one — its name, the body type
 * of its NOTIFYs, how a resource's state is rendered for a watcher, and whether PUBLISH (RFC
 * 3903) feeds it. Presence, watcher information and the dialog package are such plug-ins; the
 * subscription machinery (usage/subscription) and the server (event-server.ts) are shared.
 *
 * @remarks Role (`roles/presence`).
 */
import type { NotifyContent } from '../../usage/index.js';

/** Who a document is rendered for. */
export interface RenderView {
  decision: WatcherDecision;
  watcher: string;
  /** The subscription (documents with a version count per subscription: RFC 3858 §4.1, RFC 4235 §4.1). */
  subscriptionId: string;
}

/** What the watcher policy decided for a subscription (RFC 5025 actions). */
export type WatcherDecision = 'allow' | 'confirm' | 'polite-block' | 'block';

export interface EventPackage {
  /** The Event header's package name (`presence`, `presence.winfo`, `dialog`). */
  readonly name: string;
  /** The Content-Type of its NOTIFY bodies. */
  readonly contentType: string;
  /**
   * The resource's state for one watcher: a polite-blocked watcher gets what the package shows to
   * nobody in particular (presence: closed), a pending one no body (RFC 6665 §4.2.1.1).
   */
  render(resource: string, view: RenderView): Promise<NotifyContent>;
  /** A subscription ended: forget what was kept for it (a document version). */
  forget?(subscriptionId: string): void;
  /** PUBLISH may set this package's state (RFC 3903 §4). */
  readonly publishable?: boolean;
  /**
   * Each subscription gets its own document (a version per subscription: watcherinfo,
   * dialog-info); otherwise one rendering serves every watcher with the same decision.
   */
  readonly perSubscription?: boolean;
}
