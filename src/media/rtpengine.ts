/**
 * A client for rtpengine's "ng" control protocol (docs/ng_control_protocol.md in
 * sipwise/rtpengine): the media relay of issue 18, which puts itself between two phones behind
 * NAT by rewriting the c=/m= lines of each SDP (offer, answer) and forwarding RTP between the
 * ports it announced.
 *
 * Wire format (ng_control_protocol.md, "The NG Control Protocol"): one UDP datagram per message,
 * `COOKIE SP BENCODED-DICT`; the reply carries the same cookie, which is how replies are matched
 * to requests. Each request dict has `command`; each reply has `result` (`ok`, `pong`, or `error`
 * with `error-reason`, and optionally `warning`).
 *
 * Reliability over UDP follows Kamailio's rtpengine module (rtpengine_tout_ms, rtpengine_retr,
 * rtpengine_disable_tout): the same bytes are resent every `timeoutMs` up to `retries` times,
 * then the next instance is tried and the silent one is skipped for new calls until it answers
 * a ping. Resending the same cookie is safe because rtpengine keeps every reply in a cookie
 * cache for 30–60 s and answers a duplicate from it — and a duplicate of a request still being
 * processed waits for that reply — instead of running the command twice (daemon/control_ng.c,
 * daemon/cookie_cache.c). That cache is keyed by the cookie alone, shared by every client, so
 * cookies are random, never from a test's deterministic source.
 *
 * We did not use npm `rtpengine-client` (drachtio): it sends each UDP request once, without
 * retransmission, and pulls in ws@7.
 *
 * Bencode is the maintained `bencode` package (v4). Its decoder trusts string lengths: a
 * negative one moves it backwards, so `d1:a-6:` loops forever; every reply is therefore checked
 * for well-formedness ({@link isWellFormedBencode}) before it is decoded, and taken only from the
 * address of an instance the request went to.
 *
 * @remarks Leaf (`media/`): node builtins, npm packages and `util/` only.
 */
import dgram from 'node:dgram';
import net from 'node:net';
// The package ships no type declarations (and no @types/bencode is installed); the two
// functions we use are typed by BencodeApi below.
// @ts-expect-error TS7016: untyped ESM package, typed through BencodeApi.
import bencodeUntyped from 'bencode';
import { SipError } from '../util/errors.js';
import { pooledRandomBytes } from '../util/ids.js';

interface BencodeApi {
  encode(value: unknown): Uint8Array;
  decode(data: Uint8Array): unknown;
}
const bencode = bencodeUntyped as BencodeApi;

/** Stable error codes of {@link MediaRelayError}. */
export type MediaRelayErrorCode =
  /** No instance answered: every one was tried `retries + 1` times, `timeoutMs` apart. */
  | 'RTPENGINE_ERR_TIMEOUT'
  /** rtpengine answered `result: error`; the message is its `error-reason`. */
  | 'RTPENGINE_ERR_ERROR'
  /** A target that is not `udp:IPv4:port` or `udp:[IPv6]:port`, or a target not configured. */
  | 'RTPENGINE_ERR_TARGET'
  /** A reply that is not a bencoded dictionary with `result`, or lacks what the command returns (`sdp`). */
  | 'RTPENGINE_ERR_REPLY'
  /** The request does not fit in one UDP datagram. */
  | 'RTPENGINE_ERR_TOO_LARGE'
  /** The client is not started, or was closed while the request was pending. */
  | 'RTPENGINE_ERR_CLOSED';

