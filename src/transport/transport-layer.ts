/**
 * The transport layer (RFC 3261 §18): listeners, connection reuse, inbound sanity checks,
 * Via `received`/`rport` (RFC 3581), response routing (§18.2.2), the UDP→TCP switch for large
 * requests (§18.1.1), and stateless answers to malformed requests.
 *
 * What happens to bad input:
 * - Unframeable bytes on a stream: the connection is closed (no way to resynchronise).
 * - A request that parses far enough to have a Via: answered statelessly with the parse
 *   error's status (400, 505, 513) and a reason phrase naming the problem.
 * - A request without a Via, and any malformed response: dropped and counted.
 *
 * @remarks Layer 2 (`transport/`). Imports `sip/` only. The transaction layer above gets
 * `onRequest` / `onResponse` and calls `sendRequest` / `sendResponse`.
 */
import diagnostics from 'node:diagnostics_channel';
import { isStun, stunBindingResponse } from './stun.js';
import {
  SipParseError, type SipRequest, type SipResponse, parseMessage, createResponse, buildRequest,
} from '../sip/index.js';
import { UdpTransport } from './udp-transport.js';
import { StreamListener, connectFlow, type StreamCallbacks, type StreamOptions } from './stream-transport.js';
import {
  type Destination, type Flow, type ListenSpec, type TransportKind, TransportError, hostPort, isReliable, viaToken,
} from './transport.js';
import { salvageRequest } from './salvage.js';
import type { Network } from './network.js';
import { hasReadableSentBy, noteReceived, responseTarget, statelessToTag } from './response-routing.js';
import { type FaultReport, describeFault, faultChannel, limitLines, sniffCallId } from './fault.js';
import { WorkerRelay } from './worker-relay.js';

const recvChannel = diagnostics.channel('sip:transport:recv');
const sendChannel = diagnostics.channel('sip:transport:send');
const badChannel = diagnostics.channel('sip:transport:bad-message');

export interface TransportLayerOptions {
  listen: ListenSpec[];
  /** Larger messages are answered 513 (RFC 3261 §18.1.1, §21.5.14). Default 65535. */
  maxMessageSize?: number;
  /** Requests larger than this go over TCP instead of UDP (RFC 3261 §18.1.1). Default 1300. */
  udpMtu?: number;
  /** Turn the §18.1.1 switch off (a gateway's `transport switch udp tcp` disabled). */
  udpToTcpSwitch?: boolean;
  /** Idle connections are closed after this long. Default 300 s. */
  idleTimeoutMs?: number;
  /** Certificate for tls/wss listeners; `ca` / `rejectUnauthorized` for outbound TLS. */
  tls?: StreamOptions['tls'];
  /** Host written into Via sent-by and Contact when a listener is bound to a wildcard. */
  advertisedHost?: string;
  /**
   * This process is worker `index` of `count` sharing the UDP listeners (`workers: N`): every
   * datagram goes to the worker its Call-ID hashes to (see `worker-relay.ts`).
   */
  worker?: { index: number; count: number };
  /** Where datagram sockets come from: Node's (default) or a virtual network for tests. */
  network?: Network;
}

export type TraceDirection = 'Sent' | 'Received';
export interface TraceEvent {
  direction: TraceDirection;
  kind: TransportKind;
  local: string;
  remote: string;
  bytes: Buffer;
  /** A received message as the transport parsed it (undefined when it did not parse, and for sent bytes). */
  message?: SipRequest | SipResponse;
}

/** A bound listener as seen from outside. */
export interface BoundListener {
  kind: TransportKind;
  address: string;
  port: number;
}

export interface TransportStats {
  received: number;
  sent: number;
  /** Malformed messages dropped (no way to answer, or responses). */
  dropped: number;
  /** Malformed requests answered statelessly. */
  rejected: number;
  /** Messages that made a layer or role throw (see {@link FaultReport}); each is also reported. */
  faults: number;
}

/** Extra facts the transport attaches to a received request. */
export interface ReceivedInfo {
  flow?: Flow;
  listener: BoundListener;
}

const ignoreSendError = (): void => undefined;

const defaultFaultWriter = limitLines((line) => process.stderr.write(`switchboard: ${line}\n`));
const defaultFaultLog = (f: FaultReport): void => defaultFaultWriter(describeFault(f));

