/**
 * Layer 1: SIP syntax and encoding (RFC 3261 §7, §19, §20, §25).
 * @packageDocumentation
 */
export { RequestError, SipError, SipParseError, StateError, StoreError, type SipErrorCode } from './errors.js';
export { parseMessage, type ParseOptions } from './parse/parse-message.js';
export { StreamFramer, type FrameEvent } from './parse/stream-framer.js';
export { DEFAULT_LIMITS, type ParserLimits } from './parse/limits.js';
export { SipMessage } from './message/sip-message.js';
export { SipRequest } from './message/sip-request.js';
export { SipResponse } from './message/sip-response.js';
export { KNOWN_METHODS, isDialogCreating, isKnownMethod, isRecordRouted, isTargetRefresh, type KnownMethod, type Method } from './message/methods.js';
export { REASON_PHRASES, reasonPhrase, statusClassCode, isValidStatus } from './message/status-codes.js';
export { canonicalHeaderName, COMPACT_FORMS } from './message/header-names.js';
export {
  buildRequest, buildResponseFrom, createResponse,
  type HeaderList, type RequestSpec, type ResponseSpec, type ResponseOptions,
} from './message/build.js';
export { Via, parseVia, parseViaList, MAGIC_COOKIE } from './headers/via.js';
export { NameAddr, parseNameAddr, parseNameAddrList } from './headers/name-addr.js';
export { type CSeq, parseCSeq } from './headers/cseq.js';
export { type Params, parseParamList, formatParams, quote, unquote, splitOutsideQuotes, isToken } from './headers/params.js';
export { SipUri, TelUri, AbsoluteUri, type Uri, parseUri, parseSipUri, percentDecode, isIpv6Address } from './uri/sip-uri.js';
export { EditList, firstValueEnd } from './edit/edit-list.js';
export { H as HEADER_KEYS, headerKey } from './message/header-names.js';
