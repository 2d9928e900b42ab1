/**
 * Exhaustiveness check for switches over string unions (STYLE §11.1, §18.3).
 *
 * @remarks Layer 3 (`transaction/`). Lives here until `util/assert-never.ts` exists.
 */
import { StateError } from '../util/errors.js';

export function assertNever(x: never, what = 'value'): never {
  throw new StateError('SIP_ERR_UNREACHABLE', `Unexpected ${what}: ${JSON.stringify(x)}`);
}
