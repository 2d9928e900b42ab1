/**
 * SDP leaf: RFC 4566 session descriptions and RFC 3264 offer/answer for audio.
 *
 * @module
 */
export {
  SdpError,
  parseSdp,
  serializeSdp,
  effectiveConnection,
  effectiveDirection,
  isMediaDirection,
  isRtpProto,
  type SdpErrorCode,
  type AddressType,
  type ConnectionData,
  type FormatParameters,
  type MediaDescription,
  type MediaDirection,
  type Origin,
  type ParseSdpOptions,
  type RtpMap,
  type SessionDescription,
} from './session-description.js';
export {
  CODECS,
  DEFAULT_CODEC_PREFERENCE,
  DYNAMIC_PAYLOAD_TYPE_MAX,
  DYNAMIC_PAYLOAD_TYPE_MIN,
  codecByName,
  codecByPayloadType,
  resolveCodec,
  type CodecInfo,
} from './codecs.js';
export {
  audioEndpoint,
  continuedOrigin,
  reoriginate,
  createAnswer,
  rejectingAnswer,
  createOffer,
  holdSdp,
  isOnHold,
  negotiate,
  resumeSdp,
  type AnswerResult,
  type CreateAnswerOptions,
  type CreateOfferOptions,
  type LocalMediaOptions,
  type NegotiatedCodec,
  type NegotiationResult,
  type RtpEndpoint,
} from './offer-answer.js';
export { InvalidStateError, checkTransition, type SdpKind, type SignalingOperation, type SignalingState } from './signaling-state.js';
