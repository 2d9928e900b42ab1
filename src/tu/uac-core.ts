/**
 * The UAC core (RFC 3261 §8.1): where a request goes (RFC 3263 resolution and failover, §8.1.2),
 * the Via and Contact it carries (§8.1.1.7–8), sending it through a client transaction, and the
 * retry with credentials after a 401/407 (§22.2).
 *
 * @remarks Layer 4 (`tu/`). Owned by the {@link SipElement}; used by every TU that sends
 * requests: the user agent, the proxy's branches, and the dialog usages above.
 */
import { answerChallenge, formatCredentials, selectChallenge } from '../auth/index.js';
import { type HeaderList, type SipRequest, type SipResponse, type SipUri, parseUri } from '../sip/index.js';
import { type ClientTransaction, type TransactionLayer, syntheticCause } from '../transaction/index.js';
import { type Destination, type Resolver, type TransportKind, type TransportLayer, kindFromToken, viaToken } from '../transport/index.js';
import { RequestError } from '../util/errors.js';
import { newBranch } from '../util/ids.js';

/** A destination plus a flow to reuse when one is known (in-dialog requests, §18). */
export type Target = Destination & { flowId?: number };

export interface SendOptions {
  /** Called for each provisional response. */
  onProvisional?: (res: SipResponse) => void;
  /** Called for every 2xx after the first (forked 2xx, retransmissions, RFC 6026 §7.2). */
  onExtra2xx?: (res: SipResponse) => void;
  /** Called with the client transaction when it is created (for CANCEL). */
  onTransaction?: (tx: ClientTransaction, target: Target) => void;
}

export interface SendResult {
  response: SipResponse;
  request: SipRequest;
  target: Target;
}

/** A username and password to answer digest challenges with (RFC 3261 §22.2). */
export interface Credentials {
  username: string;
  password: string;
}

export class UacCore {
  constructor(
    private readonly transactions: TransactionLayer,
    private readonly transport: TransportLayer,
    readonly resolver: Resolver,
    /** The Max-Forwards of the requests this element originates (RFC 3261 §8.1.1.6: 70; IOS `sip-ua` `max-forwards`). */
    readonly maxForwards = 70,
  ) {}

  /** Resolves a URI to destinations (RFC 3263), honouring `transport=` and our listeners. */
  async resolve(uriText: string, preferred?: TransportKind): Promise<Target[]> {
    const u = this.targetUri(uriText, preferred);
    return this.usable(this.resolver.resolveLocal(u) ?? (await this.resolver.resolve(u)));
  }

  /** {@link resolve} without waiting, when no DNS is needed (numeric IP, static host map). */
  resolveSync(uriText: string, preferred?: TransportKind): Target[] | undefined {
    const local = this.resolver.resolveLocal(this.targetUri(uriText, preferred));
    return local ? this.usable(local) : undefined;
  }

  private targetUri(uriText: string, preferred?: TransportKind): SipUri {
    const uri = parseUri(uriText, 'target');
    if (uri.kind !== 'sip') throw new RequestError('UA_ERR_NO_ROUTE', `cannot route to a ${uri.scheme}: URI without a dial plan`);
    if (kindFromToken(uri.transport) || !preferred) return uri;
    const u = uri.clone();
    u.params.set('transport', preferred);
    return u;
  }

  private usable(list: Target[]): Target[] {
    return list.filter((d) => this.transport.hasListener(d.kind) || d.kind === 'tcp' || d.kind === 'tls' || d.kind === 'ws' || d.kind === 'wss');
  }

  /** A top Via for a new client transaction (§8.1.1.7), with `rport` (RFC 3581 §3). */
  via(kind: TransportKind): string {
    const sb = this.transport.viaSentBy(this.transport.hasListener(kind) ? kind : 'udp');
    return `SIP/2.0/${viaToken(kind)} ${sb.host}:${sb.port};branch=${newBranch()};rport`;
  }

  /** Our Contact URI for a transport (§8.1.1.8). */
  contactUri(kind: TransportKind, user = 'switchboard'): string {
    const k = this.transport.hasListener(kind) ? kind : 'udp';
    const sb = this.transport.sentBy(k);
    return `sip:${user}@${sb.host}:${sb.port}${k === 'udp' ? '' : `;transport=${k}`}`;
  }

  /** Sends an ACK or a forwarded request without a transaction (§17.1.1.3, §16.11). */
  sendStateless(req: SipRequest, destination: Target): void {
    this.transactions.sendStateless(req, { kind: 'request-destination', destination });
  }

  /**
   * Sends a request through a client transaction and resolves with its final response —
   * always a response: a timeout is a synthetic 408, a transport failure a synthetic 503
   * (RFC 3261 §8.1.3.1). `build` is called per attempt with the destination, so each retry
   * to the next RFC 3263 target (§4.3 failover on 503/transport error) gets a fresh Via.
   */
  async send(targets: Target[], build: (target: Target) => SipRequest, opts: SendOptions = {}): Promise<SendResult> {
    if (targets.length === 0) throw new RequestError('UA_ERR_NO_DESTINATION', 'no destination for the request');
    let last: SendResult | undefined;
    for (const target of targets) {
      const request = build(target);
      const response = await new Promise<SipResponse>((resolve) => {
        let done = false;
        const tx = this.transactions.sendRequest(request, {
          onResponse: (res) => {
            if (res.status < 200) {
              if (!done) opts.onProvisional?.(res);
              return;
            }
            if (done) {
              if (res.status < 300) opts.onExtra2xx?.(res);
              return;
            }
            done = true;
            resolve(res);
          },
        }, { destination: target });
        opts.onTransaction?.(tx, target);
      });
      last = { response, request, target };
      const failover = syntheticCause(response) === 'transport-error' || response.status === 503;
      if (!failover) return last;
    }
    return last!;
  }

  /**
   * {@link send}, answering digest challenges (RFC 3261 §22.2): after a 401/407 the request is
   * built again with the credentials and the next CSeq (`build`'s `attempt` counts from 0). A
   * second challenge for a realm already answered ends it (wrong password), unless only the
   * nonce was stale (RFC 7616 §3.3). At most two retries.
   */
  async sendAuthenticated(
    targets: Target[],
    build: (target: Target, auth: HeaderList, attempt: number) => SipRequest,
    credentials: Credentials | undefined,
    opts: SendOptions = {},
  ): Promise<SendResult> {
    let auth: HeaderList = [];
    const tried = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      const result = await this.send(targets, (t) => build(t, auth, attempt), opts);
      const st = result.response.status;
      if ((st !== 401 && st !== 407) || !credentials || attempt >= 2) return result;
      const challenge = selectChallenge(result.response.headers(st === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate'));
      if (!challenge) return result;
      if (tried.has(challenge.realm) && !challenge.stale) return result;
      tried.add(challenge.realm);
      const { method, uriText } = result.request;
      const cred = answerChallenge(challenge, { username: credentials.username, password: credentials.password, method, uri: uriText });
      auth = [[st === 401 ? 'Authorization' : 'Proxy-Authorization', formatCredentials(cred)]];
    }
  }
}
