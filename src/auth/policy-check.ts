import type { ContextCredentials } from './request-context.js';

/**
 * The policy engine as the services use it: whether a named rule allows the caller on a target
 * (reference §16.2). src/policy/policy-enforcer.ts implements it.
 */
export interface PolicyCheck {
  enforce(rule: string, target: Readonly<Record<string, unknown>>, credentials: ContextCredentials): boolean;
}
