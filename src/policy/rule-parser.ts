/**
 * Parser for the oslo.policy rule language (reference §16.2):
 *
 *   rule    := or
 *   or      := and ('or' and)*
 *   and     := not ('and' not)*
 *   not     := 'not' not | '(' or ')' | check
 *   check   := '@' | '!' | KIND ':' VALUE
 *
 * giving oslo's precedence (not > and > or). An empty rule always passes. KIND is `rule`, `role`,
 * a quoted or Python literal (`'shared':%(visibility)s`, `True:%(x)s`), or else a dotted credential
 * path (`project_id`, `is_admin`). VALUE is text with `%(name)s` substitutions from the target, or
 * a quoted literal taken verbatim.
 *
 * Where oslo logs a bad rule and silently turns it into "deny", we throw PolicyRuleSyntaxError so a
 * broken policy file stops the service at startup instead of quietly locking users out.
 */
import type { Check, MatchPart } from './check.js';

export class PolicyRuleSyntaxError extends Error {
  override readonly name = 'PolicyRuleSyntaxError';
  readonly ruleText: string;
  readonly ruleName: string | undefined;

  constructor(ruleText: string, reason: string, ruleName?: string) {
    const subject = ruleName === undefined ? 'policy rule' : `policy rule "${ruleName}"`;
    super(`Invalid ${subject} ${JSON.stringify(ruleText)}: ${reason}`);
    this.ruleText = ruleText;
    this.ruleName = ruleName;
  }
}

type Token = { readonly kind: 'lparen' | 'rparen' | 'and' | 'or' | 'not' } | { readonly kind: 'check'; readonly text: string };

const KEYWORDS = new Set(['and', 'or', 'not']);

/**
 * oslo splits on whitespace and peels parentheses off each word's ends. We scan characters instead
 * so a `%(name)s` or a quoted literal inside a word is never mistaken for a parenthesis.
 */
function tokenize(text: string, fail: (reason: string) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text.charAt(i);
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '(' || ch === ')') {
      tokens.push({ kind: ch === '(' ? 'lparen' : 'rparen' });
      i++;
    } else {
      const start = i;
      while (i < text.length && !/[\s()]/.test(text.charAt(i))) {
        const c = text.charAt(i);
        if (c === "'" || c === '"') {
          const close = text.indexOf(c, i + 1);
          if (close < 0) fail(`unterminated quote at offset ${i}`);
          i = close + 1;
        } else if (c === '%' && text.charAt(i + 1) === '(') {
          const close = text.indexOf(')', i);
          if (close < 0) fail(`unterminated "%(" at offset ${i}`);
          i = close + 1;
        } else {
          i++;
        }
      }
      const word = text.slice(start, i);
      const lower = word.toLowerCase();
      tokens.push(KEYWORDS.has(lower) ? { kind: lower as 'and' | 'or' | 'not' } : { kind: 'check', text: word });
    }
  }
  return tokens;
}

function isQuoted(s: string): boolean {
  return s.length >= 2 && (s.startsWith("'") || s.startsWith('"')) && s.endsWith(s.charAt(0));
}

/** Splits Python `%`-format text into literal text and `%(name)s` references. */
function parseMatch(value: string, fail: (reason: string) => never): MatchPart[] {
  if (isQuoted(value)) return [{ kind: 'text', text: value.slice(1, -1) }];
  const parts: MatchPart[] = [];
  let text = '';
  let i = 0;
  while (i < value.length) {
    const pct = value.indexOf('%', i);
    if (pct < 0) {
      text += value.slice(i);
      break;
    }
    text += value.slice(i, pct);
    if (value.charAt(pct + 1) === '%') {
      text += '%';
      i = pct + 2;
      continue;
    }
    const ref = /^%\(([^)]*)\)s/.exec(value.slice(pct));
    if (ref === null) fail(`only %(name)s substitutions are supported, found ${JSON.stringify(value.slice(pct))}`);
    if (text !== '') parts.push({ kind: 'text', text });
    text = '';
    parts.push({ kind: 'attr', name: ref[1] ?? '' });
    i = pct + ref[0].length;
  }
  if (text !== '') parts.push({ kind: 'text', text });
  return parts;
}

/** Python literals that oslo's `ast.literal_eval` accepts on the left, rendered as `str()` would. */
function literalKind(kind: string): string | undefined {
  if (isQuoted(kind)) return kind.slice(1, -1);
  if (kind === 'True' || kind === 'False' || kind === 'None') return kind;
  if (/^-?\d+$/.test(kind)) return String(Number(kind));
  return undefined;
}

