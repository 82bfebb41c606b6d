/**
 * The policy enforcer: Glance's registered defaults plus the operator's overrides, parsed once at
 * startup (reference §16.2).
 *
 * Legacy mode (`enforce_new_defaults=False`, the Zed default): a rule with a deprecated alias that
 * the operator has not overridden becomes `(new default) or (deprecated alias)`. SRBAC mode uses the
 * new defaults alone. An override always replaces the rule text outright, in both modes.
 */
import { evaluate, referencedRules, type Check, type PolicyCredentials, type PolicyTarget } from './check.js';
import { GLANCE_POLICY_DEFAULTS, type TokenScopeType } from './glance-defaults.js';
import { parseRule } from './rule-parser.js';

export type { PolicyCredentials, PolicyTarget } from './check.js';

export interface PolicyEnforcerOptions {
  /** `[oslo_policy] enforce_new_defaults` (which Glance requires to equal `enforce_secure_rbac`). */
  readonly enforceNewDefaults: boolean;
  /** Rules from policy.yaml, by name; may define rules Glance does not register. */
  readonly overrides: Readonly<Record<string, string>>;
  /** `[oslo_policy] enforce_scope`: a registered rule refuses tokens of a scope it is not for. */
  readonly enforceScope?: boolean;
}

/** The scope of the caller's token, as oslo.policy tells it from the credentials. */
function tokenScope(creds: PolicyCredentials): TokenScopeType {
  if (typeof creds['system_scope'] === 'string' && creds['system_scope'] !== '') return 'system';
  if (typeof creds.domain_id === 'string' && creds.domain_id !== '') return 'domain';
  // oslo takes every other token, unscoped ones included, as project-scoped.
  return 'project';
}

/** Thrown at startup when rules refer to each other in a loop, which would never terminate. */
export class PolicyRuleCycleError extends Error {
  override readonly name = 'PolicyRuleCycleError';
  readonly cycle: readonly string[];

  constructor(cycle: readonly string[]) {
    super(`Policy rules refer to each other in a cycle: ${cycle.join(' -> ')}`);
    this.cycle = cycle;
  }
}

/** oslo's `policy_default_rule`: the rule used for names that are not defined. */
const DEFAULT_RULE = 'default';

/** Wraps rule text for an OR, writing the empty (always-true) rule as `@` so `()` never appears. */
const group = (text: string): string => `(${text.trim() === '' ? '@' : text})`;

export class PolicyEnforcer {
  private readonly texts = new Map<string, string>();
  private readonly checks = new Map<string, Check>();
  /** scope_types of Glance's registered rules, kept when the operator overrides their text. */
  private readonly scopeTypes = new Map<string, readonly TokenScopeType[]>();
  private readonly enforceScope: boolean;

  constructor(options: PolicyEnforcerOptions) {
    this.enforceScope = options.enforceScope === true;
    for (const { name, newDefault, deprecatedRule, scopeTypes } of GLANCE_POLICY_DEFAULTS) {
      this.scopeTypes.set(name, scopeTypes);
      const legacy = !options.enforceNewDefaults && deprecatedRule !== null && deprecatedRule !== newDefault;
      this.texts.set(name, legacy ? `${group(newDefault)} or ${group(deprecatedRule)}` : newDefault);
    }
    for (const [name, text] of Object.entries(options.overrides)) this.texts.set(name, text);
    for (const [name, text] of this.texts) this.checks.set(name, parseRule(text, name));
    this.rejectCycles();
  }

  /**
   * Evaluates the named rule. A name that is not defined falls back to the `default` rule, as in
   * oslo. A `rule:NAME` reference to an undefined rule evaluates to false (fail closed).
   */
  enforce(ruleName: string, target: PolicyTarget, creds: PolicyCredentials): boolean {
    // oslo raises InvalidScope here and Glance answers it as Forbidden: to every caller of the
    // engine that is a failed check, with the same 403/404 as any other (reference §16.2).
    const scopes = this.scopeTypes.get(ruleName) ?? [];
    if (this.enforceScope && scopes.length > 0 && !scopes.includes(tokenScope(creds))) return false;
    const check = this.checks.get(ruleName) ?? this.checks.get(DEFAULT_RULE);
    return check !== undefined && evaluate(check, target, creds, (name) => this.checks.get(name));
  }

  /** The rule text in effect for every defined rule, after mode handling and overrides. */
  effectiveRules(): ReadonlyMap<string, string> {
    return new Map(this.texts);
  }

  /** Depth-first search over `rule:NAME` references; a back edge is a cycle. */
  private rejectCycles(): void {
    const done = new Set<string>();
    const visit = (name: string, path: string[]): void => {
      if (path.includes(name)) throw new PolicyRuleCycleError([...path.slice(path.indexOf(name)), name]);
      const check = this.checks.get(name);
      if (done.has(name) || check === undefined) return;
      for (const next of referencedRules(check)) visit(next, [...path, name]);
      done.add(name);
    };
    for (const name of this.checks.keys()) visit(name, []);
  }
}
