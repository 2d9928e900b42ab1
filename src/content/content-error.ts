/**
 * The error of a body that cannot be read as what its Content-Type says (a PUBLISH's PIDF, …):
 * the role answers 400 with its message. Codes: `CONTENT_ERR_XML` (not well-formed),
 * `CONTENT_ERR_PIDF` (not a PIDF document).
 *
 * @remarks Leaf (`content/`).
 */
import { SipError } from '../util/errors.js';

export class ContentError extends SipError {
  override name = 'ContentError';
}
