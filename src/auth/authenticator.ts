import type { Identity } from './request-context.js';

/**
 * Turns an `X-Auth-Token` into an identity. Two flavors implement it (`[paste_deploy] flavor`):
 * the embedded Keystone subset and a real Keystone validated the keystonemiddleware way.
 */
export interface Authenticator {
  /** The identity for a token, or null when the token is unknown, invalid or expired. */
  validate(token: string): Promise<Identity | null>;
  /** The Keystone URL clients are sent to on 401 (`WWW-Authenticate: Keystone uri="…"`). */
  wwwAuthenticateUri(requestBaseUrl: string): string;
}
