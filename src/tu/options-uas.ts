/**
 * The server's own UAS (RFC 3261 §11): a request addressed to the server itself — an OPTIONS
 * ping from a peer or a monitoring system — is answered with what the server does (Allow,
 * Accept, Supported, §11.2). Anything else it is sent gets 405 with Allow from the §8.2 checks.
 *
 * @remarks Layer 4 (`tu/`). A {@link TransactionUser} of the server's element.
 */
import type { SipRequest } from '../sip/index.js';
import type { ServerTransaction } from '../transaction/index.js';
import type { TransactionUser } from './element.js';
import type { UasCore, UasPolicy } from './uas-core.js';

export class OptionsUas implements TransactionUser {
  constructor(
    private readonly core: UasCore,
    readonly uas: UasPolicy,
  ) {}

  receiveRequest(req: SipRequest, tx: ServerTransaction): void {
    const allow: [string, string] = ['Allow', this.uas.allow.join(', ')];
    if (req.method !== 'OPTIONS') return void this.core.respond(tx, req, 405, { headers: [allow] });
    this.core.respond(tx, req, 200, { headers: [allow, ['Accept', this.uas.accept.join(', ')], ['Supported', this.uas.supported.join(', ')]] });
  }
}
