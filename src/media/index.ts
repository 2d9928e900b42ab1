/**
 * Media: DTMF relay formats (Cisco NOTIFY, INFO dtmf-relay, RFC 4733 event layout).
 * @packageDocumentation
 */
export {
  DEFAULT_NOTIFY_DURATION_MS, DTMF_METHODS, type DtmfMethod, agreeDtmf, dtmfRelayBody, isDtmfDigit, notifyCallInfo, parseDtmfRelay, parseNotifyCallInfo,
  parseTelephoneEvent, telephoneEventBody,
} from './dtmf.js';
export {
  type G711, PAYLOAD_TYPE, type RtpPacket, RtpSession, type RtpSessionOptions, type RtpStats, type SampleSource, decodeG711, decodeRtp, encodeG711, encodeRtp, samples, silence, tone,
} from './rtp.js';
export { WavError, readWav, writeWav } from './wav.js';
export {
  MediaRelayError, type MediaRelayErrorCode, RtpengineClient, type RtpengineClientOptions, type RtpengineStats, type RtpengineTarget, parseRtpengineTarget,
  type OfferOptions, type AnswerOptions, type DeleteOptions, type SdpOptions, type SdpReply, type ListReply, type PingResult, type NgReply,
} from './rtpengine.js';
