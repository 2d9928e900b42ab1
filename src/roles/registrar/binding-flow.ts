/**
 * Where a binding is reached: its Contact, or the flow its REGISTER came on.
 *
 * @remarks Role (`roles/registrar`).
 */
import type { Binding } from '../../store/index.js';
import type { Target } from '../../tu/index.js';

/**
 * The flow a request to a binding must take instead of its Contact's address, when there is one:
 *
 * - a WebSocket client's Contact (RFC 7118 §5: "sip:x@y.invalid;transport=ws") cannot be
 *   resolved: the connection the REGISTER came on (`received`, e.g. "ws:127.0.0.1:40312");
 * - a phone behind a NAT (`received` marked `;nat` by the registrar, Kamailio's
 *   fix_nated_register): the public address and port the REGISTER came from, over UDP, or its
 *   TCP/TLS connection — the Request-URI stays the registered Contact;
 * - an RFC 5626 outbound registration (`+sip.instance` and `reg-id`): the flow it was made on
 *   (§5.3).
 *
 * Never with a Path (the edge proxy owns the flow then, RFC 3327).
 */
export function bindingFlow(b: Pick<Binding, 'contact' | 'received' | 'path' | 'instanceId' | 'regId'>): Target | undefined {
  if (!b.received || (b.path && b.path.length > 0)) return undefined;
  const m = /^(udp|tcp|tls|ws|wss):\[?([^\]]+?)\]?:(\d{1,5})(;nat)?$/.exec(b.received);
  if (!m) return undefined;
  const kind = m[1] as 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';
  const flow = { kind, address: m[2]!, port: Number(m[3]), flow: true };
  if (kind === 'ws' || kind === 'wss') return /;transport=wss?\b/i.test(b.contact) || /@[^;>]*\.invalid\b/i.test(b.contact) ? flow : undefined;
  if (m[4] || (b.instanceId !== undefined && b.regId !== undefined)) return flow;
  return undefined;
}
