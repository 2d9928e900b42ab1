/**
 * Content leaf: the bodies of event packages — PIDF presence documents (RFC 3863, 4479, 4480),
 * dialog-info (RFC 4235), watcher information (RFC 3858) — built and read as XML.
 *
 * @packageDocumentation
 */
export { ContentError } from './content-error.js';
export { DM_NS, PIDF_CONTENT_TYPE, PIDF_NS, RPID_ACTIVITIES, RPID_NS, type PresenceDocument, type PresenceTuple, buildPidf, parsePidf } from './pidf.js';
export { WATCHERINFO_CONTENT_TYPE, WATCHERINFO_NS, type WatcherEntry, buildWatcherinfo, parseWatcherinfo } from './watcherinfo.js';
export { DIALOG_INFO_CONTENT_TYPE, DIALOG_INFO_NS, type DialogInfoEntry, type DialogInfoState, buildDialogInfo, parseDialogInfo } from './dialog-info.js';
export { MESSAGE_SUMMARY_CONTENT_TYPE, type MessageSummary, buildMessageSummary, parseMessageSummary } from './message-summary.js';
