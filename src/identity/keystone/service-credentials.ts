/**
 * Glimpse's own credentials for Keystone (`[keystone_authtoken] auth_type` and its options, as
 * keystoneauth's `password` and `v3applicationcredential` plugins read them), and the body of
 * the `POST /v3/auth/tokens` request that turns them into a service token.
 */

/** A domain, by id or by name. */
export type DomainRef = { readonly id: string } | { readonly name: string };

export type ServiceScope =
  | { readonly kind: 'project'; readonly project: { readonly id: string } | { readonly name: string; readonly domain: DomainRef } }
  | { readonly kind: 'domain'; readonly domain: DomainRef }
  | { readonly kind: 'system' }
  /** No scope asked: Keystone scopes the token to the user's default project, if any. */
  | { readonly kind: 'default' };

export type ServiceCredentials =
  | {
      readonly kind: 'password';
      readonly user: { readonly id: string } | { readonly name: string; readonly domain: DomainRef };
      readonly password: string;
      readonly scope: ServiceScope;
    }
  | {
      readonly kind: 'application_credential';
      readonly credential:
        { readonly id: string } | { readonly name: string; readonly user: { readonly id: string } | { readonly name: string; readonly domain: DomainRef } };
      readonly secret: string;
    };

function scopeBody(scope: ServiceScope): Record<string, unknown> {
  switch (scope.kind) {
    case 'project':
      return { scope: { project: scope.project } };
    case 'domain':
      return { scope: { domain: scope.domain } };
    case 'system':
      return { scope: { system: { all: true } } };
    case 'default':
      return {};
  }
}

/** The Keystone v3 authentication request for these credentials. */
export function authRequestBody(credentials: ServiceCredentials): Record<string, unknown> {
  if (credentials.kind === 'application_credential') {
    // An application credential carries its own scope; Keystone refuses one given with it.
    return { auth: { identity: { methods: ['application_credential'], application_credential: { ...credentials.credential, secret: credentials.secret } } } };
  }
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...credentials.user, password: credentials.password } } },
      ...scopeBody(credentials.scope),
    },
  };
}
