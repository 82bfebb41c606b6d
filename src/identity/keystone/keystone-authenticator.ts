import { createHash } from 'node:crypto';
import type { Authenticator, ServiceTokenCheck, ValidateOptions } from '../../auth/authenticator.js';
import type { CatalogService, Identity } from '../../auth/request-context.js';
import { ServiceUnavailableError } from '../../errors/domain-errors.js';
import { KeystoneHttp, type KeystoneHttpOptions } from './keystone-http.js';
import { authRequestBody, type ServiceCredentials } from './service-credentials.js';
import { identityFromTokenBody } from './token-body.js';
import { VersionDiscovery } from './version-discovery.js';

/** `[keystone_authtoken]`, parsed (src/identity/keystone/keystone-settings.ts). */
export interface KeystoneAuthenticatorOptions {
  /** `auth_url`, with or without a version: the v3 API is discovered from it. */
  readonly authUrl: string;
  /** `www_authenticate_uri`, sent as configured in `WWW-Authenticate` on 401. */
  readonly wwwAuthenticateUri: string;
  readonly credentials: ServiceCredentials;
  /** `interface` and `region_name`: which identity endpoint of the service token's catalog validates tokens. */
  readonly interface: string;
  readonly regionName: string | null;
  readonly http: KeystoneHttpOptions;
  /** `token_cache_time`: seconds a validation is reused; ≤ 0 disables the cache. */
  readonly tokenCacheSeconds: number;
  /** `service_token_roles`: a service token holding one of these may vouch for an expired user token. */
  readonly serviceTokenRoles: readonly string[];
  /** `service_token_roles_required`: a service token without one of them is refused. */
  readonly serviceTokenRolesRequired: boolean;
  /** `include_service_catalog`: ask Keystone for the user's catalog (X-Service-Catalog). */
  readonly includeServiceCatalog: boolean;
  readonly now?: () => Date;
  readonly warn?: (message: string) => void;
}

interface CacheEntry {
  readonly identity: Identity | null;
  readonly until: number;
}

interface ServiceSession {
  readonly token: string;
  /** When to get a new one: well before Keystone would expire it. */
  readonly renewAt: number;
  readonly catalog: readonly CatalogService[];
  validationEndpoint: Promise<string> | null;
}

/** Invalid tokens are remembered briefly, so a flood of bad tokens does not become a flood on Keystone. */
const NEGATIVE_CACHE_MS = 10_000;
const MAX_CACHE_ENTRIES = 10_000;
/** keystoneauth renews a token that expires within two minutes; short-lived ones at half their life. */
const RENEW_MARGIN_MS = 120_000;

/**
 * The keystone flavor: validates X-Auth-Token against a real Keystone v3 the way
 * keystonemiddleware does (reference §16.1). Glimpse logs in with `[keystone_authtoken]`'s
 * credentials, renews that service token before it expires (and once more after a 401), and asks
 * `GET /v3/auth/tokens` at the identity endpoint of its catalog about each user token. Results are
 * cached for token_cache_time, never past the token's own expiry; tokens are cached by digest and
 * never logged. When Keystone is down or slow, cached tokens keep working and unknown ones get 503.
 */
export class KeystoneAuthenticator implements Authenticator {
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<Identity | null>>();
  readonly #http: KeystoneHttp;
  readonly #discovery: VersionDiscovery;
  readonly #now: () => Date;
  #session: ServiceSession | null = null;
  #sessionPending: Promise<ServiceSession> | null = null;
  #serviceTokensIssued = 0;
  #warnedWeakServiceToken = false;

  constructor(private readonly options: KeystoneAuthenticatorOptions) {
    this.#now = options.now ?? (() => new Date());
    this.#http = new KeystoneHttp(options.http);
    this.#discovery = new VersionDiscovery(this.#http);
  }

  /** How many service tokens Glimpse has obtained so far (renewals show as increments). */
  get serviceTokensIssued(): number {
    return this.#serviceTokensIssued;
  }

  wwwAuthenticateUri(): string {
    return this.options.wwwAuthenticateUri;
  }

