/**
 * The dial plan (IOS dial-peers): number patterns, hunt order, translation rules, the IOS
 * configuration reader. A leaf: used by the proxy and the B2BUA roles and by the CLI.
 * @packageDocumentation
 */
export { DialPlanError, type Explicitness, type NumberPattern, compareExplicitness, compilePattern, normalizeNumber } from './pattern.js';
export { type TranslationResult, type TranslationRule, TranslationRuleSet, parseRuleLine } from './translation.js';
export {
  DEFAULT_HUNT_ON, DialPlan, type DialPeer, type DialPlanData, type OutboundMatch, type PeerTarget, type SessionTransport, type TranslationProfile, peerTarget,
} from './dial-plan.js';
export { type ImportDiagnostic, importIos, looksLikeIos } from './ios-import.js';
export { DialPlanSchema, type LoadedDialPlan, dialPlanData, loadDialPlan } from './schema.js';
export { type CauseMapping, NORMAL_CLEARING, causeForSipStatus, parseQ850Reason, q850Reason, sipStatusForCause } from './q850.js';
