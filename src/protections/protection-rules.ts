import { readFileSync } from 'node:fs';
import { policyCredentials, type RequestContext } from '../auth/request-context.js';
import type { PolicyCheck } from '../auth/policy-check.js';
import type { PropertyOperation, PropertyRules } from '../images/image-service.js';
import { ProtectionRuleError } from './protection-errors.js';
import { compilePythonRegex, type PythonRegex } from './python-regex.js';

export const OPERATIONS: readonly PropertyOperation[] = ['create', 'read', 'update', 'delete'];

export type RuleFormat = 'roles' | 'policies';

/** Who may do one operation on the properties of one section. */
export type OperationRule =
  | { readonly kind: 'anyone' }
  | { readonly kind: 'nobody' }
  | { readonly kind: 'roles'; readonly roles: ReadonlySet<string> }
  | { readonly kind: 'policy'; readonly rule: string };

export interface ProtectionSection {
  /** The section header: a Python regular expression searched in the property name. */
  readonly pattern: string;
  readonly regex: PythonRegex;
  readonly line: number;
  readonly rules: Readonly<Record<PropertyOperation, OperationRule>>;
}

/** What the discoverability endpoint says about one section, for the calling user. */
export interface SectionView {
  readonly pattern: string;
  readonly create: boolean;
  readonly read: boolean;
  readonly update: boolean;
  readonly delete: boolean;
}

/** The configparser subset Glance's files use, with headers as configparser reads them. */
function parseSections(text: string, file: string): { name: string; line: number; entries: Map<string, { value: string; line: number }> }[] {
  const sections: { name: string; line: number; entries: Map<string, { value: string; line: number }> }[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    // configparser takes everything between the first `[` and the last `]` as the name, so a
    // regex such as `[^x_[a-z]+$]` keeps its own brackets.
    if (raw.startsWith('[') && trimmed.endsWith(']')) {
      sections.push({ name: trimmed.slice(1, -1), line, entries: new Map() });
      return;
    }
    const current = sections[sections.length - 1];
    const pair = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (current === undefined) throw new ProtectionRuleError('an option appears before any section', { file, line });
    if (pair === null) throw new ProtectionRuleError(`cannot read "${trimmed.slice(0, 60)}"`, { file, line, section: current.name });
    const key = (pair[1] ?? '').toLowerCase();
    if (current.entries.has(key)) throw new ProtectionRuleError('the key appears twice', { file, line, section: current.name, key });
    current.entries.set(key, { value: pair[2] ?? '', line });
  });
  return sections;
}

function parseRule(
  value: string,
  format: RuleFormat,
  where: { file: string; line: number; section: string; key: string },
  policyRules: ReadonlySet<string>,
): OperationRule {
  const items = value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (items.includes('@') && items.includes('!')) throw new ProtectionRuleError("'@' (anyone) and '!' (nobody) cannot be used together", where);
  // Empty means nobody (reference §6: Glance logs a warning and denies).
  if (items.length === 0 || items.includes('!')) return { kind: 'nobody' };
  if (items.includes('@')) return { kind: 'anyone' };
  if (format === 'roles') return { kind: 'roles', roles: new Set(items.map((r) => r.toLowerCase())) };
  if (items.length > 1) throw new ProtectionRuleError(`the policies format takes one policy rule name, not ${items.length}`, where);
  const rule = items[0] ?? '';
  if (!policyRules.has(rule)) throw new ProtectionRuleError(`policy rule "${rule}" is not defined (add it to the policy file)`, where);
  return { kind: 'policy', rule };
}

/**
 * Property protections (reference §6), read once at startup from Glance's file format and
 * checked conservatively: a file Glimpse cannot read, a section without all four keys, a pattern
 * Python and JavaScript would match differently, `@` with `!`, or an unknown policy rule stop the
 * server with the file, line, section and key named. Glance finds these only per request.
 */
export class ProtectionRules implements PropertyRules {
  private constructor(
    readonly file: string,
    readonly format: RuleFormat,
    readonly sections: readonly ProtectionSection[],
    private readonly policy: PolicyCheck,
  ) {}

