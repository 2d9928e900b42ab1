/**
 * Test fixtures for transaction-layer tests: message factories, a recording "network" and
 * recording TUs, all on a {@link VirtualClock}.
 *
 * @remarks Layer 3 (`transaction/`), test support only (no production code imports it);
 * usable by scenario tests under `test/` as well.
 */
import { type SipRequest, type SipResponse, createResponse, parseMessage } from '../sip/index.js';
import { VirtualClock } from '../util/clock.js';
import { type TimerConfig, DEFAULT_TIMER_CONFIG } from './timer-table.js';
import type { TransactionPorts } from './transaction-ports.js';
import type {
  ClientTransaction,
  ClientTransactionUser,
  ServerTransaction,
  ServerTransactionUser,
} from './transaction-user.js';

export interface RequestFixture {
  method?: string;
  uri?: string;
  branch?: string;
  transport?: string;
  sentBy?: string;
  /** Extra Via values below the top one. */
  lowerVias?: string[];
  fromTag?: string;
  toTag?: string;
  callId?: string;
  cseq?: number;
  /** CSeq method; defaults to the method. */
  cseqMethod?: string;
  routes?: string[];
}

/** Builds a request by parsing text, as it would arrive off the wire. */
export function request(f: RequestFixture = {}): SipRequest {
  const method = f.method ?? 'INVITE';
  const branch = f.branch ?? 'z9hG4bK776asdhds';
  const lines = [
    `${method} ${f.uri ?? 'sip:bob@example.com'} SIP/2.0`,
    `Via: SIP/2.0/${f.transport ?? 'UDP'} ${f.sentBy ?? 'pc33.atlanta.com'}${branch === '' ? '' : `;branch=${branch}`}`,
    ...(f.lowerVias ?? []).map((v) => `Via: ${v}`),
    ...(f.routes ?? []).map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    `To: Bob <sip:bob@example.com>${f.toTag ? `;tag=${f.toTag}` : ''}`,
    `From: Alice <sip:alice@atlanta.com>;tag=${f.fromTag ?? '1928301774'}`,
    `Call-ID: ${f.callId ?? 'a84b4c76e66710@pc33.atlanta.com'}`,
    `CSeq: ${f.cseq ?? 314159} ${f.cseqMethod ?? method}`,
    'Contact: <sip:alice@pc33.atlanta.com>',
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'))) as SipRequest;
}

/** A response to `req` as the far end would send it (re-parsed, so it looks received). */
export function response(req: SipRequest, status: number, toTag = status > 100 ? 'a6c85cf' : undefined): SipResponse {
  const res = createResponse(req, status, toTag === undefined ? {} : { toTag });
  return parseMessage(res.toBuffer()) as SipResponse;
}

/** Records what a transaction sends; can be told to throw on the next sends. */
export class RecordingNetwork {
  readonly sent: Array<SipRequest | SipResponse> = [];
  /** Number of upcoming sends that throw. */
  failures = 0;

  send(msg: SipRequest | SipResponse): void {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('ECONNREFUSED (test)');
    }
    this.sent.push(msg);
  }

  /** Start lines of everything sent, e.g. `INVITE sip:bob@example.com` or `408 Request Timeout`. */
  lines(): string[] {
    return this.sent.map((m) => (m.kind === 'request' ? `${m.method} ${m.uriText}` : `${m.status} ${m.reason}`));
  }

  count(pred: (m: SipRequest | SipResponse) => boolean): number {
    return this.sent.filter(pred).length;
  }
}

export interface Harness {
  clock: VirtualClock;
  net: RecordingNetwork;
  ports: TransactionPorts;
  terminated: string[];
}

export function harness(reliable = false, config: TimerConfig = DEFAULT_TIMER_CONFIG): Harness {
  const clock = new VirtualClock();
  const net = new RecordingNetwork();
  const terminated: string[] = [];
  const ports: TransactionPorts = {
    send: (m) => net.send(m),
    clock,
    config,
    reliable,
    onTerminated: (tx) => terminated.push(tx.id),
  };
  return { clock, net, ports, terminated };
}

/** A client TU that writes down what it is told. */
export class RecordingClientUser implements ClientTransactionUser {
  readonly responses: SipResponse[] = [];
  readonly events: string[] = [];

  onResponse(response: SipResponse, _tx: ClientTransaction): void {
    this.responses.push(response);
    this.events.push(`response ${response.status}`);
  }
  onTimeout(_tx: ClientTransaction): void {
    this.events.push('timeout');
  }
  onTransportError(_error: unknown, _tx: ClientTransaction): void {
    this.events.push('transport-error');
  }
  onTerminated(_tx: ClientTransaction): void {
    this.events.push('terminated');
  }
  statuses(): number[] {
    return this.responses.map((r) => r.status);
  }
}

/** A server TU that writes down what it is told. */
export class RecordingServerUser implements ServerTransactionUser {
  readonly acks: SipRequest[] = [];
  readonly events: string[] = [];

  onAck(ack: SipRequest): void {
    this.acks.push(ack);
    this.events.push('ack');
  }
  onTimeout(_tx: ServerTransaction): void {
    this.events.push('timeout');
  }
  onTransportError(_error: unknown, _tx: ServerTransaction): void {
    this.events.push('transport-error');
  }
  onTerminated(_tx: ServerTransaction): void {
    this.events.push('terminated');
  }
}