function splitKind(text: string): [string, string] | undefined {
  // A quoted literal kind may itself contain ':', so look for the separator after its closing quote.
  const quote = text.charAt(0);
  const from = quote === "'" || quote === '"' ? text.indexOf(quote, 1) + 1 : 0;
  const colon = text.indexOf(':', from);
  return colon < 0 ? undefined : [text.slice(0, colon), text.slice(colon + 1)];
}

function parseCheck(text: string, fail: (reason: string) => never): Check {
  if (text === '@') return { kind: 'true' };
  if (text === '!') return { kind: 'false' };
  const split = splitKind(text);
  if (split === undefined) fail(`expected KIND:VALUE, "@" or "!", found ${JSON.stringify(text)}`);
  const [kind, value] = split;
  if (kind === '' || value === '') fail(`empty kind or value in ${JSON.stringify(text)}`);
  if (kind === 'rule') return { kind: 'rule', name: value };
  if (kind === 'http' || kind === 'https') fail(`remote ${kind} checks are not supported`);
  const match = parseMatch(value, fail);
  if (kind === 'role') return { kind: 'role', match };
  const literal = literalKind(kind);
  if (literal !== undefined) return { kind: 'literal', value: literal, match };
  return { kind: 'credential', path: kind.split('.'), match };
}

class Parser {
  private pos = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly fail: (reason: string) => never,
  ) {}

  parse(): Check {
    if (this.tokens.length === 0) return { kind: 'true' };
    const check = this.parseOr();
    const extra = this.tokens[this.pos];
    if (extra !== undefined) this.fail(`unexpected ${describe(extra)} at token ${this.pos + 1}`);
    return check;
  }

  private parseOr(): Check {
    const checks = [this.parseAnd()];
    while (this.accept('or')) checks.push(this.parseAnd());
    return checks.length === 1 && checks[0] !== undefined ? checks[0] : { kind: 'or', checks };
  }

  private parseAnd(): Check {
    const checks = [this.parseNot()];
    while (this.accept('and')) checks.push(this.parseNot());
    return checks.length === 1 && checks[0] !== undefined ? checks[0] : { kind: 'and', checks };
  }

  private parseNot(): Check {
    if (this.accept('not')) return { kind: 'not', check: this.parseNot() };
    const token = this.tokens[this.pos];
    if (token === undefined) return this.fail('unexpected end of rule');
    this.pos++;
    switch (token.kind) {
      case 'lparen': {
        const inner = this.parseOr();
        if (!this.accept('rparen')) this.fail('missing ")"');
        return inner;
      }
      case 'check':
        return parseCheck(token.text, this.fail);
      case 'rparen':
      case 'and':
      case 'or':
      case 'not':
        return this.fail(`unexpected ${describe(token)} at token ${this.pos}`);
    }
  }

  private accept(kind: Token['kind']): boolean {
    if (this.tokens[this.pos]?.kind !== kind) return false;
    this.pos++;
    return true;
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'lparen':
      return '"("';
    case 'rparen':
      return '")"';
    case 'check':
      return JSON.stringify(token.text);
    case 'and':
    case 'or':
    case 'not':
      return `"${token.kind}"`;
  }
}

/** Parses rule text; `ruleName`, when given, is named in any error. */
export function parseRule(text: string, ruleName?: string): Check {
  const fail = (reason: string): never => {
    throw new PolicyRuleSyntaxError(text, reason, ruleName);
  };
  return new Parser(tokenize(text, fail), fail).parse();
}

/**
 * Converts oslo's legacy list-of-lists form (outer list OR'ed, inner lists AND'ed, each string a
 * single check) to rule text. As in oslo, `[]` always passes and a list of only empty lists never
 * does. Returns undefined when the value does not have that shape.
 */
export function legacyListToRuleText(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined;
  const alternatives: string[] = [];
  for (const inner of value as unknown[]) {
    const checks: unknown = typeof inner === 'string' ? [inner] : inner;
    if (!Array.isArray(checks)) return undefined;
    const strings = (checks as unknown[]).filter((c): c is string => typeof c === 'string');
    if (strings.length !== checks.length) return undefined;
    if (strings.length > 0) alternatives.push(`(${strings.map((c) => `(${c})`).join(' and ')})`);
  }
  if (value.length === 0) return '@';
  return alternatives.length === 0 ? '!' : alternatives.join(' or ');
}
