import type { RequestContext } from '../auth/request-context.js';
import type { PropertyOperation, PropertyRules } from '../images/image-service.js';
import type { ProtectionRules, SectionView } from './protection-rules.js';

/**
 * The protections in force, swapped as a whole when the file is reloaded (SIGHUP): a request
 * sees either the old rules or the new ones, never a mix, and a file that no longer loads keeps
 * the old rules in force.
 */
export class ProtectionsHolder implements PropertyRules {
  constructor(
    private current: ProtectionRules,
    private readonly load: () => ProtectionRules,
  ) {}

  get rules(): ProtectionRules {
    return this.current;
  }

  check(property: string, operation: PropertyOperation, context: RequestContext): boolean {
    return this.current.check(property, operation, context);
  }

  describe(context: RequestContext): SectionView[] {
    return this.current.describe(context);
  }

  /** Re-reads the file; throws (keeping the rules in force) when it no longer loads. */
  reload(): void {
    this.current = this.load();
  }
}
