/**
 * Who is calling, built the same way whichever identity flavor authenticated the request
 * (reference §16.1): user, the token's scope, roles lowercased, and whether the
 * `context_is_admin` policy passes.
 */

/**
 * What a token is scoped to. Keystone issues tokens for a project (what image owners are), a
 * domain, the whole deployment (`system: all`, secure-RBAC administration), or nothing at all.
 * Every kind is a valid identity; the policy engine decides what each may do.
 */
export type TokenScope =
  | ProjectScope
  | { readonly kind: 'domain'; readonly domainId: string; readonly domainName: string }
  | { readonly kind: 'system'; readonly system: string }
  | { readonly kind: 'unscoped' };

export interface ProjectScope {
  readonly kind: 'project';
  readonly projectId: string;
  readonly projectName: string;
  readonly projectDomainId: string;
}

/** One service of a token's catalog, as Keystone v3 returns it. */
export interface CatalogService {
  readonly type: string;
  readonly name?: string;
  readonly endpoints: readonly { readonly interface: string; readonly url: string; readonly region?: string | null; readonly region_id?: string | null }[];
}

export interface Identity {
  readonly userId: string;
  readonly userName: string;
  readonly userDomainId: string;
  readonly scope: TokenScope;
  readonly roles: readonly string[];
  /** Keystone's `is_admin_project` (X-Is-Admin-Project); true when Keystone does not say. */
  readonly isAdminProject: boolean;
  /** When the token stops being valid; caches never keep it past this. */
  readonly expiresAt: Date;
  /** The token's service catalog (empty when the flavor has none to give). */
  readonly catalog: readonly CatalogService[];
}

export interface RequestContext {
  readonly requestId: string;
  readonly userId: string | null;
  /** The project of a project-scoped token: the owner of what the caller creates. */
  readonly projectId: string | null;
  /** The domain of a domain-scoped token. */
  readonly domainId: string | null;
  /** `all` for a system-scoped token (OpenStack-System-Scope). */
  readonly systemScope: string | null;
  readonly isAdminProject: boolean;
  readonly roles: readonly string[];
  /** Roles of a service token sent along (X-Service-Token), lowercased; empty without one. */
  readonly serviceRoles: readonly string[];
  readonly isAdmin: boolean;
  /**
   * The caller's token, for calls made on its behalf (the key manager fetches a signing
   * certificate with it, as castellan does). Never logged.
   */
  readonly authToken: string | null;
  /** The caller's service catalog (X-Service-Catalog), where Barbican is found. */
  readonly serviceCatalog: readonly CatalogService[];
  /** Anonymous contexts may only read (reference §1.6 "Read-only access"). */
  readonly readOnly: boolean;
}

/** An identity from a project-scoped token (the only kind the embedded identity issues). */
export type ProjectIdentity = Identity & { readonly scope: ProjectScope };

/** The project, domain and system fields of a context for a token scope. */
export function scopeFields(scope: TokenScope | null): Pick<RequestContext, 'projectId' | 'domainId' | 'systemScope'> {
  return {
    projectId: scope?.kind === 'project' ? scope.projectId : null,
    domainId: scope?.kind === 'domain' ? scope.domainId : null,
    systemScope: scope?.kind === 'system' ? scope.system : null,
  };
}

/** The credentials the policy engine evaluates rules against, as oslo.context presents them. */
export type ContextCredentials = {
  readonly roles: readonly string[];
  readonly project_id: string | null;
  readonly user_id: string | null;
  readonly domain_id: string | null;
  readonly system_scope: string | null;
  readonly is_admin: boolean;
  readonly is_admin_project: boolean;
  readonly service_roles: readonly string[];
};

/**
 * The context of work done for a user outside any request (an import job, an audit): the
 * project and user it acts for, the roles they had, no token unless one is given.
 */
export function backgroundContext(fields: {
  readonly requestId: string;
  readonly userId: string | null;
  readonly projectId: string | null;
  readonly roles?: readonly string[];
  readonly readOnly?: boolean;
  readonly authToken?: string | null;
  readonly serviceCatalog?: readonly CatalogService[];
}): RequestContext {
  const roles = fields.roles ?? [];
  return {
    requestId: fields.requestId,
    userId: fields.userId,
    projectId: fields.projectId,
    domainId: null,
    systemScope: null,
    isAdminProject: false,
    roles,
    serviceRoles: [],
    isAdmin: roles.includes('admin'),
    authToken: fields.authToken ?? null,
    serviceCatalog: fields.serviceCatalog ?? [],
    readOnly: fields.readOnly ?? false,
  };
}

export function policyCredentials(context: RequestContext): ContextCredentials {
  return {
    roles: context.roles,
    project_id: context.projectId,
    user_id: context.userId,
    domain_id: context.domainId,
    system_scope: context.systemScope,
    is_admin: context.isAdmin,
    is_admin_project: context.isAdminProject,
    service_roles: context.serviceRoles,
  };
}
