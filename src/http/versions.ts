/**
 * The versions document and version negotiation (reference §1.2). Glance has no microversions:
 * every supported prefix (`/v2`, `/v2.0` … `/v2.15`) is rewritten to `/v2`, and an unknown version
 * gets the versions document with 300 Multiple Choices.
 */

interface VersionEntry {
  readonly id: string;
  readonly status: 'CURRENT' | 'SUPPORTED';
}

/**
 * What a single-store Glance without an image cache advertises (reference §1.2). v2.8, v2.10–2.14
 * and v2.16 need multi-store or the cache, which later issues bring.
 */
const VERSIONS: readonly VersionEntry[] = [
  { id: 'v2.15', status: 'CURRENT' },
  // v2.12 (an image's tasks) is Glance's multi-store-only in its list, though the route works
  // without it; listed here so that `glance image-tasks`, which asks for it, works too.
  { id: 'v2.12', status: 'SUPPORTED' },
  ...['v2.9', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'].map((id) => ({ id, status: 'SUPPORTED' as const })),
];

const ACCEPTED_PREFIXES: ReadonlySet<string> = new Set(['v2', ...VERSIONS.map((v) => v.id)]);

/** Paths that are not part of the versioned image API. */
const UNVERSIONED: ReadonlySet<string> = new Set(['healthcheck', 'identity', 'key-manager', 'versions', '']);

const ACCEPT_PREFIX = 'application/vnd.openstack.images-';

export function versionsDocument(baseUrl: string): { versions: { id: string; status: string; links: { rel: string; href: string }[] }[] } {
  const base = baseUrl.replace(/\/+$/, '');
  return { versions: VERSIONS.map((v) => ({ id: v.id, status: v.status, links: [{ rel: 'self', href: `${base}/v2/` }] })) };
}

/** Rewrites a request URL per the negotiation rules; '/' means "answer with the versions (300)". */
export function negotiateUrl(url: string, accept: string | undefined): string {
  const queryStart = url.indexOf('?');
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const query = queryStart === -1 ? '' : url.slice(queryStart);
  const segments = path.split('/');
  const first = segments[1] ?? '';
  if (UNVERSIONED.has(first)) return url;
  if (accept?.startsWith(ACCEPT_PREFIX) === true) {
    const requested = accept.slice(ACCEPT_PREFIX.length).split(/[+;,\s]/)[0] ?? '';
    return ACCEPTED_PREFIXES.has(requested) ? `/v2${path}${query}` : '/';
  }
  if (ACCEPTED_PREFIXES.has(first)) return `/v2/${segments.slice(2).join('/')}${query}`;
  return '/';
}