/** Error of the rtpengine client; `reason` is rtpengine's own `error-reason` for RTPENGINE_ERR_ERROR. */
export class MediaRelayError extends SipError {
  override name = 'MediaRelayError';
  constructor(
    override readonly code: MediaRelayErrorCode,
    message: string,
    readonly reason?: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Targets

/** One rtpengine control socket, as Kamailio's `rtpengine_sock` spells it. */
export interface RtpengineTarget {
  /** The string it was parsed from (also its name in {@link RtpengineClient.instances}). */
  readonly text: string;
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/**
 * `udp:127.0.0.1:2223` or `udp:[::1]:2223`. IP literals only: resolving a name would put DNS on
 * the path of every call setup, and a relay is configured by address anyway.
 */
export function parseRtpengineTarget(text: string): RtpengineTarget {
  const bad = (why: string) => new MediaRelayError('RTPENGINE_ERR_TARGET', `rtpengine target "${text}": ${why} (expected udp:IPv4:port or udp:[IPv6]:port)`);
  const m = /^udp:(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) throw bad('not of the form');
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw bad('port out of range');
  if (m[1] !== undefined) {
    if (!net.isIPv6(m[1])) throw bad('not an IPv6 address in the brackets');
    // The form Node reports as a datagram's source (compressed, lower case), so replies match.
    return { text, address: new net.SocketAddress({ address: m[1], family: 'ipv6' }).address, port, family: 6 };
  }
  if (!net.isIPv4(m[2]!)) throw bad(net.isIPv6(m[2]!) ? 'an IPv6 address needs brackets' : 'not an IPv4 address');
  return { text, address: m[2]!, port, family: 4 };
}

// ---------------------------------------------------------------------------------------------
// Bencode

/** A value of an ng request: bencode has byte strings, integers, lists and dictionaries. */
export type NgValue = string | number | Uint8Array | readonly NgValue[] | { readonly [key: string]: NgValue | undefined };
/** An ng request dictionary; keys whose value is undefined are left out. */
export type NgDict = { readonly [key: string]: NgValue | undefined };
/** A value of a reply, byte strings decoded as UTF-8. */
export type NgReplyValue = string | number | NgReplyValue[] | { [key: string]: NgReplyValue };
/** A reply dictionary (`result: ok` or `pong`; errors become {@link MediaRelayError}). */
export interface NgReply {
  result: string;
  /** A non-fatal problem rtpengine reports with `ok` (e.g. deleting an unknown call without `fatal`). */
  warning?: string;
  [key: string]: NgReplyValue | undefined;
}

const MAX_DEPTH = 64;

/**
 * Is `b` exactly one well-formed bencoded value (BEP 3: `i<int>e`, `<len>:<bytes>`, `l…e`,
 * `d…e` with string keys), nested at most 64 deep? Checked before `bencode.decode`, which
 * accepts negative lengths and can be sent into an endless loop.
 */
export function isWellFormedBencode(b: Uint8Array): boolean {
  const n = b.length;
  // Containers being read: 'l', or 'k' (a dict expecting a key) / 'v' (expecting its value).
  const stack: ('l' | 'k' | 'v')[] = [];
  let i = 0;
  const itemDone = (): void => {
    const top = stack.length - 1;
    if (top >= 0 && stack[top] !== 'l') stack[top] = stack[top] === 'k' ? 'v' : 'k';
  };
  do {
    if (i >= n) return false;
    const c = b[i]!;
    const top = stack[stack.length - 1];
    if (c === 0x65 /* e */) {
      if (top === undefined || top === 'v') return false; // nothing to close, or a key without a value
      stack.pop();
      i++;
      itemDone();
      continue;
    }
    if (top === 'k' && !(c >= 0x30 && c <= 0x39)) return false; // dictionary keys are strings
    if (c === 0x64 /* d */ || c === 0x6c /* l */) {
      if (stack.length >= MAX_DEPTH) return false;
      stack.push(c === 0x64 ? 'k' : 'l');
      i++;
      continue;
    }
    if (c === 0x69 /* i */) {
      let j = i + 1;
      if (b[j] === 0x2d /* - */) j++;
      const digits = j;
      while (j < n && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
      if (j === digits || j - digits > 15 || b[j] !== 0x65) return false;
      i = j + 1;
      itemDone();
      continue;
    }
    if (c >= 0x30 && c <= 0x39) {
      let j = i;
      let len = 0;
      while (j < n && b[j]! >= 0x30 && b[j]! <= 0x39 && j - i < 8) len = len * 10 + (b[j++]! - 0x30);
      if (b[j] !== 0x3a /* : */ || len > n - (j + 1)) return false;
      i = j + 1 + len;
      itemDone();
      continue;
    }
    return false;
  } while (stack.length > 0);
  return i === n;
}

/** Byte strings (Uint8Array from `bencode.decode`) as UTF-8 JS strings, all the way down. */
function toStrings(v: unknown): NgReplyValue {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(toStrings);
  const out: { [key: string]: NgReplyValue } = {};
  // Own keys only: a `__proto__` key set the decoded object's prototype and is dropped here.
  for (const k of Object.keys(v as object)) out[k] = toStrings((v as Record<string, unknown>)[k]);
  return out;
}

/** Splits `COOKIE SP DICT` and decodes the dict; undefined when it is not that. */
function parseDatagram(msg: Buffer): { cookie: string; dict: { [key: string]: NgReplyValue } } | undefined {
  const sp = msg.indexOf(0x20);
  if (sp <= 0) return undefined;
  const body = msg.subarray(sp + 1);
  if (body[0] !== 0x64 /* d */ || !isWellFormedBencode(body)) return { cookie: msg.toString('latin1', 0, sp), dict: {} };
  const dict = toStrings(bencode.decode(body));
  return { cookie: msg.toString('latin1', 0, sp), dict: dict as { [key: string]: NgReplyValue } };
}

// ---------------------------------------------------------------------------------------------
// Client

export interface RtpengineClientOptions {
  /** Control sockets, in order of preference: the first that answers serves a new call. */
  targets: string[];
  /** Wait for a reply before resending (per try). Default 500 ms. */
  timeoutMs?: number;
  /** Retransmissions per instance before failing over to the next. Default 2 (3 sends). */
  retries?: number;
  /** Ping every instance this often, marking each up or down; 0: never. Default 10 000 ms. */
  healthCheckIntervalMs?: number;
  /** Calls remembered for stickiness (oldest forgotten first). Default 100 000. */
  maxCalls?: number;
  /** Told when an instance is marked down (a timeout) or up again (any reply). */
  onInstanceState?: (target: string, up: boolean) => void;
  /** Socket errors after bind (nothing else to do with them in a leaf); default: ignored. */
  onError?: (err: Error) => void;
}

export interface RtpengineStats {
  /** request() calls (pings included). */
  requests: number;
  /** Datagrams sent again to the same instance with the same cookie. */
  retransmissions: number;
  /** Moves to the next instance after one stayed silent (or refused the datagram). */
  failovers: number;
  /** Requests that ended in a MediaRelayError other than a timeout (rtpengine's `error`, a bad reply). */
  errors: number;
  /** Requests no instance answered. */
  timeouts: number;
  /** Datagrams ignored: an unknown cookie (a late duplicate), a stranger's address, not ng. */
  strays: number;
}

export interface PingResult {
  target: string;
  up: boolean;
  /** Round trip of the successful try. */
  rttMs?: number;
  error?: MediaRelayError;
}

/** Keys common to offer and answer (ng_control_protocol.md, "offer Message"); any other ng key passes as is. */
export interface SdpOptions extends NgDict {
  /** Flags such as `trust-address`, `symmetric`, `asymmetric`, `strict-source`, `NAT-wait`. */
  flags?: readonly string[];
  /** Parts of the SDP to rewrite besides c=/m=: `origin`, `session-connection`, … */
  replace?: readonly string[];
  /** The logical interfaces (`--interface=NAME/IP`) of the two sides: [from, to]. Offer only. */
  direction?: readonly [string, string];
  ICE?: 'remove' | 'force' | 'default' | 'force-relay' | 'optional' | readonly string[];
  'transport-protocol'?: 'RTP/AVP' | 'RTP/AVPF' | 'RTP/SAVP' | 'RTP/SAVPF' | 'accept';
  'address-family'?: 'IP4' | 'IP6';
  /** The SIP message's source, used with the `SIP-source-address` flag (phones behind NAT). */
  'received-from'?: readonly ['IP4' | 'IP6', string];
  'media-address'?: string;
  /** How the RTP source is learned (default: rtpengine's --endpoint-learning, `delayed`). */
  'endpoint-learning'?: 'off' | 'immediate' | 'delayed' | 'heuristic';
  'rtcp-mux'?: readonly string[];
  label?: string;
}

export interface OfferOptions extends SdpOptions {
  callId: string;
  fromTag: string;
  sdp: string;
  viaBranch?: string;
}

export interface AnswerOptions extends SdpOptions {
  callId: string;
  fromTag: string;
  toTag: string;
  sdp: string;
  viaBranch?: string;
}

export interface DeleteOptions {
  callId: string;
  fromTag?: string;
  toTag?: string;
  viaBranch?: string;
  /** Seconds rtpengine keeps the call after the delete (its --delete-delay, 30 s by default); 0: at once. */
  deleteDelay?: number;
  /** An unknown call is an error (`fatal` flag) rather than `ok` with a `warning`. */
  fatal?: boolean;
  flags?: readonly string[];
  /** Any other ng key (e.g. `delete-delay` spelled by hand, `label`), passed as is. */
  extra?: NgDict;
}

/** The reply to offer/answer: the rewritten SDP, plus whatever else rtpengine said. */
export interface SdpReply extends NgReply {
  sdp: string;
}

export interface ListReply extends NgReply {
  calls: string[];
}

interface Instance {
  readonly target: RtpengineTarget;
  up: boolean;
}

interface Pending {
  readonly cookie: string;
  readonly bytes: Buffer;
  readonly command: string;
  readonly callId: string | undefined;
  /** Instance indices in the order to try them. */
  readonly order: number[];
  /** Position in `order` now being tried, and sends to it so far. */
  pos: number;
  sends: number;
  sentAt: number;
  /** Instances the request went to: a reply is taken from any of them (a late one after failover too). */
  readonly tried: Set<number>;
  timer: NodeJS.Timeout | undefined;
  readonly resolve: (r: { reply: NgReply; instance: number; rttMs: number }) => void;
  readonly reject: (e: MediaRelayError) => void;
}

/** An IPv4 UDP payload can be at most 65 507 bytes (65 535 − 20 IP − 8 UDP). */
const MAX_DATAGRAM = 65507;

/**
 * rtpengine over the ng protocol, with retransmission, failover between instances, calls that
 * stay on their instance, and a health check.
 *
 * @example
 * const rtpe = new RtpengineClient({ targets: ['udp:127.0.0.1:2223'] });
 * await rtpe.start();
 * const { sdp } = await rtpe.offer({ callId, fromTag, sdp: callerSdp, replace: ['origin', 'session-connection'] });
 */
export class RtpengineClient {
  readonly stats: RtpengineStats = { requests: 0, retransmissions: 0, failovers: 0, errors: 0, timeouts: 0, strays: 0 };
  private readonly list_: Instance[];
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly healthMs: number;
  private readonly maxCalls: number;
  private readonly sockets: { 4?: dgram.Socket; 6?: dgram.Socket } = {};
  private readonly pending = new Map<string, Pending>();
  /** call-id → the instance that serves it; insertion order is age (oldest evicted first). */
  private readonly calls = new Map<string, number>();
  private healthTimer: NodeJS.Timeout | undefined;
  private healthRunning = false;
  private state: 'new' | 'started' | 'closed' = 'new';

  constructor(private readonly opts: RtpengineClientOptions) {
    if (opts.targets.length === 0) throw new MediaRelayError('RTPENGINE_ERR_TARGET', 'no rtpengine target');
    this.list_ = opts.targets.map((t) => ({ target: parseRtpengineTarget(t), up: true }));
    this.timeoutMs = opts.timeoutMs ?? 500;
    this.retries = opts.retries ?? 2;
    this.healthMs = opts.healthCheckIntervalMs ?? 10_000;
    this.maxCalls = opts.maxCalls ?? 100_000;
    if (!(this.timeoutMs > 0) || !Number.isInteger(this.retries) || this.retries < 0) {
      throw new RangeError(`rtpengine client: timeoutMs must be > 0 and retries an integer ≥ 0 (got ${this.timeoutMs}, ${this.retries})`);
    }
  }

  /** Binds one UDP socket per address family the targets use, and starts the health check. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'started';
    for (const family of new Set(this.list_.map((i) => i.target.family))) {
      // ipv6Only: the v6 socket must not also take v4 traffic, which has its own socket.
      const s = dgram.createSocket(family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
      s.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port));
      s.on('error', (err) => this.opts.onError?.(err));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(0, family === 6 ? '::' : '0.0.0.0', () => {
          s.removeListener('error', reject);
          resolve();
        });
      });
      // A forgotten client must not keep the process alive; a pending request holds its timer.
      s.unref();
      this.sockets[family] = s;
    }
    if (this.healthMs > 0) {
      this.healthTimer = setInterval(() => void this.healthCheck(), this.healthMs);
      this.healthTimer.unref();
    }
  }

  /** Closes the sockets; pending requests fail with RTPENGINE_ERR_CLOSED. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const p of [...this.pending.values()]) this.finish(p, new MediaRelayError('RTPENGINE_ERR_CLOSED', `rtpengine client closed during ${p.command}`));
    await Promise.all(Object.values(this.sockets).map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** Each instance and whether it is taken for new calls. */
  instances(): { target: string; up: boolean }[] {
    return this.list_.map((i) => ({ target: i.target.text, up: i.up }));
  }

  /** The instance (its target string) a call is bound to, if any. */
  instanceOf(callId: string): string | undefined {
    const i = this.calls.get(callId);
    return i === undefined ? undefined : this.list_[i]!.target.text;
  }

  /**
   * Sends one ng command and resolves with the reply (`result` ok or pong), byte strings as
   * UTF-8 strings. `callId` (or `params['call-id']`) keeps the call on the instance that first
   * served it; rtpengine's `result: error` rejects with RTPENGINE_ERR_ERROR and its reason.
   */
  async request(command: string, params: NgDict = {}, callId?: string): Promise<NgReply> {
    return (await this.send(command, params, callId)).reply;
  }

  /**
   * Pings each instance (or the one named), marking it up on `pong` and down on silence.
   * Never rejects: each result says up or down.
   */
  async ping(target?: string): Promise<PingResult[]> {
    const which = target === undefined ? this.list_.map((_, i) => i) : [this.indexOf(target)];
    return Promise.all(
      which.map(async (i): Promise<PingResult> => {
        const text = this.list_[i]!.target.text;
        try {
          const r = await this.send('ping', {}, undefined, [i]);
          if (r.reply.result !== 'pong') throw new MediaRelayError('RTPENGINE_ERR_REPLY', `rtpengine ${text} answered ping with "${r.reply.result}"`);
          return { target: text, up: true, rttMs: r.rttMs };
        } catch (err) {
          const e = err instanceof MediaRelayError ? err : new MediaRelayError('RTPENGINE_ERR_REPLY', String(err), undefined, { cause: err });
          if (e.code !== 'RTPENGINE_ERR_CLOSED') this.mark(i, false);
          return { target: text, up: false, error: e };
        }
      }),
    );
  }

  /** `offer` (ng "offer Message"): the caller's SDP in, the SDP for the callee out. */
  async offer(o: OfferOptions): Promise<SdpReply> {
    return this.sdpCommand('offer', o);
  }

  /** `answer` (ng "answer Message"): the callee's SDP in, the SDP for the caller out. */
  async answer(o: AnswerOptions): Promise<SdpReply> {
    return this.sdpCommand('answer', o);
  }

  /**
   * `delete` (ng "delete Message"). Without `fatal`, rtpengine answers an unknown call with
   * `ok` and a `warning`; with it, an error. The call's stickiness is forgotten (unless only a
   * branch was deleted, the `to-tag` flag).
   */
  async delete(o: DeleteOptions): Promise<NgReply> {
    const { callId, fromTag, toTag, viaBranch, deleteDelay, fatal, flags, extra } = o;
    const allFlags = [...(flags ?? []), ...(fatal ? ['fatal'] : [])];
    const reply = await this.request('delete', { ...extra, 'from-tag': fromTag, 'to-tag': toTag, 'via-branch': viaBranch, 'delete-delay': deleteDelay, flags: allFlags.length > 0 ? allFlags : undefined }, callId);
    if (!allFlags.includes('to-tag')) this.calls.delete(callId);
    return reply;
  }

  /** `query` (ng "query Message"): the call's tags, media, streams and counters. */
  async query(o: { callId: string; fromTag?: string; toTag?: string }): Promise<NgReply> {
    return this.request('query', { 'from-tag': o.fromTag, 'to-tag': o.toTag }, o.callId);
  }

  /**
   * `list` (ng "list Message"): call-ids of one instance (the first up, or `target`); at most
   * `limit` (rtpengine's default 32 — a long list may not fit in a datagram).
   */
  async list(o: { limit?: number; target?: string } = {}): Promise<ListReply> {
    const order = o.target === undefined ? undefined : [this.indexOf(o.target)];
    const { reply } = await this.send('list', { limit: o.limit }, undefined, order);
    if (!Array.isArray(reply['calls'])) reply['calls'] = [];
    return reply as ListReply;
  }

  // -------------------------------------------------------------------------------------------

  private async sdpCommand(command: 'offer' | 'answer', o: OfferOptions | AnswerOptions): Promise<SdpReply> {
    const { callId, fromTag, toTag, viaBranch, ...rest } = o as OfferOptions & { toTag?: string };
    const reply = await this.request(command, { ...rest, 'from-tag': fromTag, 'to-tag': toTag, 'via-branch': viaBranch }, callId);
    if (typeof reply['sdp'] !== 'string') {
      this.stats.errors++;
      throw new MediaRelayError('RTPENGINE_ERR_REPLY', `rtpengine answered ${command} for ${callId} without an SDP`);
    }
    return reply as SdpReply;
  }

  private indexOf(target: string): number {
    const i = this.list_.findIndex((x) => x.target.text === target);
    if (i < 0) throw new MediaRelayError('RTPENGINE_ERR_TARGET', `"${target}" is not one of this client's targets`);
    return i;
  }

  /** The instances to try: the call's own (if up), the ones up in order, the ones down last. */
  private orderFor(callId: string | undefined): number[] {
    const own = callId === undefined ? undefined : this.calls.get(callId);
    const up = this.list_.flatMap((x, i) => (x.up ? [i] : []));
    const down = this.list_.flatMap((x, i) => (x.up ? [] : [i]));
    const head = own !== undefined && this.list_[own]!.up ? [own] : [];
    return [...head, ...up.filter((i) => i !== own || head.length === 0), ...down];
  }

  private send(command: string, params: NgDict, callId: string | undefined, order?: number[]): Promise<{ reply: NgReply; instance: number; rttMs: number }> {
    if (this.state !== 'started') return Promise.reject(new MediaRelayError('RTPENGINE_ERR_CLOSED', `rtpengine client ${this.state === 'new' ? 'not started' : 'closed'}`));
    this.stats.requests++;
    const cid = callId ?? (typeof params['call-id'] === 'string' ? params['call-id'] : undefined);
    let cookie: string;
    do cookie = pooledRandomBytes(8).toString('hex');
    while (this.pending.has(cookie));
    const body = bencode.encode({ ...params, command, 'call-id': cid });
    const bytes = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), body]);
    if (bytes.length > MAX_DATAGRAM) {
      this.stats.errors++;
      return Promise.reject(new MediaRelayError('RTPENGINE_ERR_TOO_LARGE', `rtpengine ${command}: ${bytes.length} bytes do not fit in a UDP datagram`));
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { cookie, bytes, command, callId: cid, order: order ?? this.orderFor(cid), pos: 0, sends: 0, sentAt: 0, tried: new Set(), timer: undefined, resolve, reject };
      this.pending.set(cookie, p);
      this.transmit(p);
    });
  }

