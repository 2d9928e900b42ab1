/**
 * Prometheus metrics (`GET /metrics`), with prom-client, on a registry of the server's own (two
 * servers in one process do not mix): the messages by method and status, retransmissions,
 * transactions, dialogs, registrations, calls by state, authentication failures, parse errors,
 * connections, and Node's own (event-loop delay p50/p99, GC pauses, memory).
 *
 * Counters of messages are bumped from the trace (one call per message); the gauges are read
 * when Prometheus scrapes, from the callbacks the server gives, so they cost nothing between
 * scrapes.
 *
 * @remarks Leaf (`observability/`).
 */
import diagnostics from 'node:diagnostics_channel';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MessageRecord } from './message-record.js';

/** What the gauges read at scrape time. */
export interface MetricsSources {
  transactions(): { clients: number; servers: number };
  registrations(): Promise<number> | number;
  calls(): Record<'trying' | 'early' | 'confirmed', number>;
  /** Event subscriptions the server serves (dialog usages besides INVITE). */
  subscriptions(): number;
  connections(): number;
  /** Messages the transport refused or dropped as unparseable, since start. */
  parseErrors(): number;
  /** The media relay (rtpengine), when one is configured: ng commands since start, and each instance. */
  mediaRelay?(): { counts: { offers: number; answers: number; deletes: number; failures: number }; instances: Array<{ target: string; up: boolean }> };
}

const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);

/** `sip:transaction:retransmit` (transaction layer): one message per retransmission sent. */
const RETRANSMIT_CHANNEL = 'sip:transaction:retransmit';

export class SwitchboardMetrics {
  readonly registry = new Registry();
  private readonly requestsIn: Counter<'method'>;
  private readonly requestsOut: Counter<'method'>;
  private readonly responsesOut: Counter<'class' | 'code'>;
  private readonly responsesIn: Counter<'class' | 'code'>;
  private readonly authFailures: Counter<'realm'>;
  private readonly retransmissions: Counter;
  private readonly onRetransmit = () => this.retransmissions.inc();

  constructor(sources: MetricsSources, labels: Record<string, string> = {}) {
    const registers = [this.registry];
    if (Object.keys(labels).length > 0) this.registry.setDefaultLabels(labels);
    this.requestsIn = new Counter({ name: 'sip_requests_received_total', help: 'SIP requests received, by method (retransmissions included).', labelNames: ['method'], registers });
    this.requestsOut = new Counter({ name: 'sip_requests_sent_total', help: 'SIP requests sent, by method (retransmissions included).', labelNames: ['method'], registers });
    this.responsesOut = new Counter({ name: 'sip_responses_sent_total', help: 'SIP responses sent, by class (1xx…6xx) and code.', labelNames: ['class', 'code'], registers });
    this.responsesIn = new Counter({ name: 'sip_responses_received_total', help: 'SIP responses received, by class and code.', labelNames: ['class', 'code'], registers });
    this.authFailures = new Counter({ name: 'sip_auth_failures_total', help: 'Digest authentication failures (a wrong response, an unknown user).', labelNames: ['realm'], registers });
    this.retransmissions = new Counter({ name: 'sip_retransmissions_total', help: 'Requests and responses the transaction layer retransmitted (RFC 3261 §17 timers A, E, G).', registers });
    let parseSeen = 0;
    new Counter({
      name: 'sip_parse_errors_total', help: 'Messages refused (400) or dropped as unparseable.', registers,
      collect() {
        const n = sources.parseErrors();
        if (n > parseSeen) this.inc(n - parseSeen);
        parseSeen = n;
      },
    });
    new Gauge({
      name: 'sip_transactions', help: 'Transactions alive, by side.', labelNames: ['side'], registers,
      collect() {
        const t = sources.transactions();
        this.set({ side: 'client' }, t.clients);
        this.set({ side: 'server' }, t.servers);
      },
    });
    new Gauge({
      name: 'sip_dialogs', help: 'Dialogs alive, by usage (INVITE sessions confirmed, event subscriptions).', labelNames: ['usage'], registers,
      collect() {
        this.set({ usage: 'invite' }, sources.calls().confirmed);
        this.set({ usage: 'subscription' }, sources.subscriptions());
      },
    });
    new Gauge({
      name: 'sip_calls', help: 'Calls under way, by state.', labelNames: ['state'], registers,
      collect() {
        for (const [state, n] of Object.entries(sources.calls())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'sip_registrations', help: 'Registered contacts (unexpired bindings).', registers,
      async collect() {
        this.set(await sources.registrations());
      },
    });
    new Gauge({
      name: 'sip_transport_connections', help: 'Open connections (TCP, TLS, WebSocket).', registers,
      collect() {
        this.set(sources.connections());
      },
    });
    const relay = sources.mediaRelay;
    if (relay) {
      const seen: Record<string, number> = { offers: 0, answers: 0, deletes: 0, failures: 0 };
      new Counter({
        name: 'media_relay_commands_total', help: 'rtpengine ng commands that succeeded (offer, answer, delete), and those that failed (failed).', labelNames: ['command'], registers,
        collect() {
          const c = relay().counts;
          for (const [key, label] of [['offers', 'offer'], ['answers', 'answer'], ['deletes', 'delete'], ['failures', 'failed']] as const) {
            if (c[key] > seen[key]!) this.inc({ command: label }, c[key] - seen[key]!);
            seen[key] = c[key];
          }
        },
      });
      new Gauge({
        name: 'media_relay_instance_up', help: 'Whether each rtpengine answers (1) or is skipped for new calls (0).', labelNames: ['target'], registers,
        collect() {
          for (const i of relay().instances) this.set({ target: i.target }, i.up ? 1 : 0);
        },
      });
    }
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    diagnostics.subscribe(RETRANSMIT_CHANNEL, this.onRetransmit);
  }

  /** One message crossed the transport. */
  message(r: MessageRecord): void {
    // Unparsed messages count as parse errors only; methods beyond RFC 3261's and its extensions'
    // share one label value (the label set stays bounded whatever peers send).
    if (r.method === '' && r.status === undefined) return;
    if (r.status === undefined) (r.direction === 'received' ? this.requestsIn : this.requestsOut).inc({ method: KNOWN_METHODS.has(r.method) ? r.method : 'other' });
    else (r.direction === 'sent' ? this.responsesOut : this.responsesIn).inc({ class: `${Math.floor(r.status / 100)}xx`, code: String(r.status) });
  }

  authFailed(realm: string): void {
    this.authFailures.inc({ realm });
  }

  /** The text Prometheus scrapes. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    diagnostics.unsubscribe(RETRANSMIT_CHANNEL, this.onRetransmit);
    this.registry.clear();
  }
}
