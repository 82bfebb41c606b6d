import { createHash } from 'node:crypto';
import type { Authenticator } from '../../auth/authenticator.js';
import type { Identity } from '../../auth/request-context.js';
import { ServiceUnavailableError } from '../../errors/domain-errors.js';

export interface KeystoneAuthenticatorOptions {
  readonly wwwAuthenticateUri: string;
  readonly authUrl: string;
  readonly username: string;
  readonly password: string;
  readonly projectName: string;
  readonly userDomainName: string;
  readonly projectDomainName: string;
  /** `token_cache_time`: seconds a validation is reused; ≤ 0 disables the cache. */
  readonly tokenCacheSeconds: number;
  readonly now?: () => Date;
  readonly timeoutMs?: number;
}

interface CacheEntry {
  readonly identity: Identity | null;
  readonly until: number;
}

/** Invalid tokens are remembered briefly, so a flood of bad tokens does not become a flood on Keystone. */
const NEGATIVE_CACHE_MS = 10_000;
const MAX_CACHE_ENTRIES = 10_000;
/** Renew the service token this long before Keystone would expire it. */
const SERVICE_TOKEN_MARGIN_MS = 60_000;

interface TokenBody {
  token?: {
    expires_at?: string;
    user?: { id?: string; name?: string; domain?: { id?: string } };
    project?: { id?: string; name?: string; domain?: { id?: string } };
    roles?: { name?: string }[];
  };
}

/**
 * The keystone flavor: validates X-Auth-Token against a real Keystone v3 the way keystonemiddleware
 * does (reference §16.1) — with a service token from `[keystone_authtoken]` it asks
 * `GET /v3/auth/tokens` about the user's token. Results are cached for token_cache_time, never past
 * the token's own expiry; tokens are cached by digest and never logged.
 */
export class KeystoneAuthenticator implements Authenticator {
  readonly #cache = new Map<string, CacheEntry>();
  #serviceToken: { token: string; until: number } | null = null;
  readonly #now: () => Date;

  constructor(private readonly options: KeystoneAuthenticatorOptions) {
    this.#now = options.now ?? (() => new Date());
  }

  wwwAuthenticateUri(): string {
    return this.options.wwwAuthenticateUri;
  }

  async validate(token: string): Promise<Identity | null> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#now().getTime();
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.until > now) return cached.identity;
    const identity = await this.#ask(token, true);
    this.#remember(key, identity, now);
    return identity;
  }

  #remember(key: string, identity: Identity | null, now: number): void {
    const cacheMs = this.options.tokenCacheSeconds * 1000;
    const until = identity === null ? now + NEGATIVE_CACHE_MS : Math.min(now + cacheMs, identity.expiresAt.getTime());
    if (identity !== null && cacheMs <= 0) return;
    this.#cache.delete(key);
    if (this.#cache.size >= MAX_CACHE_ENTRIES) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { identity, until });
  }

  async #ask(token: string, retry: boolean): Promise<Identity | null> {
    const service = await this.#service();
    const response = await this.#fetch('/auth/tokens', { method: 'GET', headers: { 'X-Auth-Token': service, 'X-Subject-Token': token } });
    if (response.status === 401 && retry) {
      // Our service token expired or was revoked: get a new one once.
      this.#serviceToken = null;
      return this.#ask(token, false);
    }
    if (response.status === 404 || response.status === 401 || response.status === 403) return null;
    if (!response.ok) throw new ServiceUnavailableError(`Keystone answered ${response.status} while validating a token.`);
    return this.#identityFrom((await response.json()) as TokenBody);
  }

  #identityFrom(body: TokenBody): Identity | null {
    const t = body.token;
    const expires = t?.expires_at === undefined ? Number.NaN : Date.parse(t.expires_at);
    if (t?.user?.id === undefined || t.project?.id === undefined || Number.isNaN(expires) || expires <= this.#now().getTime()) return null;
    return {
      userId: t.user.id,
      userName: t.user.name ?? t.user.id,
      userDomainId: t.user.domain?.id ?? 'default',
      projectId: t.project.id,
      projectName: t.project.name ?? t.project.id,
      projectDomainId: t.project.domain?.id ?? 'default',
      roles: (t.roles ?? []).map((r) => (r.name ?? '').toLowerCase()).filter((r) => r !== ''),
      expiresAt: new Date(expires),
    };
  }

  async #service(): Promise<string> {
    const now = this.#now().getTime();
    if (this.#serviceToken !== null && this.#serviceToken.until > now) return this.#serviceToken.token;
    const o = this.options;
    const response = await this.#fetch('/auth/tokens', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: o.username, domain: { name: o.userDomainName }, password: o.password } } },
          scope: { project: { name: o.projectName, domain: { name: o.projectDomainName } } },
        },
      }),
    });
    const token = response.headers.get('x-subject-token');
    if (response.status !== 201 || token === null) {
      throw new ServiceUnavailableError(`Keystone refused Glimpse's service credentials (${response.status}); check [keystone_authtoken].`);
    }
    const body = (await response.json()) as TokenBody;
    const expires = Date.parse(body.token?.expires_at ?? '');
    this.#serviceToken = { token, until: Number.isNaN(expires) ? now + 300_000 : expires - SERVICE_TOKEN_MARGIN_MS };
    return token;
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.options.authUrl.replace(/\/+$/, '')}${path}`, { ...init, signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000) });
    } catch (error) {
      // keystonemiddleware answers 503 when Keystone cannot be reached.
      throw new ServiceUnavailableError('The identity service could not be reached.', { cause: error });
    }
  }
}
