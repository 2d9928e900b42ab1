/**
 * The gateway's outbound side (docs/gateway.md): a call from the telephone network behind the
 * gateway to NUMBER goes by the outbound dial-peers that match it, in hunt order
 * (docs/dialplan.md) — each with its outgoing translation of the called and the calling number,
 * its session target and transport, its codecs and its DTMF relay — moving on for the failures
 * the plan hunts on. The INVITE carries what the `sip-ua` settings say: the calling number in From
 * and, when configured, in `Remote-Party-ID` (draft-ietf-sip-privacy-04, as Cisco sends it) and
 * `P-Asserted-Identity` / `P-Preferred-Identity` (RFC 3325); an `Expires` (`timers expires`);
 * the Max-Forwards of the element. A 3xx is followed to its Contacts (highest q first) when
 * `redirection` is on, else it ends the attempt as a failure (Q.850 cause 23).
 *
 * @remarks Role (`roles/gateway`).
 */
import { type CauseMapping, type DialPeer, type DialPlan, DialPlanError, causeForSipStatus, parseQ850Reason, peerTarget } from '../../dialplan/index.js';
import { notifyCallInfo } from '../../media/index.js';
import type { SipResponse } from '../../sip/index.js';
import { syntheticCause } from '../../transaction/index.js';
import { huntCause } from '../proxy/index.js';
import { type Call, type UserAgent, redirectTargets } from '../user-agent/index.js';

export interface OutboundSettings {
  /** The host of the From, Remote-Party-ID and P-Asserted-Identity URIs. */
  domain: string;
  /** `sip-ua` / `redirection`: follow a 3xx to its Contacts. */
  redirection: boolean;
  /** `sip-ua` / `remote-party-id`: a `Remote-Party-ID` with the calling number. */
  remotePartyId: boolean;
  /** `voice service voip` / `sip` / `asserted-id pai|ppi`: `P-Asserted-Identity` or `P-Preferred-Identity` (RFC 3325). */
  assertedId?: 'pai' | 'ppi';
  /** `sip-ua` / `timers expires` (ms in IOS): the INVITE's `Expires`, seconds; 0: none. */
  inviteExpires: number;
  /** `notify telephone-event max-duration`: the Duration offered for NOTIFY-based DTMF relay, ms. */
  notifyMaxDuration: number;
  /** The registrar (`session target registrar`: calls go to it). */
  registrar?: string;
  causes: CauseMapping;
}

/** One attempt of the hunt: the dial-peer, the Request-URI, and how it ended. */
export interface OutboundAttempt {
  peer: number;
  uri: string;
  status: number;
  reason: string;
}

export interface OutboundCall {
  /** The answered call, if one was. */
  call?: Call;
  /** The dial-peer that took the call (or the last one tried). */
  peer?: DialPeer;
  /** The final status: 200 when answered, else what the telephone network is told (as SIP). */
  status: number;
  reason: string;
  /** The Q.850 cause for the telephone network (RFC 3398 §8.2.6.1, `set sip-status`); 16 when answered. */
  cause: number;
  attempts: OutboundAttempt[];
}

/** Most 3xx redirections followed within one dial-peer's attempt (loops end here). */
const MAX_REDIRECTS = 5;

