/**
 * A command-line mistake: printed as one line, exit code 2.
 *
 * @remarks App layer (`app/cli`).
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
