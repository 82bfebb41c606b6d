import { PolicyEnforcer } from '../policy/policy-enforcer.js';
import type { ServerSettings } from './server-settings.js';

/** The policy engine for these settings: Glance's Zed defaults plus the operator's overrides. */
export function buildPolicy(settings: ServerSettings): PolicyEnforcer {
  return new PolicyEnforcer({ enforceNewDefaults: settings.enforceNewDefaults, overrides: settings.policyOverrides });
}
