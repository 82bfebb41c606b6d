/**
 * Who is calling, built the same way whichever identity flavor authenticated the request
 * (reference §16.1): user, project (the owner of what they create), roles lowercased, and whether
 * the `context_is_admin` policy passes.
 */
export interface Identity {
  readonly userId: string;
  readonly userName: string;
  readonly userDomainId: string;
  readonly projectId: string;
  readonly projectName: string;
  readonly projectDomainId: string;
  readonly roles: readonly string[];
  /** When the token stops being valid; caches never keep it past this. */
  readonly expiresAt: Date;
}

export interface RequestContext {
  readonly requestId: string;
  readonly userId: string | null;
  readonly projectId: string | null;
  readonly roles: readonly string[];
  /** Roles of a service token sent along (X-Service-Token), lowercased; empty without one. */
  readonly serviceRoles: readonly string[];
  readonly isAdmin: boolean;
  /**
   * The caller's token, for calls made on its behalf (the key manager fetches a signing
   * certificate with it, as castellan does). Never logged.
   */
  readonly authToken: string | null;
  /** Anonymous contexts may only read (reference §1.6 "Read-only access"). */
  readonly readOnly: boolean;
}

/** The credentials shape the policy engine evaluates rules against. */
export function policyCredentials(context: RequestContext): {
  readonly roles: readonly string[];
  readonly project_id: string | null;
  readonly user_id: string | null;
  readonly is_admin: boolean;
  readonly service_roles: readonly string[];
} {
  return { roles: context.roles, project_id: context.projectId, user_id: context.userId, is_admin: context.isAdmin, service_roles: context.serviceRoles };
}
