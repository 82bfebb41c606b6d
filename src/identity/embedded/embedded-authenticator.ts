import type { Authenticator } from '../../auth/authenticator.js';
import type { Identity } from '../../auth/request-context.js';
import type { TokenStore } from './token-store.js';

/** The embedded flavor: tokens are the ones this server issued under /identity/v3. */
export class EmbeddedAuthenticator implements Authenticator {
  constructor(private readonly tokens: TokenStore) {}

  validate(token: string): Promise<Identity | null> {
    return this.tokens.validate(token);
  }

  wwwAuthenticateUri(requestBaseUrl: string): string {
    return `${requestBaseUrl}/identity/v3`;
  }
}