  async validate(token: string, options: ValidateOptions = {}): Promise<Identity | null> {
    const allowExpired = options.allowExpired === true;
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#now().getTime();
    const cached = this.#cache.get(key);
    // Negative entries do not answer allow_expired questions: "expired" is what they may say.
    if (cached !== undefined && cached.until > now && (cached.identity !== null || !allowExpired)) return cached.identity;
    const flightKey = `${allowExpired ? 'e' : 'v'}${key}`;
    const pending = this.#inFlight.get(flightKey);
    if (pending !== undefined) return pending;
    const lookup = this.#ask(token, allowExpired, true)
      .then((identity) => {
        this.#remember(key, identity, this.#now().getTime());
        return identity;
      })
      .finally(() => this.#inFlight.delete(flightKey));
    this.#inFlight.set(flightKey, lookup);
    return lookup;
  }

  async checkServiceToken(token: string): Promise<ServiceTokenCheck | null> {
    const identity = await this.validate(token);
    if (identity === null) return null;
    const wanted = new Set(this.options.serviceTokenRoles.map((r) => r.toLowerCase()));
    const vouches = identity.roles.some((r) => wanted.has(r));
    if (!vouches && this.options.serviceTokenRolesRequired) return null;
    if (!vouches && !this.#warnedWeakServiceToken) {
      this.#warnedWeakServiceToken = true;
      this.options.warn?.(
        `a valid token without any of service_token_roles (${this.options.serviceTokenRoles.join(', ')}) was sent as X-Service-Token; it is accepted (service_token_roles_required = false) but cannot vouch for expired user tokens`,
      );
    }
    return { identity, vouchesForExpired: vouches };
  }

  close(): void {
    this.#http.close();
  }

  #remember(key: string, identity: Identity | null, now: number): void {
    const cacheMs = this.options.tokenCacheSeconds * 1000;
    const until = identity === null ? now + NEGATIVE_CACHE_MS : Math.min(now + cacheMs, identity.expiresAt.getTime());
    // An expired token accepted on a service token's word is not cached: the next request asks again.
    if (identity !== null && (cacheMs <= 0 || until <= now)) return;
    this.#cache.delete(key);
    if (this.#cache.size >= MAX_CACHE_ENTRIES) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { identity, until });
  }

  async #ask(token: string, allowExpired: boolean, retry: boolean): Promise<Identity | null> {
    const session = await this.#serviceSession();
    const endpoint = await this.#validationEndpoint(session);
    const query = [allowExpired ? 'allow_expired=1' : '', this.options.includeServiceCatalog ? '' : 'nocatalog'].filter((q) => q !== '').join('&');
    const response = await this.#http.request('GET', `${endpoint}/auth/tokens${query === '' ? '' : `?${query}`}`, {
      'X-Auth-Token': session.token,
      'X-Subject-Token': token,
    });
    if (response.status === 401) {
      // Our service token expired early or was revoked: get a new one, once.
      if (this.#session === session) this.#session = null;
      if (retry) return this.#ask(token, allowExpired, false);
      throw new ServiceUnavailableError("Keystone refused Glimpse's service token while validating a token (401); check [keystone_authtoken].");
    }
    if (response.status === 403) {
      throw new ServiceUnavailableError("Keystone does not let Glimpse's service user validate tokens (403): give it the service or admin role.");
    }
    if (response.status === 404) return null;
    if (response.status !== 200) throw new ServiceUnavailableError(`Keystone answered ${response.status} while validating a token.`);
    const identity = identityFromTokenBody(response.body);
    if (identity === null) return null;
    if (!allowExpired && identity.expiresAt.getTime() <= this.#now().getTime()) return null;
    return identity;
  }

  /** The current service token, renewed before it expires; concurrent callers share one request. */
  async #serviceSession(): Promise<ServiceSession> {
    const current = this.#session;
    if (current !== null && current.renewAt > this.#now().getTime()) return current;
    this.#sessionPending ??= this.#login().finally(() => {
      this.#sessionPending = null;
    });
    return this.#sessionPending;
  }

  async #login(): Promise<ServiceSession> {
    const authEndpoint = await this.#discovery.v3(this.options.authUrl);
    const response = await this.#http.request('POST', `${authEndpoint}/auth/tokens`, {}, authRequestBody(this.options.credentials));
    const token = response.headers['x-subject-token'];
    const identity = identityFromTokenBody(response.body);
    if (response.status !== 201 || typeof token !== 'string' || identity === null) {
      throw new ServiceUnavailableError(`Keystone refused Glimpse's service credentials (${response.status}); check [keystone_authtoken] at ${authEndpoint}.`);
    }
    const now = this.#now().getTime();
    const lifetime = identity.expiresAt.getTime() - now;
    const session: ServiceSession = {
      token,
      renewAt: now + lifetime - Math.min(RENEW_MARGIN_MS, lifetime / 2),
      catalog: identity.catalog,
      validationEndpoint: null,
    };
    this.#serviceTokensIssued += 1;
    this.#session = session;
    return session;
  }

  /**
   * Where tokens are validated: the identity endpoint of the service token's catalog for
   * `interface` and `region_name` (keystonemiddleware's adapter), else the auth_url's v3 API.
   */
  #validationEndpoint(session: ServiceSession): Promise<string> {
    if (session.validationEndpoint === null) {
      const { interface: wanted, regionName } = this.options;
      const url = session.catalog
        .filter((s) => s.type === 'identity')
        .flatMap((s) => s.endpoints)
        .find((e) => e.interface === wanted && (regionName === null || e.region_id === regionName || e.region === regionName))?.url;
      const found = this.#discovery.v3(url ?? this.options.authUrl);
      // A failed discovery is not remembered: the next request tries again.
      found.catch(() => {
        session.validationEndpoint = null;
      });
      session.validationEndpoint = found;
    }
    return session.validationEndpoint;
  }
}