  /** Sends (or resends) to the instance at `p.pos` and arms the timer for the next step. */
  private transmit(p: Pending): void {
    const idx = p.order[p.pos]!;
    const { address, port, family } = this.list_[idx]!.target;
    if (p.sends > 0) this.stats.retransmissions++;
    p.sends++;
    p.sentAt = performance.now();
    p.tried.add(idx);
    const pos = p.pos;
    const sends = p.sends;
    p.timer = setTimeout(() => this.step(p), this.timeoutMs);
    this.sockets[family]!.send(p.bytes, port, address, (err) => {
      // A datagram the kernel refuses (no route, …): no point waiting out the timer.
      if (err && this.pending.get(p.cookie) === p && p.pos === pos && p.sends === sends) this.failover(p);
    });
  }

  /** The timer ran out: resend, or move on once this instance had its retries. */
  private step(p: Pending): void {
    if (this.pending.get(p.cookie) !== p) return;
    if (p.sends <= this.retries) this.transmit(p);
    else this.failover(p);
  }

  private failover(p: Pending): void {
    clearTimeout(p.timer);
    this.mark(p.order[p.pos]!, false);
    if (p.pos + 1 < p.order.length) {
      this.stats.failovers++;
      p.pos++;
      p.sends = 0;
      this.transmit(p);
      return;
    }
    this.stats.timeouts++;
    const where = p.order.map((i) => this.list_[i]!.target.text).join(', ');
    this.finish(p, new MediaRelayError('RTPENGINE_ERR_TIMEOUT', `rtpengine ${p.command}${p.callId === undefined ? '' : ` for ${p.callId}`}: no reply from ${where} (${this.retries + 1} tries each, ${this.timeoutMs} ms apart)`));
  }