  static load(file: string, format: string, policy: PolicyCheck & { effectiveRules(): ReadonlyMap<string, string> }): ProtectionRules {
    if (format !== 'roles' && format !== 'policies')
      throw new ProtectionRuleError(`property_protection_rule_format must be roles or policies, not "${format}"`, { key: 'property_protection_rule_format' });
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ProtectionRuleError(`cannot be read (${error instanceof Error ? error.message : String(error)})`, { file });
    }
    const policyRules = new Set(policy.effectiveRules().keys());
    const sections = parseSections(text, file).map((section): ProtectionSection => {
      let regex: PythonRegex;
      try {
        regex = compilePythonRegex(section.name);
      } catch (error) {
        if (error instanceof ProtectionRuleError) throw error.at({ file, line: section.line, section: section.name });
        throw new ProtectionRuleError(`invalid regular expression (${error instanceof Error ? error.message : String(error)})`, {
          file,
          line: section.line,
          section: section.name,
        });
      }
      for (const key of section.entries.keys()) {
        if (!(OPERATIONS as readonly string[]).includes(key))
          throw new ProtectionRuleError('unknown key (expected create, read, update, delete)', {
            file,
            line: section.entries.get(key)?.line ?? section.line,
            section: section.name,
            key,
          });
      }
      const rules = Object.fromEntries(
        OPERATIONS.map((op) => {
          const entry = section.entries.get(op);
          if (entry === undefined)
            throw new ProtectionRuleError('missing key (every section needs create, read, update and delete)', {
              file,
              line: section.line,
              section: section.name,
              key: op,
            });
          return [op, parseRule(entry.value, format, { file, line: entry.line, section: section.name, key: op }, policyRules)];
        }),
      ) as Record<PropertyOperation, OperationRule>;
      return { pattern: section.name, regex, line: section.line, rules };
    });
    return new ProtectionRules(file, format, sections, policy);
  }

  /** The first section whose pattern is found in the name (reference §6: first match wins). */
  matchingSection(property: string): ProtectionSection | null {
    return this.sections.find((s) => s.regex.search(property)) ?? null;
  }

  check(property: string, operation: PropertyOperation, context: RequestContext): boolean {
    const section = this.matchingSection(property);
    // No section: denied to everyone, admin included (reference §6).
    return section !== null && this.allows(section.rules[operation], context);
  }

  /** For the calling user, what each section allows, in file order (GET /v2/info/property-protections). */
  describe(context: RequestContext): SectionView[] {
    return this.sections.map((s) => ({
      pattern: s.pattern,
      create: this.allows(s.rules.create, context),
      read: this.allows(s.rules.read, context),
      update: this.allows(s.rules.update, context),
      delete: this.allows(s.rules.delete, context),
    }));
  }

  /** The rules themselves (roles or policy names), for the image schema's annotation. */
  summary(): { pattern: string; create: string[]; read: string[]; update: string[]; delete: string[] }[] {
    const show = (rule: OperationRule): string[] => {
      switch (rule.kind) {
        case 'anyone':
          return ['@'];
        case 'nobody':
          return ['!'];
        case 'roles':
          return [...rule.roles];
        case 'policy':
          return [`rule:${rule.rule}`];
      }
    };
    return this.sections.map((s) => ({
      pattern: s.pattern,
      create: show(s.rules.create),
      read: show(s.rules.read),
      update: show(s.rules.update),
      delete: show(s.rules.delete),
    }));
  }

  /**
   * Sections that an earlier one hides (the OSSN-0013 class: a `.*` before specific sections).
   * Sure when the earlier pattern matches every name, or the same names; otherwise a section is
   * reported when an earlier one matches every example name its own pattern yields.
   */
  shadowed(): { section: ProtectionSection; by: ProtectionSection; certain: boolean }[] {
    const found: { section: ProtectionSection; by: ProtectionSection; certain: boolean }[] = [];
    this.sections.forEach((section, index) => {
      for (const earlier of this.sections.slice(0, index)) {
        const certain = earlier.regex.shape.form === 'everything' || earlier.pattern === section.pattern;
        const examples = section.regex.examples;
        if (certain || (examples.length > 0 && examples.every((name) => earlier.regex.search(name)))) {
          found.push({ section, by: earlier, certain });
          break;
        }
      }
    });
    return found;
  }

  private allows(rule: OperationRule, context: RequestContext): boolean {
    switch (rule.kind) {
      case 'anyone':
        return true;
      case 'nobody':
        return false;
      case 'roles':
        // Service roles (X-Service-Token) count as roles (reference §6 step 1).
        return [...context.roles, ...context.serviceRoles].some((role) => rule.roles.has(role.toLowerCase()));
      case 'policy':
        return this.policy.enforce(rule.rule, {}, policyCredentials(context));
    }
  }
}
