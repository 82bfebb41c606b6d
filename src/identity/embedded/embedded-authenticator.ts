import type { Authenticator, ServiceTokenCheck } from '../../auth/authenticator.js';
import type { Identity } from '../../auth/request-context.js';
import type { TokenStore } from './token-store.js';

/** The embedded flavor: tokens are the ones this server issued under /identity/v3. */
export class EmbeddedAuthenticator implements Authenticator {
  constructor(private readonly tokens: TokenStore) {}

  validate(token: string): Promise<Identity | null> {
    return this.tokens.validate(token);
  }

  /** Any live embedded token may be sent as a service token; expired user tokens stay refused. */
  async checkServiceToken(token: string): Promise<ServiceTokenCheck | null> {
    const identity = await this.tokens.validate(token);
    return identity === null ? null : { identity, vouchesForExpired: false };
  }

  wwwAuthenticateUri(requestBaseUrl: string): string {
    return `${requestBaseUrl}/identity/v3`;
  }

  close(): void {
    // Tokens live in the database, which the server closes.
  }
}
