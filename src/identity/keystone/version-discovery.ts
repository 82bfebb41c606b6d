import { ServiceUnavailableError } from '../../errors/domain-errors.js';
import type { KeystoneHttp } from './keystone-http.js';

/**
 * Keystone version discovery, as keystoneauth does it: deployment tools configure `auth_url`
 * without a version (`http://keystone:5000`, devstack's `http://host/identity`), and the v3 API
 * is found from the version document Keystone serves there — 300 with a list of versions at the
 * root, 200 with one version at `/v3`.
 */

interface VersionEntry {
  readonly id: string;
  readonly status: string;
  readonly href: string;
}

/** Statuses of a version a client may use; keystoneauth also takes deprecated ones, last. */
const USABLE = ['stable', 'current', 'supported'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entryOf(value: unknown, base: string): VersionEntry | null {
  if (!isObject(value) || typeof value['id'] !== 'string') return null;
  const links = Array.isArray(value['links']) ? (value['links'] as unknown[]) : [];
  const self = links.find((link): link is Record<string, unknown> => isObject(link) && link['rel'] === 'self' && typeof link['href'] === 'string');
  if (self === undefined) return null;
  try {
    return {
      id: value['id'],
      status: typeof value['status'] === 'string' ? value['status'].toLowerCase() : '',
      href: new URL(String(self['href']), base).toString(),
    };
  } catch {
    return null;
  }
}

/** `v3.14` → [3, 14]; null for any other major version. */
function v3Minor(id: string): number | null {
  const match = /^v3(?:\.(\d+))?$/.exec(id);
  return match === null ? null : Number(match[1] ?? 0);
}

/**
 * The v3 endpoint named by a version document fetched from `requested`, or null when the
 * document names none. Prefers a usable status, then the highest minor version.
 */
export function v3FromVersionDocument(requested: string, body: unknown): string | null {
  if (!isObject(body)) return null;
  const versions = body['versions'];
  const listed =
    isObject(versions) && Array.isArray(versions['values']) ? (versions['values'] as unknown[]) : Array.isArray(versions) ? (versions as unknown[]) : [];
  const candidates = [...listed, ...(body['version'] === undefined ? [] : [body['version']])]
    .map((value) => entryOf(value, requested))
    .filter((entry): entry is VersionEntry => entry !== null && v3Minor(entry.id) !== null);
  const rank = (entry: VersionEntry): number => (USABLE.includes(entry.status) ? 1000 : 0) + (v3Minor(entry.id) ?? 0);
  const best = candidates.sort((a, b) => rank(b) - rank(a))[0];
  return best === undefined ? null : best.href.replace(/\/+$/, '');
}

/** A configured URL that already names the v3 API (`…/v3`, `…/v3/`). */
function isVersioned(url: string): boolean {
  return /\/v3\/?$/.test(new URL(url).pathname);
}

/**
 * The discovered v3 path on the configured scheme, host and port. Keystone writes its version
 * links as its clients see it: behind a TLS-terminating proxy they say http where the proxy speaks
 * https, and with `public_endpoint` set they name the public host where Glimpse was configured
 * with the internal one. The operator's auth_url is the address this host can reach, so only the
 * path (a prefix such as /identity, then /v3) is taken from the document. keystoneauth follows the
 * link as written and fails in both cases.
 */
export function onConfiguredOrigin(configured: string, discovered: string): string {
  return `${new URL(configured).origin}${new URL(discovered).pathname}`.replace(/\/+$/, '');
}

/** Finds, and remembers, the v3 endpoint behind each configured identity URL. */
export class VersionDiscovery {
  readonly #found = new Map<string, string>();

  constructor(private readonly http: KeystoneHttp) {}

  async v3(url: string): Promise<string> {
    const known = this.#found.get(url);
    if (known !== undefined) return known;
    const response = await this.http.request('GET', url, {});
    const listed = response.status >= 200 && response.status < 400 ? v3FromVersionDocument(url, response.body) : null;
    let endpoint = listed === null ? null : onConfiguredOrigin(url, listed);
    // A versioned URL is usable even when its version document is odd (keystoneauth does the same).
    if (endpoint === null && isVersioned(url)) endpoint = url.replace(/\/+$/, '');
    if (endpoint === null) {
      throw new ServiceUnavailableError(
        `The identity service at ${url} offers no v3 API (version discovery answered ${response.status}); check [keystone_authtoken] auth_url.`,
      );
    }
    this.#found.set(url, endpoint);
    return endpoint;
  }
}
