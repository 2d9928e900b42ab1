/**
 * Is the sender of a request behind a NAT? The tests of Kamailio's `nat_uac_test` (flags 1, 2
 * and 16), on what the request says against where it came from:
 *
 * - its Contact is a private address (RFC 1918, RFC 6598 shared space, link-local) other than the
 *   source — the phone wrote its LAN address;
 * - over UDP, the top Via's sent-by host is an address other than the source (RFC 3261 §18.2.1
 *   would add `received`);
 * - over UDP, the sent-by port is not the source port (RFC 3581: the NAT rewrote the port).
 *
 * @remarks Transaction-user layer (`tu/`).
 */
import net from 'node:net';
import type { SipRequest } from '../sip/index.js';

/** RFC 1918, RFC 6598 (carrier-grade NAT), RFC 3927 link-local, RFC 4193 unique local, fe80::/10. */
export function isPrivateAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (net.isIPv4(h)) {
    const [a, b] = h.split('.').map(Number) as [number, number];
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254);
  }
  if (net.isIPv6(h)) return /^f[cd]/.test(h) || /^fe[89ab]/.test(h);
  return false;
}

/** Why `req`'s sender looks NATed (the first test that says so), or undefined. */
export function natReason(req: SipRequest): string | undefined {
  const src = req.source;
  if (!src) return undefined;
  try {
    if (src.transport === 'udp') {
      const via = req.topVia;
      if (net.isIP(via.hostname) !== 0 && via.hostname !== src.address) return `Via ${via.sentBy} is not the source ${src.address}:${src.port}`;
      if ((via.port ?? 5060) !== src.port) return `Via port ${via.port ?? 5060} is not the source port ${src.port}`;
    }
    const c = req.contact[0]?.uri;
    if (c && c.kind === 'sip' && isPrivateAddress(c.hostname) && c.hostname !== src.address) return `Contact ${c.hostname} is a private address, the request came from ${src.address}`;
  } catch {
    /* a header that does not parse: not our question here */
  }
  return undefined;
}
