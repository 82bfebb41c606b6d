import type { Identity } from './request-context.js';

export interface ValidateOptions {
  /**
   * Accept a token past its expiry, as Keystone's `allow_expired` does. Only asked for when a
   * service token with a service role vouches for the request (keystonemiddleware's rule), so a
   * long operation a service runs for a user is not cut off by the user's token expiring.
   */
  readonly allowExpired?: boolean;
}

/** A service token (X-Service-Token) that the identity service confirmed. */
export interface ServiceTokenCheck {
  readonly identity: Identity;
  /** It holds one of `service_token_roles`, so the user's token may be expired. */
  readonly vouchesForExpired: boolean;
}

/**
 * Turns an `X-Auth-Token` into an identity. Two flavors implement it (`[paste_deploy] flavor`):
 * the embedded Keystone subset and a real Keystone validated the keystonemiddleware way.
 */
export interface Authenticator {
  /** The identity for a token, or null when the token is unknown, invalid or expired. */
  validate(token: string, options?: ValidateOptions): Promise<Identity | null>;
  /** A service token, or null when it is not valid as one. */
  checkServiceToken(token: string): Promise<ServiceTokenCheck | null>;
  /** The Keystone URL clients are sent to on 401 (`WWW-Authenticate: Keystone uri="…"`). */
  wwwAuthenticateUri(requestBaseUrl: string): string;
  /** Lets go of connections to the identity service. */
  close(): void;
}
