/**
 * The trace bus of one server: every message the transport sends or receives becomes one
 * {@link MessageRecord} (time, direction, transport, addresses, start line, Call-ID, raw bytes)
 * handed to whoever listens — the recent-message buffer and the call log behind the admin API
 * and the console, Prometheus counters, the HEP exporter, `--trace`, and an embedding program's
 * `server.on('message', …)`. With nobody listening the transport is given no trace callback at
 * all, so the hot path pays nothing.
 *
 * @remarks App layer (`app/`).
 */
import { EventEmitter } from 'node:events';
import { type CallLog, type CallObservation, type MessageBuffer, type MessageRecord, type SwitchboardMetrics } from '../observability/index.js';
import { parseMessage } from '../sip/index.js';
import type { TraceEvent, TransportLayer } from '../transport/index.js';

export interface ObserverParts {
  buffer?: MessageBuffer;
  calls?: CallLog;
  metrics?: SwitchboardMetrics;
  /** The HEP exporter (or anything else that takes every record). */
  export?: (r: MessageRecord) => void;
  /** `--trace`: the transport's own event, printed as it is. */
  trace?: (ev: TraceEvent) => void;
}

export class MessageObserver extends EventEmitter {
  private seq = 0;
  private readonly handler = (ev: TraceEvent) => this.observe(ev);

  constructor(private readonly transport: TransportLayer, private readonly parts: ObserverParts) {
    super();
    this.on('newListener', (name) => name === 'message' && queueMicrotask(() => this.attach()));
    this.on('removeListener', (name) => name === 'message' && this.attach());
    this.attach();
  }

  /** Gives the transport a trace callback only while somebody needs the records. */
  private attach(): void {
    const p = this.parts;
    const wanted = p.buffer !== undefined || p.calls !== undefined || p.metrics !== undefined || p.export !== undefined || this.listenerCount('message') > 0;
    this.transport.onTrace = wanted ? this.handler : p.trace;
  }

  private observe(ev: TraceEvent): void {
    this.parts.trace?.(ev);
    const r = toRecord(ev, ++this.seq);
    const p = this.parts;
    p.buffer?.add(r.record);
    p.metrics?.message(r.record);
    p.calls?.observe(r);
    p.export?.(r.record);
    if (this.listenerCount('message') > 0) this.emit('message', r.record);
  }
}

/** A trace event as a record, with what the call log needs (From, To, reason phrase). */
function toRecord(ev: TraceEvent, seq: number): CallObservation {
  const record: MessageRecord = {
    seq, time: performance.timeOrigin + performance.now(), direction: ev.direction === 'Sent' ? 'sent' : 'received', transport: ev.kind,
    local: ev.local, remote: ev.remote, startLine: '', method: '', callId: '', cseq: '', bytes: ev.bytes,
  };
  const eol = ev.bytes.indexOf('\r\n');
  record.startLine = ev.bytes.toString('latin1', 0, eol < 0 ? Math.min(ev.bytes.length, 200) : Math.min(eol, 200));
  try {
    // A received message was parsed by the transport already: only sent bytes are parsed here.
    const m = ev.message ?? parseMessage(ev.bytes);
    // Every field read before any is kept: a message whose CSeq (say) does not parse is not half
    // a call's (no Call-ID without the rest).
    const callId = m.callId;
    const cseq = m.cseq;
    const parties = () => ({ from: m.from.uriText, to: m.to.uriText });
    if (m.kind === 'response') {
      Object.assign(record, { callId, cseq: `${cseq.seq} ${cseq.method}`, method: cseq.method, status: m.status });
      return { record, reasonPhrase: m.reason, parties };
    }
    // Only an INVITE can start a call: the To tag (a header parse) is read for those alone.
    const inDialog = m.method === 'INVITE' ? m.to.tag !== undefined : undefined;
    Object.assign(record, { callId, cseq: `${cseq.seq} ${cseq.method}`, method: m.method });
    return { record, parties, inDialog };
  } catch {
    // A message too broken to parse is still shown with its start line, but names no call and
    // no method (a sender must not choose the metrics' label values); a response's status code
    // (100–699) is safe to count — our own 400 to a malformed CSeq is one.
    const st = /^SIP\/2\.0 ([1-6]\d\d)(?: |$)/.exec(record.startLine);
    if (st) record.status = Number(st[1]);
    return { record };
  }
}
