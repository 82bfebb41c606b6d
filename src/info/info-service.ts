import { policyCredentials, type RequestContext } from '../auth/request-context.js';
import { ForbiddenError, NotFoundError } from '../errors/domain-errors.js';
import type { PolicyCheck } from '../auth/policy-check.js';
import type { StoreRegistry } from '../stores/store-registry.js';
import type { ProtectionsHolder } from '../protections/protections-holder.js';

/**
 * The discovery documents under /v2/info (reference §9.1, §13.3): which stores exist, which
 * import methods are enabled, and quota usage.
 */
export class InfoService {
  constructor(
    private readonly stores: StoreRegistry,
    private readonly policy: PolicyCheck,
    private readonly protections: ProtectionsHolder | null = null,
  ) {}

  /**
   * `GET /v2/info/property-protections` (Glimpse): for the caller's own roles, which property
   * patterns it may create, read, update and delete, so nobody has to guess (glance-lessons §4).
   */
  propertyProtections(context: RequestContext): Record<string, unknown> {
    if (this.protections === null) return { enabled: false };
    const rules = this.protections.rules;
    return {
      enabled: true,
      format: rules.format,
      // First matching pattern wins; patterns are Python regular expressions searched in the name.
      rules: this.protections.describe(context),
      unmatched: { create: false, read: false, update: false, delete: false },
    };
  }

  /** `GET /v2/info/stores`: any caller; only with multi-store (reference §9.1). */
  storeList(): Record<string, unknown>[] {
    this.requireMultiStore();
    return this.stores.info().map((s) => ({
      id: s.id,
      ...(s.description === null ? {} : { description: s.description }),
      // Glance writes the flag as the string "true", and only on the default store.
      ...(s.isDefault ? { default: 'true' } : {}),
    }));
  }

  /** `GET /v2/info/stores/detail`: the `stores_info_detail` policy (admin by default). */
  storeDetails(context: RequestContext): Record<string, unknown>[] {
    this.requireMultiStore();
    if (!this.policy.enforce('stores_info_detail', {}, policyCredentials(context))) {
      throw new ForbiddenError('You are not authorized to complete stores_info_detail action.');
    }
    return this.stores.info().map((s) => ({
      id: s.id,
      ...(s.description === null ? {} : { description: s.description }),
      ...(s.isDefault ? { default: 'true' } : {}),
      type: s.type,
      properties: s.properties,
    }));
  }

  /** Ids for the `OpenStack-image-store-ids` header, or null in single-store mode. */
  storeIds(): string[] | null {
    return this.stores.multiStore ? this.stores.info().map((s) => s.id) : null;
  }

  private requireMultiStore(): void {
    if (!this.stores.multiStore) throw new NotFoundError('Multi backend is not supported at this site.');
  }
}
