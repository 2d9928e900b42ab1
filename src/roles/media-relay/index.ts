export { MediaRelay, type MediaRelaySettings, type RelaySide, type SdpSource, connectionAddress } from './media-relay.js';
export { ProxyRtpRelay, type ProxyRtpRelayOptions, sdpOf } from './proxy-rtp-relay.js';
