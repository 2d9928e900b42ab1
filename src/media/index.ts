/**
 * Media: DTMF relay formats (Cisco NOTIFY, INFO dtmf-relay, RFC 4733 event layout).
 * @packageDocumentation
 */
export {
  DEFAULT_NOTIFY_DURATION_MS, DTMF_METHODS, type DtmfMethod, agreeDtmf, dtmfRelayBody, isDtmfDigit, notifyCallInfo, parseDtmfRelay, parseNotifyCallInfo,
  parseTelephoneEvent, telephoneEventBody,
} from './dtmf.js';
