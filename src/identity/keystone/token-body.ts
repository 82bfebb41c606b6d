import type { CatalogService, Identity, TokenScope } from '../../auth/request-context.js';

/**
 * Reads a Keystone v3 token body (`GET /v3/auth/tokens`) into an identity, as keystonemiddleware
 * turns it into X-User-*, X-Project-*, X-Domain-*, OpenStack-System-Scope, X-Roles,
 * X-Is-Admin-Project and X-Service-Catalog (reference §16.1). Whatever the scope, a token with a
 * user and an expiry is an identity; what it may do is the policy engine's call.
 */

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function scopeOf(token: Record<string, unknown>): TokenScope | null {
  const project = token['project'];
  if (isObject(project)) {
    const id = text(project['id']);
    if (id === undefined) return null;
    const domain = isObject(project['domain']) ? project['domain'] : {};
    return { kind: 'project', projectId: id, projectName: text(project['name']) ?? id, projectDomainId: text(domain['id']) ?? 'default' };
  }
  const domain = token['domain'];
  if (isObject(domain)) {
    const id = text(domain['id']);
    return id === undefined ? null : { kind: 'domain', domainId: id, domainName: text(domain['name']) ?? id };
  }
  const system = token['system'];
  if (isObject(system)) return system['all'] === true ? { kind: 'system', system: 'all' } : null;
  return { kind: 'unscoped' };
}

function catalogOf(value: unknown): CatalogService[] {
  if (!Array.isArray(value)) return [];
  const services: CatalogService[] = [];
  for (const service of value as unknown[]) {
    if (!isObject(service) || text(service['type']) === undefined || !Array.isArray(service['endpoints'])) continue;
    const endpoints = (service['endpoints'] as unknown[]).filter(isObject).flatMap((e) => {
      const url = text(e['url']);
      const iface = text(e['interface']);
      return url === undefined || iface === undefined
        ? []
        : [{ interface: iface, url, region: text(e['region']) ?? null, region_id: text(e['region_id']) ?? null }];
    });
    const name = text(service['name']);
    services.push({ type: String(service['type']), ...(name === undefined ? {} : { name }), endpoints });
  }
  return services;
}

/** The identity in a token body, or null when the body is not a usable token. */
export function identityFromTokenBody(body: unknown): Identity | null {
  if (!isObject(body) || !isObject(body['token'])) return null;
  const token = body['token'];
  const user = isObject(token['user']) ? token['user'] : null;
  const userId = text(user?.['id']);
  const expires = Date.parse(text(token['expires_at']) ?? '');
  const scope = scopeOf(token);
  if (user === null || userId === undefined || Number.isNaN(expires) || scope === null) return null;
  const userDomain = isObject(user['domain']) ? user['domain'] : {};
  const roles = Array.isArray(token['roles']) ? (token['roles'] as unknown[]) : [];
  return {
    userId,
    userName: text(user['name']) ?? userId,
    userDomainId: text(userDomain['id']) ?? 'default',
    scope,
    // Glance lowercases roles (reference §16.1).
    roles: roles.flatMap((r) => (isObject(r) && text(r['name']) !== undefined ? [String(r['name']).toLowerCase()] : [])),
    isAdminProject: token['is_admin_project'] !== false,
    expiresAt: new Date(expires),
    catalog: catalogOf(token['catalog']),
  };
}