export class OutboundCalls {
  constructor(
    private readonly ua: UserAgent,
    private readonly settings: OutboundSettings,
    private readonly dialPlan: () => DialPlan | undefined,
    /** Is this dial-peer busied out by its options-keepalive? */
    private readonly busiedOut: (peer: DialPeer) => boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** A call from the telephone network to `called`, from `calling`. */
  async place(called: string, calling: string | undefined): Promise<OutboundCall> {
    const plan = this.dialPlan();
    const attempts: OutboundAttempt[] = [];
    if (!plan) return this.unrouted(called, 'no dial plan', attempts);
    const matches = plan.outbound(called);
    if (matches.length === 0) return this.unrouted(called, 'no outbound dial-peer matches', attempts);
    let last: OutboundCall | undefined;
    for (const { peer } of matches) {
      if (this.busiedOut(peer)) {
        this.log(`gateway: ${called}: dial-peer ${peer.tag} is busied out (options-keepalive): skipped`);
        continue;
      }
      const t = plan.translate(peer, 'outgoing', 'called', called);
      if (t.kind === 'rejected') {
        this.log(`gateway: ${called}: rejected by rule ${t.rule} of dial-peer ${peer.tag}: skipped`);
        continue;
      }
      const c = calling === undefined ? undefined : plan.translate(peer, 'outgoing', 'calling', calling);
      const from = c?.kind === 'translated' ? c.number : calling;
      let uri: string;
      try {
        const target = peerTarget(plan, peer, t.number);
        if (target.kind === 'registrar') {
          const host = /^sips?:(?:[^@]*@)?([^;>]+)/.exec(this.settings.registrar ?? '')?.[1];
          if (host === undefined) throw new DialPlanError('DIALPLAN_ERR_PLAN', 'session target registrar, but the gateway has no registrar');
          uri = `sip:${t.number}@${host}${peer.sessionTransport && peer.sessionTransport !== 'udp' ? `;transport=${peer.sessionTransport}` : ''}`;
        } else uri = target.uri;
      } catch (e) {
        this.log(`gateway: ${called}: dial-peer ${peer.tag}: ${(e as Error).message}: skipped`);
        continue;
      }
      plan.used(peer);
      const r = await this.attempt(peer, uri, from, plan.noAnswerTimeoutMs, attempts);
      last = { ...r, peer, attempts };
      if (r.call) {
        // The URI that answered: after a 3xx, the Contact it redirected to.
        this.log(`gateway: ${called}${t.number !== called ? ` (translated ${t.number})` : ''}: answered on dial-peer ${peer.tag} (${attempts[attempts.length - 1]!.uri})`);
        return last;
      }
      const cause = r.noAnswer || !r.response ? 'timeout' : huntCause(r.response);
      const go = plan.huntsOn(peer, cause);
      this.log(`gateway: ${called}: dial-peer ${peer.tag} failed (${cause}): ${go ? 'next dial-peer' : peer.huntstop ? 'huntstop: the hunt ends' : 'not a cause to hunt on: the hunt ends'}`);
      if (!go) break;
    }
    if (!last) return this.unrouted(called, 'no usable dial-peer', attempts);
    return last;
  }

  private unrouted(called: string, why: string, attempts: OutboundAttempt[]): OutboundCall {
    // Q.850 cause 1, unallocated (unassigned) number (RFC 3398 §7.2.4.1 maps it to 404).
    this.log(`gateway: ${called}: ${why}: Q.850 cause 1 (unallocated number)`);
    return { status: 404, reason: 'Not Found', cause: 1, attempts };
  }

  /** One dial-peer: the INVITE, and the 3xx it is redirected by when `redirection` is on. */
  private async attempt(peer: DialPeer, uri: string, calling: string | undefined, noAnswerMs: number, attempts: OutboundAttempt[]): Promise<{ call?: Call; response?: SipResponse; noAnswer?: boolean; status: number; reason: string; cause: number }> {
    const s = this.settings;
    let target = uri;
    const visited = new Set<string>([uri]);
    for (let redirects = 0; ; redirects++) {
      let sdp: string;
      try {
        sdp = this.ua.offer(peer.codecs);
      } catch (e) {
        this.log(`gateway: dial-peer ${peer.tag}: codec ${peer.codecs?.join(', ')}: ${(e as Error).message}; offering every codec`);
        sdp = this.ua.offer();
      }
      let noAnswer = false;
      let timer: NodeJS.Timeout | undefined;
      const call = await this.ua.invite(target, {
        sdp,
        from: calling === undefined ? undefined : `sip:${calling}@${s.domain}`,
        headers: this.identityHeaders(peer, calling),
        onCall: (c) => {
          // `dial-peer no-answer-timeout`: CANCEL after the time, then the next peer (RFC 3261 §9.1).
          if (noAnswerMs > 0) timer = setTimeout(() => {
            noAnswer = true;
            void c.cancel();
          }, noAnswerMs);
        },
      });
      clearTimeout(timer);
      const res = call.finalResponse;
      const status = call.established ? 200 : (res?.status ?? 500);
      const reason = call.established ? 'OK' : (res?.reason ?? 'No Response');
      attempts.push({ peer: peer.tag, uri: target, status, reason: syntheticCause(res!) ? `${reason} (${syntheticCause(res!)})` : reason });
      if (call.established) return { call, status, reason, cause: 16 };
      if (status >= 300 && status < 400 && res) {
        if (!s.redirection) {
          this.log(`gateway: dial-peer ${peer.tag}: ${status} ${reason}, redirection off: Q.850 cause 23 (redirection to new destination)`);
          return { response: res, status, reason, cause: 23 };
        }
        const next = redirectTargets(res).find((c) => !visited.has(c));
        if (next !== undefined && redirects < MAX_REDIRECTS) {
          this.log(`gateway: dial-peer ${peer.tag}: ${status} ${reason}: redirected to ${next}`);
          visited.add(next);
          target = next;
          continue;
        }
        this.log(`gateway: dial-peer ${peer.tag}: ${status} ${reason}: ${next === undefined ? 'no new Contact' : `more than ${MAX_REDIRECTS} redirections`}`);
      }
      // RFC 3326 §2: a Reason with the Q.850 cause the far end's network gave wins over the mapping.
      const cause = parseQ850Reason(res?.header('Reason')) ?? causeForSipStatus(status, s.causes);
      return { response: res, noAnswer, status, reason, cause };
    }
  }

  /** Calling-party identity and the rest of the `sip-ua` headers of an outbound INVITE. */
  private identityHeaders(peer: DialPeer, calling: string | undefined): Array<[string, string]> {
    const s = this.settings;
    const h: Array<[string, string]> = [];
    if (calling !== undefined) {
      const uri = `<sip:${calling}@${s.domain}>`;
      if (s.remotePartyId) h.push(['Remote-Party-ID', `${uri};party=calling;screen=no;privacy=off`]);
      if (s.assertedId === 'pai') h.push(['P-Asserted-Identity', uri]);
      if (s.assertedId === 'ppi') h.push(['P-Preferred-Identity', uri]);
    }
    if (s.inviteExpires > 0) h.push(['Expires', String(s.inviteExpires)]);
    if (peer.dtmfRelay?.includes('sip-notify')) h.push(['Call-Info', notifyCallInfo(this.ua.element.uac.contactUri('udp'), s.notifyMaxDuration)]);
    return h;
  }
}
