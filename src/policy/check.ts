/**
 * The parsed form of an oslo.policy rule and its evaluation (reference §16.2). The parser in
 * rule-parser.ts produces these trees; the enforcer evaluates them against a target (attributes of
 * the object acted on) and the caller's credentials.
 */

/** Attributes of the object being acted on, e.g. an image's fields plus `project_id`/`member_id`. */
export type PolicyTarget = Readonly<Record<string, unknown>>;

/** The caller, as oslo.context's `to_policy_values()` presents it to oslo.policy. */
export interface PolicyCredentials {
  readonly roles: readonly string[];
  readonly project_id: string | null;
  readonly user_id: string | null;
  readonly domain_id?: string | null;
  readonly is_admin: boolean;
  readonly [key: string]: unknown;
}

/**
 * The right-hand side of a check after `%(name)s` expansion has been split out, so a malformed
 * format string is a parse-time error rather than a per-request one.
 */
export type MatchPart = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'attr'; readonly name: string };

export type Check =
  | { readonly kind: 'true' }
  | { readonly kind: 'false' }
  | { readonly kind: 'not'; readonly check: Check }
  | { readonly kind: 'and'; readonly checks: readonly Check[] }
  | { readonly kind: 'or'; readonly checks: readonly Check[] }
  /** `rule:NAME`: evaluate another named rule. */
  | { readonly kind: 'rule'; readonly name: string }
  /** `role:NAME`: the caller holds the role (case-insensitive). */
  | { readonly kind: 'role'; readonly match: readonly MatchPart[] }
  /** `KEY:VALUE`: a credential attribute, found by a dotted path, equals VALUE. */
  | { readonly kind: 'credential'; readonly path: readonly string[]; readonly match: readonly MatchPart[] }
  /** `'literal':VALUE`: a constant equals VALUE (Glance's `'shared':%(visibility)s`). */
  | { readonly kind: 'literal'; readonly value: string; readonly match: readonly MatchPart[] };

/** Looks up a named rule for `rule:NAME`; undefined when no such rule exists. */
export type RuleLookup = (name: string) => Check | undefined;

/**
 * Renders a scalar the way Python's `str()` does, since oslo compares strings built with
 * `"%s" % value` (e.g. `is_admin:True`). Null and non-scalars yield undefined and never match:
 * oslo would compare against the text "None", which lets a project-less caller match a null
 * `member_id`; Glance's own owner checks treat a missing project as "not the owner", so we do too.
 */
export function pythonStr(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'boolean':
      return value ? 'True' : 'False';
    case 'number':
      return Number.isFinite(value) ? String(value) : undefined;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'object':
    case 'function':
    case 'symbol':
      return undefined;
  }
}

/** Expands `%(name)s` from the target; undefined when a name is missing (oslo: KeyError → false). */
function expand(match: readonly MatchPart[], target: PolicyTarget): string | undefined {
  let out = '';
  for (const part of match) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    if (!Object.hasOwn(target, part.name)) return undefined;
    const text = pythonStr(target[part.name]);
    if (text === undefined) return undefined;
    out += text;
  }
  return out;
}

/**
 * Walks a dotted credential path; any element of a list on the way may match (oslo's
 * GenericCheck semantics, e.g. `roles:admin` against a list of roles).
 */
function credentialMatches(value: unknown, path: readonly string[], expected: string): boolean {
  if (Array.isArray(value)) {
    return value.some((item: unknown) => credentialMatches(item, path, expected));
  }
  const [head, ...rest] = path;
  if (head === undefined) return pythonStr(value) === expected;
  if (typeof value !== 'object' || value === null || !Object.hasOwn(value, head)) return false;
  return credentialMatches((value as Record<string, unknown>)[head], rest, expected);
}

export function evaluate(check: Check, target: PolicyTarget, creds: PolicyCredentials, lookup: RuleLookup): boolean {
  switch (check.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'not':
      return !evaluate(check.check, target, creds, lookup);
    case 'and':
      return check.checks.every((c) => evaluate(c, target, creds, lookup));
    case 'or':
      return check.checks.some((c) => evaluate(c, target, creds, lookup));
    case 'rule': {
      const referenced = lookup(check.name);
      return referenced !== undefined && evaluate(referenced, target, creds, lookup);
    }
    case 'role': {
      const role = expand(check.match, target)?.toLowerCase();
      return role !== undefined && creds.roles.some((r) => r.toLowerCase() === role);
    }
    case 'credential': {
      const expected = expand(check.match, target);
      return expected !== undefined && credentialMatches(creds, check.path, expected);
    }
    case 'literal':
      return expand(check.match, target) === check.value;
  }
}

/** Every rule name a check refers to through `rule:NAME`, for cycle detection. */
export function referencedRules(check: Check): string[] {
  switch (check.kind) {
    case 'rule':
      return [check.name];
    case 'not':
      return referencedRules(check.check);
    case 'and':
    case 'or':
      return check.checks.flatMap(referencedRules);
    case 'true':
    case 'false':
    case 'role':
    case 'credential':
    case 'literal':
      return [];
  }
}
