/**
 * Connection-oriented transports: TCP and TLS (RFC 3261 §18, §26.2), and WebSocket
 * (RFC 7118) over HTTP/HTTPS. Each connection is a {@link Flow}; stream bytes are framed by
 * Content-Length ({@link StreamFramer}); a WebSocket message is exactly one SIP message.
 *
 * @remarks Layer 2 (`transport/`).
 */
import { isUtf8 } from 'node:buffer';
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import https from 'node:https';
import { WebSocketServer, WebSocket } from 'ws';
import { StreamFramer, SipParseError } from '../sip/index.js';
import type { Flow, ListenSpec, TransportKind } from './transport.js';
import { TransportError } from './transport.js';

let nextFlowId = 1;

/**
 * How many bytes one message may take on a connection before it is given up as unframeable.
 * Larger than `maxMessageSize` on purpose: a request over the limit but within this bound is
 * still read whole, so the transport layer can answer it 513 (RFC 3261 §18.1.1, §21.5.14)
 * instead of dropping the connection without a word.
 */
export function framingLimit(maxMessageSize: number): number {
  return Math.max(2 * maxMessageSize, maxMessageSize + 65536);
}

export interface StreamCallbacks {
  onMessage(bytes: Buffer, flow: Flow): void;
  /** Unframeable bytes: the connection is closed after this (RFC 3261 §18.3). */
  onFramingError(err: SipParseError, flow: Flow, pending: Buffer | undefined): void;
  onFlowClosed(flow: Flow): void;
  onError(err: Error): void;
}

export interface StreamOptions {
  maxMessageSize: number;
  idleTimeoutMs: number;
  tls?: { key: Buffer | string; cert: Buffer | string; ca?: Buffer | string; rejectUnauthorized?: boolean };
}

/** A TCP or TLS connection. */
export class SocketFlow implements Flow {
  readonly id = nextFlowId++;
  closed = false;
  private readonly framer: StreamFramer;
  lastActivity = Date.now();

  constructor(
    readonly kind: TransportKind,
    private readonly socket: net.Socket,
    private readonly cb: StreamCallbacks,
    maxMessageSize: number,
  ) {
    this.framer = new StreamFramer(framingLimit(maxMessageSize));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.markClosed());
  }

  get localAddress(): string { return this.socket.localAddress ?? ''; }
  get localPort(): number { return this.socket.localPort ?? 0; }
  get remoteAddress(): string { return (this.socket.remoteAddress ?? '').replace(/^::ffff:/, ''); }
  get remotePort(): number { return this.socket.remotePort ?? 0; }

  private receive(chunk: Buffer): void {
    this.lastActivity = Date.now();
    let events;
    try {
      events = this.framer.push(chunk);
    } catch (err) {
      this.cb.onFramingError(err as SipParseError, this, undefined);
      this.close();
      return;
    }
    for (const ev of events) {
      if (ev.kind === 'ping') this.send(Buffer.from('\r\n')); // RFC 5626 §3.5.1 pong
      else this.cb.onMessage(ev.bytes, this);
    }
  }

  send(bytes: Buffer): void {
    if (this.closed) throw new TransportError('TRANSPORT_ERR_CLOSED', 'connection closed');
    this.lastActivity = Date.now();
    this.socket.write(bytes);
  }

  close(): void {
    if (!this.closed) this.socket.destroy();
    this.markClosed();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb.onFlowClosed(this);
  }
}

/** A WebSocket connection carrying SIP (RFC 7118). */
export class WsFlow implements Flow {
  readonly id = nextFlowId++;
  closed = false;
  lastActivity = Date.now();
  constructor(
    readonly kind: TransportKind,
    private readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localAddress: string,
    readonly localPort: number,
    private readonly cb: StreamCallbacks,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.lastActivity = Date.now();
      void isBinary;
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      // RFC 7118 §5: one SIP message per WebSocket message; CRLF keep-alives ignored.
      if (bytes.length <= 4 && bytes.toString('latin1').trim() === '') return;
      cb.onMessage(bytes, this);
    });
    ws.on('close', () => this.markClosed());
    ws.on('error', () => this.close());
  }

  send(bytes: Buffer): void {
    if (this.closed) throw new TransportError('TRANSPORT_ERR_CLOSED', 'connection closed');
    this.lastActivity = Date.now();
    // RFC 7118 §5.1: text frames for UTF-8 messages (what browsers expect); a message that is
    // not valid UTF-8 (a binary body) goes as a binary frame, since a text frame would mangle it.
    if (isUtf8(bytes)) this.ws.send(bytes.toString('utf8'));
    else this.ws.send(bytes, { binary: true });
  }

  close(): void {
    if (!this.closed) this.ws.terminate();
    this.markClosed();
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb.onFlowClosed(this);
  }
}

