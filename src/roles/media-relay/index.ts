export { MediaRelay, type MediaRelaySettings, type RelaySide, type SdpSource, connectionAddress, sdpOf } from './media-relay.js';
export { ProxyRtpRelay, type ProxyRtpRelayOptions } from './proxy-rtp-relay.js';
export { type CallSide, CallMedia, relayReason } from './call-media.js';