  private finish(p: Pending, outcome: MediaRelayError | { reply: NgReply; instance: number; rttMs: number }): void {
    clearTimeout(p.timer);
    this.pending.delete(p.cookie);
    if (outcome instanceof MediaRelayError) p.reject(outcome);
    else p.resolve(outcome);
  }

  private onDatagram(msg: Buffer, address: string, port: number): void {
    const parsed = parseDatagram(msg);
    const p = parsed && this.pending.get(parsed.cookie);
    const idx = p && [...p.tried].find((i) => this.list_[i]!.target.address === address && this.list_[i]!.target.port === port);
    if (!parsed || !p || idx === undefined) {
      this.stats.strays++;
      return;
    }
    const rttMs = performance.now() - p.sentAt;
    this.mark(idx, true);
    const d = parsed.dict;
    const text = this.list_[idx]!.target.text;
    if (typeof d['result'] !== 'string') {
      this.stats.errors++;
      this.finish(p, new MediaRelayError('RTPENGINE_ERR_REPLY', `rtpengine ${text} answered ${p.command} with something that is not an ng reply`));
      return;
    }
    if (d['result'] === 'error') {
      this.stats.errors++;
      const reason = typeof d['error-reason'] === 'string' ? d['error-reason'] : 'no error-reason given';
      this.finish(p, new MediaRelayError('RTPENGINE_ERR_ERROR', `rtpengine ${text} refused ${p.command}${p.callId === undefined ? '' : ` for ${p.callId}`}: ${reason}`, reason));
      return;
    }
    // The call now lives where it was served (after a failover, on the instance that answered).
    if (p.callId !== undefined && p.command !== 'delete') this.stick(p.callId, idx);
    this.finish(p, { reply: d as NgReply, instance: idx, rttMs });
  }

  private stick(callId: string, idx: number): void {
    this.calls.delete(callId); // re-insert: most recent last
    this.calls.set(callId, idx);
    if (this.calls.size > this.maxCalls) this.calls.delete(this.calls.keys().next().value!);
  }

  private mark(idx: number, up: boolean): void {
    const inst = this.list_[idx]!;
    if (inst.up === up) return;
    inst.up = up;
    this.opts.onInstanceState?.(inst.target.text, up);
  }

  private async healthCheck(): Promise<void> {
    if (this.healthRunning || this.state !== 'started') return; // a round still running: skip
    this.healthRunning = true;
    try {
      await this.ping();
    } finally {
      this.healthRunning = false;
    }
  }
}
