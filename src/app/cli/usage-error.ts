/**
 * A command-line mistake: printed as one line, exit code 2.
 *
 * @remarks App layer (`app/cli`).
 */
import { SipError } from '../../util/errors.js';
export class UsageError extends SipError {
  override name = 'UsageError';
  constructor(message: string) {
    super('USAGE_ERR', message);
  }
}