/** `SipMessage.source` as this layer fills it: plus the listener and flow it came on. */
interface ReceivedSource {
  transport: string;
  address: string;
  port: number;
  connectionId?: number;
  info: ReceivedInfo;
}

export class TransportLayer {
  /** Every message sent and received, for `--trace` (like a gateway's `debug ccsip messages`). */
  onTrace: ((ev: TraceEvent) => void) | undefined;
  /** Socket-level errors after start-up. */
  onError: (err: Error) => void = () => {};
  onRequest: (req: SipRequest, info: ReceivedInfo) => void = () => {};
  /**
   * Every fault (see {@link reportFault}). The default writes one line per fault to stderr, at
   * most 20 per 10 s; a server sets its own log here.
   */
  onFault: (f: FaultReport) => void = defaultFaultLog;
  /**
   * A message that could not be parsed: answered with a 400 naming the problem, or dropped when
   * there is nowhere to answer (the source, and why, for the server's log).
   */
  onBadMessage: ((ev: { remote: string | undefined; error: unknown; answered: boolean }) => void) | undefined;
  onResponse: (res: SipResponse, info: ReceivedInfo) => void = () => {};

  readonly stats: TransportStats = { received: 0, sent: 0, dropped: 0, rejected: 0, faults: 0 };
  private readonly udp: UdpTransport[] = [];
  private readonly streams: StreamListener[] = [];
  private readonly flows = new Map<number, Flow>();
  private readonly flowsByRemote = new Map<string, Flow>();
  private readonly connecting = new Map<string, Promise<Flow>>();
  private readonly streamOpts: StreamOptions;
  private readonly maxMessageSize: number;
  private readonly udpMtu: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly cb: StreamCallbacks;
  private relay: WorkerRelay | undefined;
  /**
   * With workers: per UDP listener (same index), a socket of this worker's own on the listener's
   * address. Requests this worker sends leave from it and name it in their Via, so their
   * responses (RFC 3261 §18.2.2, RFC 3581) come straight back to the worker that holds the client
   * transaction instead of through the shared listener.
   */
  private readonly replyUdp: UdpTransport[] = [];

  constructor(private readonly options: TransportLayerOptions) {
    this.maxMessageSize = options.maxMessageSize ?? 65535;
    this.udpMtu = options.udpMtu ?? 1300;
    this.streamOpts = {
      maxMessageSize: this.maxMessageSize,
      idleTimeoutMs: options.idleTimeoutMs ?? 300_000,
      tls: options.tls,
    };
    this.cb = {
      onMessage: (bytes, flow) => this.receive(bytes, flow.kind, flow.remoteAddress, flow.remotePort, this.listenerFor(flow), flow),
      onFramingError: (err, flow) => {
        this.stats.dropped++;
        if (badChannel.hasSubscribers) badChannel.publish({ error: err, remote: hostPort(flow.remoteAddress, flow.remotePort) });
      },
      onFlowClosed: (flow) => this.forgetFlow(flow),
      onError: (err) => this.onError(err),
    };
  }

