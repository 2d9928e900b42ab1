/**
 * The next hop of a request (RFC 3261 §8.1.2, §12.2.1.1, §16.6 steps 6–7): the URI of the first
 * Route when there is one, else the Request-URI. One function for the user agent, the dialog
 * usages and the proxy, so that every floor resolves the same hop (RFC 3263) for a request.
 *
 * @remarks TU building block (`dialog/`).
 */
import { parseNameAddr } from '../sip/index.js';

export function nextHop(routes: readonly string[], requestUri: string): string {
  return routes.length > 0 ? parseNameAddr(routes[0]!, 'Route').uriText : requestUri;
}
