import { authRequestBody } from '../../identity/keystone/service-credentials.js';
import { onConfiguredOrigin, v3FromVersionDocument } from '../../identity/keystone/version-discovery.js';
import { StoreUnavailableError } from '../store-errors.js';
import type { SwiftAccountReference, SwiftBackendSettings } from '../store-settings.js';
import type { SwiftHttp } from './swift-http.js';

/** Where the account is and the token that opens it. */
export interface SwiftCredentials {
  /** The account URL (`http://swift:8080/v1/AUTH_<project>`). */
  readonly storageUrl: string;
  readonly token: string;
}

interface Session extends SwiftCredentials {
  /** Epoch ms; Infinity when the auth service did not say. */
  readonly expiresAt: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The URL of the first endpoint of `serviceType` at `interface` (and region) in a v3 catalog. */
export function catalogEndpoint(catalog: unknown, wanted: SwiftBackendSettings['catalog']): string | null {
  if (!Array.isArray(catalog)) return null;
  for (const service of catalog) {
    if (!isObject(service) || service['type'] !== wanted.serviceType || !Array.isArray(service['endpoints'])) continue;
    for (const endpoint of service['endpoints'] as unknown[]) {
      if (!isObject(endpoint) || endpoint['interface'] !== wanted.interface || typeof endpoint['url'] !== 'string') continue;
      const region = endpoint['region_id'] ?? endpoint['region'];
      if (wanted.region !== null && region !== wanted.region) continue;
      return endpoint['url'].replace(/\/+$/, '');
    }
  }
  return null;
}

/**
 * The single-tenant account's login: Swift's v1 auth (tempauth) or Keystone v3 with the
 * reference's credentials. One login is shared by every request and renewed when the token is
 * about to expire (`swift_store_expire_soon_interval`) or Swift refuses it, so a transfer that
 * outlives a token gets a new one before its next segment.
 */
export class SwiftAccountAuth {
  #session: Session | null = null;
  #pending: Promise<Session> | null = null;

  constructor(
    private readonly http: SwiftHttp,
    private readonly settings: Pick<SwiftBackendSettings, 'account' | 'endpoint' | 'catalog' | 'expireSoonSeconds'>,
    private readonly now: () => number = Date.now,
  ) {}

  async credentials(): Promise<SwiftCredentials> {
    const session = this.#session;
    if (session !== null && session.expiresAt - this.settings.expireSoonSeconds * 1000 > this.now()) return session;
    this.#pending ??= this.#login().finally(() => (this.#pending = null));
    this.#session = await this.#pending;
    return this.#session;
  }

  /** Swift refused `token` (401): the next request logs in again. */
  invalidate(token: string): void {
    if (this.#session?.token === token) this.#session = null;
  }

  async #login(): Promise<Session> {
    const account = this.settings.account;
    return account.authVersion === '1' ? this.#v1(account) : this.#v3(account);
  }

  async #v1(account: SwiftAccountReference): Promise<Session> {
    const response = await this.http.request('GET', account.authAddress, { 'x-auth-user': account.user, 'x-auth-key': account.key }, { idempotent: true });
    const token = header(response.headers['x-auth-token']);
    const storageUrl = this.settings.endpoint ?? header(response.headers['x-storage-url']);
    if (response.status >= 300 || token === undefined || storageUrl === undefined) {
      throw new StoreUnavailableError(`Swift authentication of reference '${account.name}' at ${account.authAddress} failed (${response.status}).`);
    }
    const lifetime = Number(header(response.headers['x-auth-token-expires']));
    return { token, storageUrl: storageUrl.replace(/\/+$/, ''), expiresAt: Number.isFinite(lifetime) ? this.now() + lifetime * 1000 : Infinity };
  }

  async #v3(account: SwiftAccountReference): Promise<Session> {
    const v3 = await this.#discover(account.authAddress);
    const [project = '', ...rest] = account.user.split(':');
    const body = authRequestBody({
      kind: 'password',
      user: { name: rest.join(':'), domain: account.userDomain },
      password: account.key,
      scope: { kind: 'project', project: { name: project, domain: account.projectDomain } },
    });
    const response = await this.http.request(
      'POST',
      `${v3}/auth/tokens`,
      { 'content-type': 'application/json', accept: 'application/json' },
      {
        body: Buffer.from(JSON.stringify(body)),
      },
    );
    const token = header(response.headers['x-subject-token']);
    if (response.status !== 201 || token === undefined) {
      throw new StoreUnavailableError(`Swift authentication of reference '${account.name}' at ${account.authAddress} failed (${response.status}).`);
    }
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(response.body.toString('utf8'));
    } catch {
      parsed = null;
    }
    const tokenBody = isObject(parsed) && isObject(parsed['token']) ? parsed['token'] : {};
    const storageUrl = this.settings.endpoint ?? catalogEndpoint(tokenBody['catalog'], this.settings.catalog);
    if (storageUrl === null) {
      const { serviceType, interface: iface, region } = this.settings.catalog;
      throw new StoreUnavailableError(
        `The catalog of reference '${account.name}' has no ${serviceType} endpoint (interface ${iface}${region === null ? '' : `, region ${region}`}); set swift_store_endpoint or fix the catalog.`,
      );
    }
    const expires = typeof tokenBody['expires_at'] === 'string' ? Date.parse(tokenBody['expires_at']) : NaN;
    return { token, storageUrl, expiresAt: Number.isFinite(expires) ? expires : Infinity };
  }

  /** `auth_address` as operators write it: with or without /v3 (keystoneauth's discovery). */
  async #discover(address: string): Promise<string> {
    if (/\/v3$/.test(address)) return address;
    const response = await this.http.request('GET', address, { accept: 'application/json' }, { idempotent: true });
    let document: unknown = null;
    try {
      document = JSON.parse(response.body.toString('utf8'));
    } catch {
      document = null;
    }
    const listed = v3FromVersionDocument(address, document);
    if (listed === null) {
      // A v2.0 address copied from an old glance-swift.conf: v3 lives beside it.
      if (/\/v2\.0$/.test(address)) return address.replace(/\/v2\.0$/, '/v3');
      throw new StoreUnavailableError(`The identity service at ${address} offers no v3 API (version discovery answered ${response.status}).`);
    }
    return onConfiguredOrigin(address, listed);
  }
}
