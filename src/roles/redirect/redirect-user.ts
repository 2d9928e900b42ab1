/**
 * The redirect server as a transaction user of the server's element (RFC 3261 §8.3): every
 * request routed to it is answered with 3xx and the contacts, or 404 / 480.
 *
 * @remarks Role (`roles/redirect`).
 */
import type { SipRequest } from '../../sip/index.js';
import type { ServerTransaction } from '../../transaction/index.js';
import type { SipElement, TransactionUser } from '../../tu/index.js';
import type { RedirectServer } from './redirect-server.js';

export class RedirectUser implements TransactionUser {
  constructor(
    private readonly redirect: RedirectServer,
    private readonly element: SipElement,
  ) {}

  receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    this.redirect.decide(req).then(
      (d) => this.element.uas.respond(tx, req, d.status, { reason: d.reason, headers: d.headers }),
      (e: unknown) => this.element.requestFailed('redirect', req, tx, e, 'Redirect Store Error'),
    ).catch((e: unknown) => this.element.requestFailed('redirect', req, tx, e));
  }
}