/** A listening TCP/TLS/WS/WSS server. */
export class StreamListener {
  private server: net.Server | http.Server | undefined;
  private wss: WebSocketServer | undefined;
  localAddress = '';
  localPort = 0;

  constructor(
    readonly spec: ListenSpec,
    private readonly opts: StreamOptions,
    private readonly cb: StreamCallbacks,
    private readonly onFlow: (flow: Flow) => void,
  ) {}

  /**
   * New certificate and key for a TLS or WSS listener: connections accepted from now on get them,
   * those already up keep theirs (Node's `setSecureContext`).
   */
  setCertificate(cert: Buffer, key: Buffer): boolean {
    if (this.spec.kind !== 'tls' && this.spec.kind !== 'wss') return false;
    (this.server as tls.Server | https.Server | undefined)?.setSecureContext({ cert, key });
    return true;
  }

  async start(): Promise<void> {
    const { kind } = this.spec;
    let server: net.Server | http.Server;
    if (kind === 'tcp') {
      server = net.createServer((s) => this.onFlow(new SocketFlow('tcp', s, this.cb, this.opts.maxMessageSize)));
    } else if (kind === 'tls') {
      if (!this.opts.tls) throw new TransportError('TRANSPORT_ERR_CONFIG', 'tls listener needs a certificate and key (tls.cert, tls.key)');
      server = tls.createServer({ key: this.opts.tls.key, cert: this.opts.tls.cert }, (s) =>
        this.onFlow(new SocketFlow('tls', s, this.cb, this.opts.maxMessageSize)),
      );
    } else {
      if (kind === 'wss' && !this.opts.tls) throw new TransportError('TRANSPORT_ERR_CONFIG', 'wss listener needs a certificate and key (tls.cert, tls.key)');
      server = kind === 'wss' ? https.createServer({ key: this.opts.tls!.key, cert: this.opts.tls!.cert }) : http.createServer();
      (server as http.Server).on('request', (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' });
        res.end('SIP over WebSocket only (RFC 7118)\n');
      });
      const wss = new WebSocketServer({
        server: server as http.Server,
        maxPayload: framingLimit(this.opts.maxMessageSize),
        handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
      });
      this.wss = wss;
      wss.on('connection', (ws, req) => {
        const ra = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
        this.onFlow(new WsFlow(kind, ws, ra, req.socket.remotePort ?? 0, req.socket.localAddress ?? '', req.socket.localPort ?? 0, this.cb));
      });
    }
    this.server = server;
    server.on('error', (err) => this.cb.onError(err));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.spec.port, host: this.spec.host, ipv6Only: this.spec.host.includes(':') }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as net.AddressInfo;
    this.localAddress = a.address;
    this.localPort = a.port;
  }

  async stop(): Promise<void> {
    this.wss?.close();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/** Opens an outbound connection of the given kind (RFC 3261 §18.1.1). */
export function connectFlow(
  kind: TransportKind,
  address: string,
  port: number,
  hostname: string | undefined,
  opts: StreamOptions,
  cb: StreamCallbacks,
): Promise<Flow> {
  return new Promise((resolve, reject) => {
    if (kind === 'tcp' || kind === 'tls') {
      const socket =
        kind === 'tcp'
          ? net.connect({ host: address, port })
          : tls.connect({ host: address, port, servername: hostname && !net.isIP(hostname) ? hostname : undefined, ca: opts.tls?.ca, rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true });
      const ev = kind === 'tcp' ? 'connect' : 'secureConnect';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${address}:${port} timed out`));
      }, 5000);
      socket.once(ev, () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SocketFlow(kind, socket, cb, opts.maxMessageSize));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    } else {
      const scheme = kind === 'wss' ? 'wss' : 'ws';
      const host = address.includes(':') ? `[${address}]` : address;
      const ws = new WebSocket(`${scheme}://${host}:${port}/`, 'sip', { ca: opts.tls?.ca, rejectUnauthorized: opts.tls?.rejectUnauthorized ?? true, handshakeTimeout: 5000 });
      ws.once('open', () => {
        ws.removeAllListeners('error');
        const s = (ws as unknown as { _socket: net.Socket })._socket;
        resolve(new WsFlow(kind, ws, address, port, s?.localAddress ?? '', s?.localPort ?? 0, cb));
      });
      ws.once('error', reject);
    }
  });
}
