import type { RequestContext } from '../auth/request-context.js';
import { PolicyEnforcer } from '../policy/policy-enforcer.js';
import { loadPolicyFile } from '../policy/policy-file.js';
import { OPERATIONS, ProtectionRules } from './protection-rules.js';

const USAGE =
  'usage: glimpse-manage protections check --file F [--format roles|policies] [--policy-file P] [--enforce-new-defaults] [--roles a,b --property NAME]';

function option(args: readonly string[], name: string): string | null {
  const at = args.indexOf(name);
  return at === -1 ? null : (args[at + 1] ?? '');
}

/**
 * `glimpse-manage protections check`: validates a property protection file as glimpse-api would
 * at startup, warns about sections an earlier one shadows (the OSSN-0013 class), and, given
 * roles and a property name, says which section decides and what it allows.
 */
export function runProtectionsCheck(args: readonly string[]): { exitCode: number; output: string } {
  const file = option(args, '--file');
  if (file === null || file === '') return { exitCode: 2, output: USAGE };
  const format = option(args, '--format') ?? 'roles';
  const policyFile = option(args, '--policy-file');
  let rules: ProtectionRules;
  try {
    const policy = new PolicyEnforcer({
      enforceNewDefaults: args.includes('--enforce-new-defaults'),
      overrides: policyFile === null ? {} : loadPolicyFile(policyFile, { optional: false }),
    });
    rules = ProtectionRules.load(file, format, policy);
  } catch (error) {
    return { exitCode: 1, output: `invalid: ${error instanceof Error ? error.message : String(error)}` };
  }
  const lines = [`${file}: ${rules.sections.length} section(s), ${rules.format} format, valid`];
  for (const { section, by, certain } of rules.shadowed()) {
    lines.push(
      `warning: line ${section.line} [${section.pattern}] is ${certain ? 'never used' : 'probably never used'}: line ${by.line} [${by.pattern}] comes first and matches ${certain ? 'every name it matches' : `the names it matches (e.g. ${section.regex.examples.slice(0, 3).join(', ')})`} (first match wins; OSSN-0013)`,
    );
  }
  const roles = option(args, '--roles');
  const property = option(args, '--property');
  if (roles !== null || property !== null) {
    if (roles === null || property === null) return { exitCode: 2, output: USAGE };
    const context: RequestContext = {
      requestId: 'glimpse-manage',
      userId: 'operator',
      projectId: 'operator',
      domainId: null,
      systemScope: null,
      isAdminProject: true,
      serviceCatalog: [],
      roles: roles
        .split(',')
        .map((r) => r.trim().toLowerCase())
        .filter((r) => r !== ''),
      serviceRoles: [],
      isAdmin: false,
      readOnly: false,
      authToken: null,
    };
    const section = rules.matchingSection(property);
    if (section === null) {
      lines.push(`${property}: no section matches, so nobody may create, read, update or delete it (admin included)`);
    } else {
      const allowed = OPERATIONS.filter((op) => rules.check(property, op, context));
      lines.push(
        `${property}: decided by line ${section.line} [${section.pattern}]; roles ${roles} may ${allowed.length === 0 ? 'do nothing' : allowed.join(', ')}`,
      );
    }
  }
  return { exitCode: 0, output: lines.join('\n') };
}
