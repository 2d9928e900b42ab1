/**
 * The registrar as a transaction user of the server's element: REGISTER passes the UAS checks
 * of RFC 3261 §8.2, and one without credentials is challenged before any transaction exists
 * (§8.2.7: a flood of them makes no state, §26.1.5).
 *
 * @remarks Role (`roles/registrar`).
 */
import type { SipRequest } from '../../sip/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SipElement, TransactionUser, UasPolicy } from '../../tu/index.js';
import type { Registrar } from './registrar.js';

export class RegistrarUser implements TransactionUser {
  /** REGISTERs being written to the store (a stop waits for them). */
  readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly registrar: Registrar,
    private readonly element: SipElement,
    readonly uas: UasPolicy,
    /** Challenge a REGISTER without credentials statelessly (`registrar.authenticate`). */
    private readonly challengeStatelessly: boolean,
  ) {}

  receiveStateless(req: SipRequest): boolean {
    if (!this.challengeStatelessly) return false;
    return this.element.uas.answerStatelessly(req, this.uas, (r) => this.registrar.statelessChallenge(r));
  }

  receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    const respond = (status: number, o: { reason?: string; headers?: Array<[string, string]> } = {}) => {
      this.element.uas.respond(tx, req, status, o);
    };
    const p = this.registrar.handle(req, respond).catch((e: unknown) => this.element.requestFailed('registrar', req, tx, e, 'Registrar Store Error'));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }
}