  /** Opens every listener. Rejects with a readable error when an address cannot be bound. */
  async start(): Promise<void> {
    const w = this.options.worker;
    if (w && w.count > 1) {
      const relay = new WorkerRelay(w.index, w.count, (d) => {
        const u = this.udp[d.listenerIndex];
        if (u) this.receive(d.bytes, 'udp', d.address, d.port, { kind: 'udp', address: u.localAddress, port: u.localPort });
      });
      await relay.start();
      this.relay = relay;
    }
    for (const spec of this.options.listen) {
      try {
        if (spec.kind === 'udp') {
          let bound: BoundListener | undefined; // known once the socket is bound
          const index = this.udp.length;
          const u = new UdpTransport(
            spec,
            (b, a, p, l) => {
              this.receive(b, 'udp', unmapped(a), p, (bound ??= { kind: 'udp', address: l.localAddress, port: l.localPort }), undefined, index);
            },
            (e) => this.onError(e),
            false,
            this.options.network,
          );
          await u.start();
          this.udp.push(u);
          if (this.relay) {
            // What arrives here (the responses to this worker's requests) is traced as received on
            // this socket; a response is matched by its branch, whatever socket it came on.
            let own: BoundListener | undefined;
            const r = new UdpTransport(
              { kind: 'udp', host: spec.host, port: 0 },
              (b, a, p, l) => this.receive(b, 'udp', unmapped(a), p, (own ??= { kind: 'udp', address: l.localAddress, port: l.localPort })),
              (e) => this.onError(e),
              true,
              this.options.network,
            );
            await r.start();
            this.replyUdp.push(r);
          }
        } else {
          if (this.options.network?.datagramsOnly) throw new TransportError('SIP_ERR_LISTEN', `${spec.kind} needs a real network: this one carries datagrams only`);
          const l = new StreamListener(spec, this.streamOpts, this.cb, (flow) => this.addFlow(flow));
          await l.start();
          this.streams.push(l);
        }
      } catch (err) {
        await this.stop();
        const e = err as NodeJS.ErrnoException;
        throw new TransportError('SIP_ERR_LISTEN', `cannot listen on ${spec.kind}:${hostPort(spec.host, spec.port)}: ${e.code ?? e.message}`);
      }
    }
    const idle = this.streamOpts.idleTimeoutMs;
    this.idleTimer = setInterval(() => {
      const now = Date.now();
      for (const f of this.flows.values()) {
        const last = (f as unknown as { lastActivity: number }).lastActivity;
        if (now - last > idle) f.close();
      }
    }, Math.min(idle, 10_000));
    this.idleTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const f of [...this.flows.values()]) f.close();
    const relay = this.relay;
    this.relay = undefined;
    await Promise.all([...this.udp.map((u) => u.stop()), ...this.replyUdp.map((u) => u.stop()), ...this.streams.map((s) => s.stop()), relay?.stop()]);
    this.udp.length = 0;
    this.replyUdp.length = 0;
    this.streams.length = 0;
  }

  /** This worker's relay port (0 when it runs alone); the cluster primary collects them. */
  get workerRelayPort(): number {
    return this.relay?.port ?? 0;
  }

  /** Every worker's relay port by index, from the cluster primary (0: not running now). */
  setWorkerPeers(ports: number[]): void {
    this.relay?.setPeers(ports);
  }

  /** Every bound listener with its real port (useful with port 0). */
  get boundListeners(): BoundListener[] {
    return [
      ...this.udp.map((u) => ({ kind: 'udp' as const, address: u.localAddress, port: u.localPort })),
      ...this.streams.map((s) => ({ kind: s.spec.kind, address: s.localAddress, port: s.localPort })),
    ];
  }

  /** The listener to name in Via sent-by / Contact for a transport kind (RFC 3261 §18.1.1). */
  sentBy(kind: TransportKind): { host: string; port: number } {
    const l = this.boundListeners.find((x) => x.kind === kind) ?? this.boundListeners.find((x) => x.kind === 'udp') ?? this.boundListeners[0];
    if (!l) return { host: this.options.advertisedHost ?? '127.0.0.1', port: 5060 };
    let host = l.address;
    if (host === '0.0.0.0' || host === '::') host = this.options.advertisedHost ?? (host === '::' ? '::1' : '127.0.0.1');
    return { host: host.includes(':') ? `[${host}]` : host, port: l.port };
  }

  /**
   * The sent-by for the Via of a request this process sends (RFC 3261 §18.1.1): the listener's,
   * except over UDP in a worker, where it is the worker's own reply socket on the same address.
   */
  viaSentBy(kind: TransportKind): { host: string; port: number } {
    const sb = this.sentBy(kind);
    if (kind !== 'udp' || this.replyUdp.length === 0) return sb;
    const i = this.udp.findIndex((u) => u.localPort === sb.port);
    const r = this.replyUdp[i < 0 ? 0 : i];
    return r ? { host: sb.host, port: r.localPort } : sb;
  }

  hasListener(kind: TransportKind): boolean {
    return this.boundListeners.some((l) => l.kind === kind);
  }

  /**
   * RFC 3261 §18.1.1: a request within 200 bytes of the path MTU (1300 by default) goes over a
   * congestion-controlled transport. Returns the kind actually used for `bytes` bytes.
   */
  effectiveKind(dest: Destination, size: number): TransportKind {
    if (dest.kind === 'udp' && size > this.udpMtu && this.options.udpToTcpSwitch !== false && !dest.flow && this.hasListener('tcp')) return 'tcp';
    return dest.kind;
  }

  /** Whether a client transaction for `req` to `dest` runs over a reliable transport. */
  isReliableFor(req: SipRequest, dest: Destination): boolean {
    return isReliable(this.effectiveKind(dest, req.raw.length));
  }

  /** The transport facts of a received request. */
  infoOf(req: SipRequest): ReceivedInfo | undefined {
    return (req.source as ReceivedSource | undefined)?.info;
  }

  /**
   * Sends a request to a resolved destination. Errors are reported through `onError`
   * (the transaction layer turns them into a 503, RFC 3261 §8.1.3.1).
   */
  sendRequest(req: SipRequest, dest: Destination & { flowId?: number }, onError?: (err: TransportError) => void): void {
    let msg = req;
    let kind = this.effectiveKind(dest, req.raw.length);
    if (kind !== dest.kind) msg = withTopViaTransport(req, viaToken(kind), this.sentBy(kind));
    const fail = (e: Error) => onError?.(new TransportError('SIP_ERR_TRANSPORT', `${kind} send to ${hostPort(dest.address, dest.port)} failed: ${e.message}`));
    if (kind === 'udp') {
      const u = this.udpFor(dest.address, true);
      if (!u) return fail(new Error('no UDP listener'));
      this.sendDatagram(u, dest.address, dest.port, msg.raw, fail);
      return;
    }
    const existing = dest.flowId !== undefined ? this.flows.get(dest.flowId) : undefined;
    this.sendOnFlow(existing && !existing.closed ? existing : undefined, kind, dest.address, dest.port, dest.hostname, msg.raw, fail);
  }

  /**
   * A keep-alive of the double-CRLF kind (RFC 5626 §3.5.1, §4.4.1) to `dest`: over UDP one datagram
   * from the listener our requests leave from (it refreshes the NAT binding those requests made),
   * over TCP/TLS/WS the same bytes on the connection to `dest` (opened when there is none).
   * Not traced: it is not a SIP message.
   */
  sendKeepAlive(dest: Destination, onError?: (err: TransportError) => void): void {
    const bytes = Buffer.from('\r\n\r\n');
    const fail = (e: Error) => onError?.(new TransportError('SIP_ERR_TRANSPORT', `keep-alive to ${hostPort(dest.address, dest.port)} failed: ${e.message}`));
    if (dest.kind === 'udp') {
      const u = this.udpFor(dest.address, true);
      if (!u) return fail(new Error('no UDP listener'));
      u.send(bytes, dest.address, dest.port, fail);
      return;
    }
    const key = `${dest.kind}:${hostPort(dest.address, dest.port)}`;
    const f = this.flowsByRemote.get(key);
    if (f && !f.closed) {
      try {
        f.send(bytes);
      } catch (e) {
        fail(e as Error);
      }
      return;
    }
    this.sendOnFlow(undefined, dest.kind, dest.address, dest.port, dest.hostname, bytes, fail);
  }

  /**
   * Sends a response per RFC 3261 §18.2.2: on the connection the request came on (reliable),
   * else to `received` and the `rport` / sent-by port / 5060 (RFC 3581 §4).
   */
  sendResponse(res: SipResponse, req: SipRequest, onError?: (err: TransportError) => void): void {
    const info = (req.source as ReceivedSource | undefined)?.info;
    const src = req.source;
    const fail =
      onError === undefined ? undefined : (e: Error) => onError(new TransportError('SIP_ERR_TRANSPORT', `response send failed: ${e.message}`));
    if (!src) return fail?.(new Error('request has no source'));
    const kind = src.transport as TransportKind;
    const { address, port } = responseTarget(req);
    if (kind === 'udp') {
      const u = this.responseSocket(info, address);
      if (!u) return fail?.(new Error('no UDP listener'));
      this.sendDatagram(u, address, port, res.raw, fail);
      return;
    }
    const flow = info?.flow && !info.flow.closed ? info.flow : undefined;
    this.sendOnFlow(flow, kind, address, port, undefined, res.raw, fail ?? ignoreSendError);
  }

  /** The UDP socket a response leaves from: the listener the request came in on, else one for the address. */
  private responseSocket(info: ReceivedSource['info'] | undefined, address: string): UdpTransport | undefined {
    return this.udp.find((x) => x.localPort === info?.listener.port && x.localAddress === info?.listener.address) ?? this.udpFor(address);
  }

  /**
   * A sender that repeats `res` exactly as {@link sendResponse} sends it (same socket, same
   * address and port, traced the same way), holding only the bytes and the destination: for a
   * server transaction that keeps nothing but its final response to repeat (RFC 3261 §17.2.2).
   * UDP only; undefined for connections (nothing is repeated over them) or without a listener.
   */
  responseRepeater(res: SipResponse, req: SipRequest): (() => void) | undefined {
    const src = req.source;
    if (src === undefined || src.transport !== 'udp') return undefined;
    const { address, port } = responseTarget(req);
    const u = this.responseSocket((src as ReceivedSource).info, address);
    if (!u) return undefined;
    const bytes = res.raw;
    return () => this.sendDatagram(u, address, port, bytes);
  }

  /** One datagram out of `u`, traced as sent. */
  private sendDatagram(u: UdpTransport, address: string, port: number, bytes: Buffer, fail?: (e: Error) => void): void {
    this.trace('Sent', 'udp', u.localAddress, u.localPort, address, port, bytes);
    u.send(bytes, address, port, fail);
  }

  private sendOnFlow(flow: Flow | undefined, kind: TransportKind, address: string, port: number, hostname: string | undefined, bytes: Buffer, fail: (e: Error) => void): void {
    const key = `${kind}:${hostPort(address, port)}`;
    const f = flow ?? this.flowsByRemote.get(key);
    if (f && !f.closed) {
      try {
        this.trace('Sent', f.kind, f.localAddress, f.localPort, f.remoteAddress, f.remotePort, bytes);
        f.send(bytes);
      } catch (e) {
        fail(e as Error);
      }
      return;
    }
    let p = this.connecting.get(key);
    if (!p) {
      p = connectFlow(kind, address, port, hostname, this.streamOpts, this.cb).then((nf) => {
        this.addFlow(nf);
        return nf;
      });
      this.connecting.set(key, p);
      const clear = () => this.connecting.delete(key);
      p.then(clear, clear);
    }
    p.then(
      (nf) => {
        try {
          this.trace('Sent', nf.kind, nf.localAddress, nf.localPort, nf.remoteAddress, nf.remotePort, bytes);
          nf.send(bytes);
        } catch (e) {
          fail(e as Error);
        }
      },
      (e) => fail(e as Error),
    );
  }

  /** The UDP listener to send to `address` from; for a request in a worker, its reply socket. */
  private udpFor(address: string, request = false): UdpTransport | undefined {
    // Destinations are resolved IP literals (RFC 3263 ran above): a colon means IPv6.
    const v6 = address.includes(':');
    let i = this.udp.findIndex((u) => u.localAddress.includes(':') === v6);
    if (i < 0) i = 0;
    return (request ? this.replyUdp[i] : undefined) ?? this.udp[i];
  }

  private addFlow(flow: Flow): void {
    this.flows.set(flow.id, flow);
    this.flowsByRemote.set(`${flow.kind}:${hostPort(flow.remoteAddress, flow.remotePort)}`, flow);
  }

  private forgetFlow(flow: Flow): void {
    this.flows.delete(flow.id);
    const key = `${flow.kind}:${hostPort(flow.remoteAddress, flow.remotePort)}`;
    if (this.flowsByRemote.get(key) === flow) this.flowsByRemote.delete(key);
  }

  private listenerFor(flow: Flow): BoundListener {
    const l = this.streams.find((s) => s.localPort === flow.localPort && s.spec.kind === flow.kind) ?? this.streams.find((s) => s.spec.kind === flow.kind);
    return l ? { kind: l.spec.kind, address: l.localAddress, port: l.localPort } : { kind: flow.kind, address: flow.localAddress, port: flow.localPort };
  }

  /** Counts the message and, only when somebody listens, formats the addresses and reports it. */
  private trace(direction: TraceDirection, kind: TransportKind, localAddress: string, localPort: number, remoteAddress: string, remotePort: number, bytes: Buffer, message?: SipRequest | SipResponse): void {
    const channel = direction === 'Sent' ? sendChannel : recvChannel;
    if (direction === 'Sent') this.stats.sent++;
    if (!channel.hasSubscribers && this.onTrace === undefined) return;
    const local = hostPort(localAddress, localPort);
    const remote = hostPort(remoteAddress, remotePort);
    if (channel.hasSubscribers) channel.publish({ kind, local, remote, bytes });
    this.onTrace?.({ direction, kind, local, remote, bytes, message });
  }

  /**
   * Inbound path for every transport. `udpIndex` is the shared UDP listener a datagram was read
   * from (-1 for streams and for datagrams a sibling worker relayed, which are never relayed on).
   */
  private receive(bytes: Buffer, kind: TransportKind, address: string, port: number, listener: BoundListener, flow?: Flow, udpIndex = -1): void {
    // The boundary of every receive path (UDP, TCP, TLS, WS, a sibling worker's relay): nothing
    // a message makes a layer throw may reach the socket's event handler, where it would end
    // the process. Requests are answered inside (receiveMessage); what lands here is dropped.
    try {
      this.receiveMessage(bytes, kind, address, port, listener, flow, udpIndex);
    } catch (err) {
      this.reportFault({ where: 'receive', error: err, source: `${kind}:${hostPort(address, port)}`, callId: sniffCallId(bytes) });
    }
  }

  /**
   * Counts a fault, publishes it on `sip:fault` and hands it to {@link onFault}. Layers above
   * report theirs here too (a role's failed promise, a timer), so one counter covers them all.
   */
  reportFault(f: FaultReport): void {
    this.stats.faults++;
    try {
      if (faultChannel.hasSubscribers) faultChannel.publish(f);
      this.onFault(f);
    } catch {
      // A failing logger must not undo the boundary.
    }
  }

  /** Source and Call-ID of a received message, for a fault report; never throws. */
  faultContext(msg: SipRequest | SipResponse): Pick<FaultReport, 'source' | 'callId' | 'message'> {
    const src = msg.source;
    let callId: string | undefined;
    try {
      callId = msg.callId;
    } catch {
      callId = sniffCallId(msg.raw);
    }
    return {
      source: src ? `${src.transport}:${hostPort(src.address, src.port)}` : undefined,
      callId,
      message: msg.kind === 'request' ? msg.method : `${msg.status}`,
    };
  }

  private receiveMessage(bytes: Buffer, kind: TransportKind, address: string, port: number, listener: BoundListener, flow?: Flow, udpIndex = -1): void {
    // A datagram of CRLFs only is a client's NAT keep-alive (RFC 5626 §3.5.1 style), not a message.
    if (flow === undefined && bytes.length <= 8 && isOnlyCrlf(bytes)) return;
    // A STUN Binding request on the SIP port (RFC 5626 §4.4.1): answered with the address we saw.
    if (flow === undefined && (bytes[0]! & 0xc0) === 0 && isStun(bytes)) {
      const answer = stunBindingResponse(bytes, address, port);
      const u = answer && this.responseSocket({ flow: undefined, listener }, address);
      if (answer && u) u.send(answer, address, port);
      return;
    }
    let msg: SipRequest | SipResponse | undefined;
    let parseError: SipParseError | undefined;
    try {
      // Parse without the configured size limit so an oversize request can still be answered 513.
      msg = parseMessage(bytes, { framing: flow && kind !== 'ws' && kind !== 'wss' ? 'stream' : 'datagram', limits: { maxMessageSize: 1 << 20, maxHeaders: 256 } });
    } catch (err) {
      if (!(err instanceof SipParseError)) throw err;
      parseError = err;
    }
    const relay = this.relay;
    if (relay !== undefined && msg !== undefined && udpIndex >= 0) {
      let callId: string | undefined;
      try {
        callId = msg.callId;
      } catch {
        // No readable Call-ID: answered (or dropped) right here.
      }
      if (callId !== undefined) {
        const owner = relay.ownerOf(callId);
        if (owner !== relay.index) {
          relay.forward(owner, udpIndex, address, port, bytes);
          return;
        }
      }
    }
    this.stats.received++;
    this.trace('Received', kind, listener.address, listener.port, address, port, bytes, msg);
    // The listener and connection ride on `source` (not a side table): one object per message.
    const source: ReceivedSource = { transport: kind, address, port, connectionId: flow?.id, info: { flow, listener } };
    if (msg === undefined) {
      const err = parseError!;
      const salvaged = salvageRequest(bytes);
      if (salvaged && salvaged.hasHeader('Via')) {
        salvaged.source = source;
        this.rejectStatelessly(salvaged, err);
      } else this.drop(err, address, port);
      return;
    }
    msg.source = source;
    if (msg.kind === 'response') {
      try {
        msg.validate();
      } catch (err) {
        this.drop(err, address, port); // never answer a response
        return;
      }
      try {
        this.onResponse(msg, { flow, listener });
      } catch (err) {
        this.reportFault({ where: 'response', error: err, ...this.faultContext(msg) });
      }
      return;
    }
    const info = source.info;
    if (bytes.length > this.maxMessageSize) {
      this.rejectStatelessly(msg, new SipParseError('SIP_ERR_TOO_LARGE', 513, 'message', 'Message Too Large'));
      return;
    }
    try {
      msg.validate();
    } catch (err) {
      if (!(err instanceof SipParseError)) throw err;
      if (msg.hasHeader('Via')) this.rejectStatelessly(msg, err);
      else this.drop(err, address, port);
      return;
    }
    noteReceived(msg, address, port);
    try {
      this.onRequest(msg, info);
    } catch (err) {
      // Nothing above answered it: a stateless 500 (RFC 3261 §21.5.1) where one can be built.
      const answered = msg.method !== 'ACK' && this.replyStatelessly(msg, 500, 'Server Internal Error') ? 500 : undefined;
      this.reportFault({ where: 'request', error: err, ...this.faultContext(msg), answered });
    }
  }

  /** Sends a response without a server transaction (§8.2.7 To tag); false when none can be built. */
  replyStatelessly(req: SipRequest, status: number, reason: string): boolean {
    try {
      this.sendResponse(createResponse(req, status, { reason, toTag: statelessToTag(req) }), req);
      return true;
    } catch {
      return false;
    }
  }

  private rejectStatelessly(req: SipRequest, err: unknown): void {
    const e = err as SipParseError;
    this.stats.rejected++;
    const remote = req.source ? hostPort(req.source.address, req.source.port) : undefined;
    if (badChannel.hasSubscribers) badChannel.publish({ error: e, remote });
    this.onBadMessage?.({ remote, error: e, answered: req.method !== 'ACK' && ((req.source?.transport ?? 'udp') !== 'udp' || hasReadableSentBy(req)) });
    if (req.method === 'ACK') return; // RFC 3261 §17: ACK is never answered
    // RFC 3261 §18.2.2: over UDP a response goes where the top Via's sent-by (with `received`,
    // `rport`) says; with no readable sent-by there is nowhere it may go: dropped and counted.
    if ((req.source?.transport ?? 'udp') === 'udp' && !hasReadableSentBy(req)) {
      this.stats.dropped++;
      return;
    }
    // RFC 3261 §18.2.1 applies to every request received, malformed or not: add `received`
    // (and fill `rport`) when the top Via can be read; an unreadable one is copied as it is.
    if (req.source) {
      try {
        noteReceived(req, req.source.address, req.source.port);
      } catch {
        /* unreadable top Via */
      }
    }
    if (!this.replyStatelessly(req, e.status ?? 400, e.reasonPhrase ?? 'Bad Request')) this.stats.dropped++;
  }

  private drop(err: unknown, address: string, port: number): void {
    this.stats.dropped++;
    if (badChannel.hasSubscribers) badChannel.publish({ error: err, remote: hostPort(address, port) });
    this.onBadMessage?.({ remote: hostPort(address, port), error: err, answered: false });
  }

  /** New TLS certificate and key for the TLS and WSS listeners (a reload); how many took them. */
  setCertificate(cert: Buffer, key: Buffer): number {
    return this.streams.filter((s) => s.setCertificate(cert, key)).length;
  }

  /** Open connections (TCP, TLS, WebSocket), both directions. */
  get connectionCount(): number {
    return this.flowsByRemote.size;
  }
}

/** An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d: its plain address. */
function unmapped(a: string): string {
  return a.charCodeAt(0) === 0x3a && a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** Rewrites the transport token (and sent-by) of the top Via (used by the §18.1.1 switch). */
function withTopViaTransport(req: SipRequest, token: string, sentBy: { host: string; port: number }): SipRequest {
  const vias = req.viaValues();
  const top = req.topVia.clone();
  top.transport = token;
  top.host = sentBy.host;
  top.port = sentBy.port;
  const headers: Array<[string, string]> = [];
  let viaDone = false;
  for (const [name, value] of req.headerLines()) {
    const lower = name.toLowerCase();
    if (lower === 'via' || lower === 'v') {
      if (!viaDone) {
        headers.push(['Via', top.toString()]);
        for (const v of vias.slice(1)) headers.push(['Via', v]);
        viaDone = true;
      }
      continue;
    }
    headers.push([name, value]);
  }
  return buildRequest({ method: req.method, uri: req.uriText, headers, body: req.body });
}

export { isReliable, responseTarget, statelessToTag };

function isOnlyCrlf(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x0d && b !== 0x0a) return false;
  return bytes.length > 0;
}
