/**
 * The presence role: the event server (RFC 6665), presence (RFC 3856) with PUBLISH (RFC 3903)
 * and watcher information (RFC 3857), and offline instant messages (RFC 3428).
 * @packageDocumentation
 */
export { DialogPackage, STALE_CALL_MS } from './dialog-package.js';
export { type EventPackage, type RenderView, type WatcherDecision } from './event-package.js';
export { EventServer, type EventServerDeps, type SubscriptionLimits } from './event-server.js';
export { OfflineMessages, type OfflineMessageSettings } from './offline-messages.js';
export { MessageSummaryPackage, PresencePackage, WatcherInfoPackage, composePresence } from './presence-package.js';
export { type Publication, Publications } from './publications.js';
export { type PresenceConfig, type PresenceDeps, PresenceRole, type StoredRule, ruleId } from './presence.js';
export { type DefaultPolicy, type PresentityRules, WatcherPolicy } from './watcher-policy.js';
