import type { FastifyPluginCallback } from 'fastify';
import type { Db } from '../db/database.js';
import { requestBaseUrl } from '../http/app.js';
import { EmbeddedAuthenticator } from '../identity/embedded/embedded-authenticator.js';
import type { EmbeddedUser } from '../identity/embedded/embedded-users.js';
import { identityRoutes } from '../http/routes/identity-routes.js';
import { TokenStore } from '../identity/embedded/token-store.js';
import { KeystoneAuthenticator } from '../identity/keystone/keystone-authenticator.js';
import { ConfigError } from '../config/config-error.js';
import { PolicyEnforcer } from '../policy/policy-enforcer.js';
import { ProtectionRules } from '../protections/protection-rules.js';
import { ProtectionsHolder } from '../protections/protections-holder.js';
import type { ProcessSettings } from './settings-from-config.js';
import type { IdentitySetup } from './create-server.js';
import type { ServerSettings } from './server-settings.js';

/** The policy engine for these settings: Glance's Zed defaults plus the operator's overrides. */
export function buildPolicy(settings: ServerSettings): PolicyEnforcer {
  return new PolicyEnforcer({ enforceNewDefaults: settings.enforceNewDefaults, enforceScope: settings.enforceScope, overrides: settings.policyOverrides });
}

export interface EmbeddedIdentityOptions {
  readonly db: Db;
  readonly users: readonly EmbeddedUser[];
  readonly tokenExpirationSeconds: number;
  readonly publicEndpoint: string | null;
  /** The embedded key manager is served, so the catalog lists it. */
  readonly keyManager: boolean;
}

/** The embedded flavor: tokens issued and checked here, the Keystone subset under /identity/v3. */
export function embeddedIdentity(options: EmbeddedIdentityOptions): IdentitySetup {
  const tokens = new TokenStore(options.db, options.tokenExpirationSeconds);
  const routes: FastifyPluginCallback = (app, _opts, done) => {
    void app.register(identityRoutes, {
      users: options.users,
      tokens,
      baseUrl: (request) => requestBaseUrl(request, options.publicEndpoint),
      keyManager: options.keyManager,
    });
    done();
  };
  return { authenticator: new EmbeddedAuthenticator(tokens), routes };
}

/** The identity flavor chosen by `[paste_deploy] flavor`. */
export function buildIdentity(
  process: ProcessSettings,
  users: readonly EmbeddedUser[],
  db: Db,
  publicEndpoint: string | null,
  keyManager: boolean,
  warn: (message: string) => void,
): IdentitySetup {
  if (process.flavor === 'keystone') {
    if (process.keystone === null) throw new ConfigError('[keystone_authtoken] auth_url is required with flavor keystone');
    return { authenticator: new KeystoneAuthenticator({ ...process.keystone, warn }) };
  }
  return embeddedIdentity({ db, users, tokenExpirationSeconds: process.tokenExpirationSeconds, publicEndpoint, keyManager });
}

/** Property protections from the settings, or null when `property_protection_file` is unset. */
export function buildProtections(settings: ServerSettings, policy: PolicyEnforcer): ProtectionsHolder | null {
  const { file, format } = settings.propertyProtection;
  if (file === null) return null;
  const load = (): ProtectionRules => ProtectionRules.load(file, format, policy);
  return new ProtectionsHolder(load(), load);
}
