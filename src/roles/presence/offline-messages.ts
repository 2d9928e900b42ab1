/**
 * Instant messages for users who are not registered (RFC 3428 §7: a proxy may store a MESSAGE
 * and deliver it later): the proxy answers `202 Accepted` and hands the request here; it is kept
 * in the store — its From, To, Content-Type and body byte for byte — at most `limit` per user and
 * `expires` seconds each, and sent to the user's contact as soon as a binding appears, in the
 * order received, each waiting for the previous one's answer. A message that cannot be delivered
 * goes back to the head of the queue for the next registration.
 *
 * @remarks Role (`roles/presence`).
 */
import { nextHop } from '../../dialog/index.js';
import { type SipRequest, buildRequest, percentDecode } from '../../sip/index.js';
import type { Binding, EventStore, LocationStore, StoredMessage } from '../../store/index.js';
import type { SipElement } from '../../tu/index.js';
import { bindingFlow } from '../registrar/index.js';
import { newCallId, newTag } from '../../util/ids.js';

export interface OfflineMessageSettings {
  /** Messages kept per user. */
  limit: number;
  /** Seconds a message is kept. */
  expires: number;
}

interface MessageData {
  from: string;
  to: string;
  contentType?: string;
  /** base64 of the body (byte-exact). */
  body: string;
  /** When it came, for the Date header of the delivery (RFC 3261 §20.17). */
  date: string;
}

export class OfflineMessages {
  private readonly delivering = new Set<string>();

  constructor(
    private readonly element: SipElement,
    private readonly store: EventStore,
    private readonly location: LocationStore,
    private readonly domains: readonly string[],
    private readonly userExists: (user: string, domain: string) => Promise<boolean>,
    private readonly settings: OfflineMessageSettings,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    location.onChange((ev) => {
      if (ev.kind === 'added' || ev.kind === 'refreshed') void this.deliver(ev.aor);
    });
  }

  /** The proxy's `offline-message` step: keep a MESSAGE for a local user without a binding. */
  async keep(req: SipRequest): Promise<'stored' | 'full' | 'no-user'> {
    const u = req.uri;
    if (u.kind !== 'sip' || u.user === undefined) return 'no-user';
    const domain = u.hostname.toLowerCase();
    const user = percentDecode(u.user);
    if (!this.domains.includes(domain) || !(await this.userExists(user, domain))) return 'no-user';
    const aor = `sip:${user}@${domain}`;
    const data: MessageData = { from: req.header('From') ?? '', to: req.header('To') ?? '', contentType: req.header('Content-Type'), body: req.body.toString('base64'), date: new Date(this.now()).toUTCString() };
    const ok = await this.store.pushMessage({ aor, received: this.now(), expiresAt: this.now() + this.settings.expires * 1000, data: JSON.stringify(data) }, this.settings.limit);
    this.log(ok ? `messages: MESSAGE for ${aor} (not registered) stored for delivery` : `messages: MESSAGE for ${aor} refused: ${this.settings.limit} already waiting`);
    return ok ? 'stored' : 'full';
  }

  /** Sends the waiting messages of `aor` to its binding (the highest q), oldest first. */
  async deliver(aor: string): Promise<void> {
    if (this.delivering.has(aor)) return;
    this.delivering.add(aor);
    try {
      const messages = await this.store.takeMessages(aor);
      if (messages.length === 0) return;
      const [binding] = await this.location.lookup(aor);
      for (let i = 0; i < messages.length; i++) {
        const status = binding ? await this.send(binding, messages[i]!) : undefined;
        if (status === undefined || status >= 300) {
          // Not delivered: this one and the rest wait for the next registration, in order.
          const rest = messages.slice(i);
          for (const m of rest) await this.store.pushMessage(m, Number.MAX_SAFE_INTEGER);
          this.log(`messages: delivery to ${aor} failed (${status ?? 'no binding'}); ${rest.length} kept`);
          return;
        }
      }
      this.log(`messages: ${messages.length} stored message${messages.length === 1 ? '' : 's'} delivered to ${aor}`);
    } finally {
      this.delivering.delete(aor);
    }
  }

  private async send(b: Binding, m: StoredMessage): Promise<number | undefined> {
    const data = JSON.parse(m.data) as MessageData;
    const routes = b.path ?? [];
    let targets;
    try {
      // A phone behind a NAT (or an outbound flow) is reached over its flow, not at its Contact.
      const flow = bindingFlow(b);
      targets = flow ? [flow] : await this.element.uac.resolve(nextHop(routes, b.contact));
    } catch {
      return undefined;
    }
    // A new request (RFC 3428 §7: the stored one's transaction is over): its own Call-ID and
    // tag, the original From and To (parameters kept, the old tag replaced), the body as it came.
    const from = data.from.replace(/;\s*tag=[^;]*/i, '');
    const cseq = 1;
    const callId = newCallId(this.element.transport.sentBy(targets[0]?.kind ?? 'udp').host.replace(/[[\]]/g, ''));
    const tag = newTag();
    const body = Buffer.from(data.body, 'base64');
    try {
      const r = await this.element.uac.send(targets, (t) => buildRequest({
        method: 'MESSAGE',
        uri: b.contact,
        headers: [
          ['Via', this.element.uac.via(t.kind)],
          ['Max-Forwards', String(this.element.uac.maxForwards)],
          ['From', `${from};tag=${tag}`],
          ['To', data.to.replace(/;\s*tag=[^;]*/i, '')],
          ['Call-ID', callId],
          ['CSeq', `${cseq} MESSAGE`],
          ['Date', data.date],
          ...routes.map((p) => ['Route', p] as [string, string]),
          ...(data.contentType ? [['Content-Type', data.contentType] as [string, string]] : []),
        ],
        body,
      }));
      return r.response.status;
    } catch {
      return undefined;
    }
  }
}
