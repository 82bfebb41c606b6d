/**
 * Python `re` patterns, translated to JavaScript so property protection sections match exactly as
 * in Glance (reference §6: each section header is a Python regular expression, applied with
 * `re.search`, i.e. unanchored).
 *
 * The pattern is parsed the way CPython 3.11's `sre_parse` parses a str pattern (same tokens, same
 * errors for what Python rejects) into a small tree, then emitted as a JavaScript source for the
 * `u` flag. Nothing is passed through textually, because the two dialects disagree in many quiet
 * places; each difference is either emitted explicitly or refused with a ProtectionRuleError:
 *
 * - `.` excludes only `\n` in Python (JS also excludes `\r`, U+2028, U+2029) → `[^\n]`.
 * - `$` also matches before a final `\n`; `^`/`$` under `(?m)` see only `\n` as a line end;
 *   `\A`, `\Z` → explicit lookarounds, so the JS `m` and `s` flags are never used.
 * - `\d`, `\w`, `\s`, `\b` are Unicode-aware for str patterns: `\d` = `\p{Nd}`, `\w` =
 *   `[\p{L}\p{N}_]` (checked code point by code point against CPython 3.11), `\s` = CPython's
 *   `str.isspace()` set, which differs from JS `\s`. `(?a)` selects the ASCII sets. `\B` does not
 *   match the empty string in CPython up to 3.13.
 * - Case-insensitive matching is expanded into explicit character sets (the JS `i` flag folds
 *   differently: CPython also equates i/I with U+0130 and U+0131, s with U+017F, k with U+212A).
 *   Only ASCII and caseless characters are supported under `(?i)`; other cased letters are refused.
 * - Backreferences are kept only when the group is certain to have matched at that point: in JS
 *   a reference to a group that did not take part matches the empty string, in Python it fails.
 * - Refused outright: conditionals `(?(1)…)`, atomic groups and possessive quantifiers (Python
 *   3.11+ only, no JS equivalent), `\N{…}` names, the `L` and `t` flags, scoped `(?a:…)` (CPython
 *   3.11 applies it to `\d\w\s` but not to `\D\W\S`), non-ASCII group names, repeat counts
 *   above 65535 (CPython allows up to 2**32-2, V8 saturates large counts).
 * - Only the `u` flag is used: Node 20's V8 mis-matches some `v`-flag patterns
 *   (`/(?:[^b]a)+/v.test("aa")` is false), so sets are written without nested classes.
 *
 * Unicode property data comes from the JavaScript engine (Node 20 ships a newer Unicode version
 * than CPython 3.11's 14.0), so characters assigned after Unicode 14 may classify differently.
 */
import { ProtectionRuleError } from './protection-errors.js';

// ---------------------------------------------------------------------------------------------
// Tree

interface Flags {
  readonly ignoreCase: boolean;
  readonly multiline: boolean;
  readonly dotAll: boolean;
  readonly verbose: boolean;
  readonly ascii: boolean;
}

type CharSetName = 'digit' | 'word' | 'space';

type ClassItem =
  | { readonly kind: 'range'; readonly lo: number; readonly hi: number }
  | { readonly kind: 'set'; readonly set: CharSetName; readonly negated: boolean; readonly ascii: boolean };

type AnchorKind =
  | 'start' // ^ and \A
  | 'lineStart' // ^ under (?m)
  | 'end' // \Z
  | 'endOrFinalNewline' // $
  | 'lineEnd' // $ under (?m)
  | 'wordBoundary'
  | 'notWordBoundary';

interface AltNode {
  readonly kind: 'alt';
  readonly branches: readonly SeqNode[];
}
interface SeqNode {
  readonly kind: 'seq';
  readonly items: readonly Node[];
}
type Node =
  | AltNode
  | SeqNode
  | { readonly kind: 'char'; readonly cp: number; readonly ignoreCase: boolean }
  | { readonly kind: 'class'; readonly negated: boolean; readonly items: readonly ClassItem[]; readonly ignoreCase: boolean }
  | { readonly kind: 'any'; readonly dotAll: boolean }
  | { readonly kind: 'anchor'; readonly at: AnchorKind; readonly ascii: boolean }
  | { readonly kind: 'group'; readonly index: number | null; readonly name: string | null; readonly body: AltNode }
  | { readonly kind: 'look'; readonly behind: boolean; readonly negative: boolean; readonly body: AltNode }
  | { readonly kind: 'repeat'; readonly min: number; readonly max: number | null; readonly lazy: boolean; readonly body: Node }
  | { readonly kind: 'backref'; readonly index: number; readonly name: string | null };

// ---------------------------------------------------------------------------------------------
// Tokenizer: like sre_parse's, a token is one code point or a backslash plus the next code point.

class Source {
  private readonly cps: readonly string[];
  private index = 0;
  next: string | null = null;

  constructor(
    private readonly pattern: string,
    private readonly fail: (message: string, position: number) => never,
  ) {
    this.cps = Array.from(pattern);
    this.advance();
  }

  private advance(): void {
    const char = this.cps[this.index];
    if (char === undefined) {
      this.next = null;
      return;
    }
    if (char === '\\') {
      const escaped = this.cps[this.index + 1];
      if (escaped === undefined) this.fail('bad escape (end of pattern)', this.index);
      this.next = char + escaped;
      this.index += 2;
      return;
    }
    this.next = char;
    this.index += 1;
  }

  match(char: string): boolean {
    if (this.next !== char) return false;
    this.advance();
    return true;
  }

  get(): string | null {
    const token = this.next;
    this.advance();
    return token;
  }

  /** Up to `n` single-character tokens from `allowed`. */
  getWhile(n: number, allowed: string): string {
    let out = '';
    for (let i = 0; i < n; i++) {
      const c = this.next;
      if (c === null || c.length !== 1 || !allowed.includes(c)) break;
      out += c;
      this.advance();
    }
    return out;
  }

  /** Position (in code points) of the next token. */
  tell(): number {
    return this.index - (this.next === null ? 0 : Array.from(this.next).length);
  }

  seek(position: number): void {
    this.index = position;
    this.advance();
  }
}

const DIGITS = '0123456789';
const OCT_DIGITS = '01234567';
const HEX_DIGITS = '0123456789abcdefABCDEF';
const VERBOSE_WHITESPACE = new Set([' ', '\t', '\n', '\r', '\v', '\f']);
const ASCII_LETTER = /^[A-Za-z]$/;
/** CPython's MAXREPEAT is 2**32-1; we stop far lower (see the module comment). */
const REPEAT_LIMIT = 65535;
const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
const CATEGORY_ESCAPES: Readonly<Record<string, { set: CharSetName; negated: boolean }>> = {
  d: { set: 'digit', negated: false },
  D: { set: 'digit', negated: true },
  s: { set: 'space', negated: false },
  S: { set: 'space', negated: true },
  w: { set: 'word', negated: false },
  W: { set: 'word', negated: true },
};
const CASED = /^\p{Cased}$/u;

const INITIAL_FLAGS: Flags = { ignoreCase: false, multiline: false, dotAll: false, verbose: false, ascii: false };

// ---------------------------------------------------------------------------------------------
// Parser (mirrors sre_parse._parse_sub / _parse / _escape / _class_escape / _parse_flags)

class Parser {
  private readonly src: Source;
  private global: Flags = INITIAL_FLAGS;
  private globalUnicode = false;
  private groupCount = 0;
  private readonly names = new Map<string, number>();
  private readonly closed = new Set<number>();
  private lookbehindDepth = 0;

  constructor(private readonly pattern: string) {
    this.src = new Source(pattern, (message, position) => this.invalid(message, position));
  }

  invalid(message: string, position: number): never {
    throw new ProtectionRuleError(`invalid regular expression ${JSON.stringify(this.pattern)}: ${message} at position ${position}`);
  }

  unsupported(message: string, position: number | null): never {
    throw new ProtectionRuleError(
      `unsupported regular expression ${JSON.stringify(this.pattern)}: ${message}${position === null ? '' : ` at position ${position}`}` +
        ' (only Python constructs that match identically in JavaScript are accepted)',
    );
  }

  parse(): AltNode {
    const tree = this.parseSub(null, 0);
    if (this.src.next !== null) this.invalid('unbalanced parenthesis', this.src.tell());
    return tree;
  }

  /** `scope` is null at top level, where the (leading) global flags are read live. */
  private parseSub(scope: Flags | null, nested: number): AltNode {
    const branches: SeqNode[] = [];
    for (;;) {
      branches.push(this.parseSeq(scope, nested, nested === 0 && branches.length === 0));
      if (!this.src.match('|')) break;
    }
    return { kind: 'alt', branches };
  }

  private parseSeq(scope: Flags | null, nested: number, first: boolean): SeqNode {
    const items: Node[] = [];
    for (;;) {
      const flags = scope ?? this.global;
      const next = this.src.next;
      if (next === null || next === '|' || next === ')') break;
      const here = this.src.tell();
      this.src.get();
      if (flags.verbose) {
        if (VERBOSE_WHITESPACE.has(next)) continue;
        if (next === '#') {
          for (;;) {
            const c = this.src.get();
            if (c === null || c === '\n') break;
          }
          continue;
        }
      }
      if (next.length === 2) {
        items.push(this.escape(next, flags, here));
        continue;
      }
      switch (next) {
        case '[':
          items.push(this.parseClass(flags, here));
          break;
        case '?':
        case '*':
        case '+':
        case '{':
          this.repeat(next, items, flags, here);
          break;
        case '.':
          items.push({ kind: 'any', dotAll: flags.dotAll });
          break;
        case '^':
          items.push({ kind: 'anchor', at: flags.multiline ? 'lineStart' : 'start', ascii: flags.ascii });
          break;
        case '$':
          items.push({ kind: 'anchor', at: flags.multiline ? 'lineEnd' : 'endOrFinalNewline', ascii: flags.ascii });
          break;
        case '(': {
          const node = this.parseGroup(flags, nested, first && items.length === 0, here);
          if (node !== null) items.push(node);
          break;
        }
        default:
          items.push(this.literal(next.codePointAt(0) ?? 0, flags, here));
      }
    }
    return { kind: 'seq', items };
  }

  private literal(cp: number, flags: Flags, position: number): Node {
    if (flags.ignoreCase) this.checkCaseless(cp, position);
    return { kind: 'char', cp, ignoreCase: flags.ignoreCase };
  }

  /** Under (?i) only ASCII and caseless characters have a folding we reproduce exactly. */
  private checkCaseless(cp: number, position: number): void {
    if (cp > 0x7f && CASED.test(String.fromCodePoint(cp))) {
      this.unsupported(`case-insensitive matching of the non-ASCII letter ${JSON.stringify(String.fromCodePoint(cp))}`, position);
    }
  }

  private repeat(token: string, items: Node[], flags: Flags, here: number): void {
    let min: number;
    let max: number | null;
    if (token === '?') [min, max] = [0, 1];
    else if (token === '*') [min, max] = [0, null];
    else if (token === '+') [min, max] = [1, null];
    else {
      // `{` is a quantifier only in the forms {m}, {m,}, {,n}, {m,n}; otherwise a literal.
      if (this.src.next === '}') {
        items.push(this.literal(0x7b, flags, here));
        return;
      }
      const after = this.src.tell();
      const lo = this.src.getWhile(Infinity, DIGITS);
      const hi = this.src.match(',') ? this.src.getWhile(Infinity, DIGITS) : lo;
      if (!this.src.match('}')) {
        items.push(this.literal(0x7b, flags, here));
        this.src.seek(after);
        return;
      }
      min = lo === '' ? 0 : Number(lo);
      max = hi === '' ? null : Number(hi);
      if (min > REPEAT_LIMIT || (max !== null && max > REPEAT_LIMIT)) {
        this.unsupported(`repeat count above ${REPEAT_LIMIT}`, here);
      }
      if (max !== null && max < min) this.invalid('min repeat greater than max repeat', after);
    }
    const last = items.at(-1);
    if (last === undefined || last.kind === 'anchor') this.invalid('nothing to repeat', here);
    if (last.kind === 'repeat') this.invalid('multiple repeat', here);
    const lazy = this.src.match('?');
    if (!lazy && this.src.match('+')) this.unsupported('possessive quantifier', here);
    items[items.length - 1] = { kind: 'repeat', min, max, lazy, body: last };
  }

  /** Returns null for constructs that add nothing to the sequence (comments, global flags). */
  private parseGroup(flags: Flags, nested: number, atStart: boolean, start: number): Node | null {
    let capture = true;
    let name: string | null = null;
    let inner = flags;
    if (this.src.match('?')) {
      const c = this.src.get();
      if (c === null) this.invalid('unexpected end of pattern', this.src.tell());
      if (c === 'P') {
        if (this.src.match('<')) {
          name = this.groupName('>');
        } else if (this.src.match('=')) {
          const refName = this.groupName(')');
          const index = this.names.get(refName);
          if (index === undefined) this.invalid(`unknown group name ${JSON.stringify(refName)}`, start);
          return this.backref(index, refName, flags, start);
        } else {
          const d = this.src.get();
          if (d === null) this.invalid('unexpected end of pattern', this.src.tell());
          this.invalid(`unknown extension ?P${d}`, start + 1);
        }
      } else if (c === ':') {
        capture = false;
      } else if (c === '#') {
        for (;;) {
          const d = this.src.get();
          if (d === null) this.invalid('missing ), unterminated comment', start);
          if (d === ')') return null;
        }
      } else if (c === '=' || c === '!' || c === '<') {
        let behind = false;
        let negative = c === '!';
        if (c === '<') {
          const d = this.src.get();
          if (d === null) this.invalid('unexpected end of pattern', this.src.tell());
          if (d !== '=' && d !== '!') this.invalid(`unknown extension ?<${d}`, start + 1);
          behind = true;
          negative = d === '!';
        }
        if (behind) this.lookbehindDepth++;
        const body = this.parseSub(flags, nested + 1);
        if (behind) this.lookbehindDepth--;
        if (!this.src.match(')')) this.invalid('missing ), unterminated subpattern', start);
        if (behind) {
          const [lo, hi] = width(body);
          if (lo !== hi) this.invalid('look-behind requires fixed-width pattern', start);
        }
        return { kind: 'look', behind, negative, body };
      } else if (c === '(') {
        this.unsupported('conditional group (?(...)...)', start);
      } else if (c === '>') {
        this.unsupported('atomic group (?>...)', start);
      } else if (c.length === 1 && ('aiLmsuxt'.includes(c) || c === '-')) {
        const scoped = this.parseFlags(c, flags, atStart, start);
        if (scoped === null) return null;
        inner = scoped;
        capture = false;
      } else {
        this.invalid(`unknown extension ?${c}`, start + 1);
      }
    }
    let index: number | null = null;
    if (capture) {
      index = ++this.groupCount;
      if (name !== null) {
        const earlier = this.names.get(name);
        if (earlier !== undefined) {
          this.invalid(`redefinition of group name ${JSON.stringify(name)} as group ${index}; was group ${earlier}`, start);
        }
        this.names.set(name, index);
      }
    }
    const body = this.parseSub(inner, nested + 1);
    if (!this.src.match(')')) this.invalid('missing ), unterminated subpattern', start);
    if (index !== null) this.closed.add(index);
    return { kind: 'group', index, name, body };
  }

  private groupName(terminator: string): string {
    let name = '';
    const at = this.src.tell();
    for (;;) {
      const c = this.src.get();
      if (c === null) this.invalid(name === '' ? 'missing group name' : `missing ${terminator}, unterminated name`, at);
      if (c === terminator) break;
      name += c;
    }
    if (name === '') this.invalid('missing group name', at);
    // Python accepts any identifier; JS group names differ outside ASCII, so keep to ASCII.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      if (/^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u.test(name)) {
        this.unsupported(`non-ASCII group name ${JSON.stringify(name)}`, at);
      }
      this.invalid(`bad character in group name ${JSON.stringify(name)}`, at);
    }
    return name;
  }

  private backref(index: number, name: string | null, flags: Flags, position: number): Node {
    if (!this.closed.has(index)) this.invalid('cannot refer to an open group', position);
    if (this.lookbehindDepth > 0) this.unsupported('backreference inside a look-behind', position);
    if (flags.ignoreCase) this.unsupported('case-insensitive backreference', position);
    return { kind: 'backref', index, name };
  }

  /** Returns null for global flags, the new flags for a scoped `(?flags-flags:...)` group. */
  private parseFlags(firstChar: string, flags: Flags, atStart: boolean, start: number): Flags | null {
    const add = new Set<string>();
    const del = new Set<string>();
    let c: string | null = firstChar;
    const isFlag = (x: string): boolean => x.length === 1 && 'aiLmsuxt'.includes(x);
    if (c !== '-') {
      for (;;) {
        if (c === 'L') this.invalid("bad inline flags: cannot use 'L' flag with a str pattern", this.src.tell());
        if (c === 't') this.unsupported('the template flag (?t)', start);
        add.add(c);
        if (add.has('a') && add.has('u')) this.invalid("bad inline flags: flags 'a', 'u' and 'L' are incompatible", this.src.tell());
        c = this.src.get();
        if (c === null) this.invalid('missing -, : or )', this.src.tell());
        if (c === ')' || c === '-' || c === ':') break;
        if (!isFlag(c)) this.invalid(/^\p{L}$/u.test(c) ? 'unknown flag' : 'missing -, : or )', this.src.tell() - 1);
      }
    }
    if (c === ')') {
      if (!atStart) this.invalid('global flags not at the start of the expression', start);
      if (add.has('a') && this.globalUnicode) this.invalid('ASCII and UNICODE flags are incompatible', start);
      if (add.has('u')) {
        if (this.global.ascii) this.invalid('ASCII and UNICODE flags are incompatible', start);
        this.globalUnicode = true;
      }
      this.global = applyFlags(this.global, add, del);
      if (this.global.ascii && this.global.ignoreCase) this.unsupported('(?a) combined with (?i)', start);
      return null;
    }
    if (c === '-') {
      c = this.src.get();
      if (c === null) this.invalid('missing flag', this.src.tell());
      if (!isFlag(c)) this.invalid(/^\p{L}$/u.test(c) ? 'unknown flag' : 'missing flag', this.src.tell() - 1);
      for (;;) {
        if (c === 'a' || c === 'u' || c === 'L') this.invalid("bad inline flags: cannot turn off flags 'a', 'u' and 'L'", this.src.tell());
        if (c === 't') this.unsupported('the template flag (?t)', start);
        del.add(c);
        c = this.src.get();
        if (c === null) this.invalid('missing :', this.src.tell());
        if (c === ':') break;
        if (!isFlag(c)) this.invalid(/^\p{L}$/u.test(c) ? 'unknown flag' : 'missing :', this.src.tell() - 1);
      }
    }
    for (const f of add) if (del.has(f)) this.invalid('bad inline flags: flag turned on and off', this.src.tell());
    // CPython 3.11 applies a scoped (?a:...) to \d, \w, \s but not to \D, \W, \S (they stay Unicode).
    if (add.has('a')) this.unsupported('scoped ASCII flag (?a:...), which CPython applies inconsistently', start);
    if (add.has('u') && flags.ascii) this.unsupported('(?u:...) inside an ASCII scope', start);
    const scoped = applyFlags(flags, add, del);
    if (scoped.ascii && scoped.ignoreCase) this.unsupported('(?a) combined with (?i)', start);
    return scoped;
  }

  private escape(token: string, flags: Flags, here: number): Node {
    const c = token.slice(1);
    switch (c) {
      case 'A':
        return { kind: 'anchor', at: 'start', ascii: flags.ascii };
      case 'Z':
        return { kind: 'anchor', at: 'end', ascii: flags.ascii };
      case 'b':
        return { kind: 'anchor', at: 'wordBoundary', ascii: flags.ascii };
      case 'B':
        return { kind: 'anchor', at: 'notWordBoundary', ascii: flags.ascii };
      default:
        break;
    }
    const category = CATEGORY_ESCAPES[c];
    if (category !== undefined) {
      return { kind: 'class', negated: false, items: [{ kind: 'set', ...category, ascii: flags.ascii }], ignoreCase: false };
    }
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) return this.literal(simple, flags, here);
    const numeric = this.numericEscape(c, here, false);
    if (numeric !== null) return this.literal(numeric, flags, here);
    if (c === '0') {
      const digits = this.src.getWhile(2, OCT_DIGITS);
      return this.literal(parseInt(`0${digits}`, 8), flags, here);
    }
    if (DIGITS.includes(c)) {
      // Octal escape (three octal digits) or a group reference, as in sre_parse._escape.
      let digits = c;
      const next = this.src.next;
      if (next !== null && next.length === 1 && DIGITS.includes(next)) {
        digits += next;
        this.src.get();
        const third = this.src.next;
        if (OCT_DIGITS.includes(c) && OCT_DIGITS.includes(next) && third !== null && third.length === 1 && OCT_DIGITS.includes(third)) {
          this.src.get();
          const value = parseInt(digits + third, 8);
          if (value > 0o377) this.invalid(`octal escape value \\${digits}${third} outside of range 0-0o377`, here);
          return this.literal(value, flags, here);
        }
      }
      const index = Number(digits);
      if (index > this.groupCount) this.invalid(`invalid group reference ${index}`, here + 1);
      return this.backref(index, null, flags, here);
    }
    if (ASCII_LETTER.test(c)) this.invalid(`bad escape ${token}`, here);
    return this.literal(c.codePointAt(0) ?? 0, flags, here);
  }

  /** `\x`, `\u`, `\U` (and the refused `\N`); null when `c` is none of them. */
  private numericEscape(c: string, here: number, inClass: boolean): number | null {
    const lengths: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };
    const length = lengths[c];
    if (length !== undefined) {
      const hex = this.src.getWhile(length, HEX_DIGITS);
      if (hex.length !== length) this.invalid(`incomplete escape \\${c}${hex}`, here);
      const value = parseInt(hex, 16);
      if (value > 0x10ffff) this.invalid(`bad escape \\${c}${hex}`, here);
      return value;
    }
    if (c === 'N') this.unsupported(`named character escape \\N{...}${inClass ? ' in a character set' : ''}`, here);
    return null;
  }

  private parseClass(flags: Flags, start: number): Node {
    const items: ClassItem[] = [];
    const negated = this.src.match('^');
    for (;;) {
      const here = this.src.tell();
      const token = this.src.get();
      if (token === null) this.invalid('unterminated character set', start);
      if (token === ']' && items.length > 0) break;
      const first = this.classAtom(token, here, flags);
      if (this.src.match('-')) {
        const thatAt = this.src.tell();
        const that = this.src.get();
        if (that === null) this.invalid('unterminated character set', start);
        if (that === ']') {
          items.push(first, { kind: 'range', lo: 0x2d, hi: 0x2d });
          break;
        }
        const second = this.classAtom(that, thatAt, flags);
        if (first.kind !== 'range' || second.kind !== 'range' || second.lo < first.lo) {
          this.invalid(`bad character range ${token}-${that}`, here);
        }
        items.push({ kind: 'range', lo: first.lo, hi: second.lo });
      } else {
        items.push(first);
      }
    }
    if (flags.ignoreCase) {
      for (const item of items) {
        if (item.kind !== 'range') continue;
        if (item.hi > 0x7f && item.lo !== item.hi) this.unsupported('case-insensitive character range beyond ASCII', start);
        this.checkCaseless(item.lo, start);
      }
    }
    return { kind: 'class', negated, items, ignoreCase: flags.ignoreCase };
  }

  /** One member of a set: a single character (as a one-point range) or a category. */
  private classAtom(token: string, here: number, flags: Flags): ClassItem {
    if (token.length === 1) {
      const cp = token.codePointAt(0) ?? 0;
      return { kind: 'range', lo: cp, hi: cp };
    }
    const c = token.slice(1);
    const simple = c === 'b' ? 8 : SIMPLE_ESCAPES[c];
    if (simple !== undefined) return { kind: 'range', lo: simple, hi: simple };
    const category = CATEGORY_ESCAPES[c];
    if (category !== undefined) return { kind: 'set', ...category, ascii: flags.ascii };
    const numeric = this.numericEscape(c, here, true);
    if (numeric !== null) return { kind: 'range', lo: numeric, hi: numeric };
    if (OCT_DIGITS.includes(c)) {
      const digits = c + this.src.getWhile(2, OCT_DIGITS);
      const value = parseInt(digits, 8);
      if (value > 0o377) this.invalid(`octal escape value \\${digits} outside of range 0-0o377`, here);
      return { kind: 'range', lo: value, hi: value };
    }
    if (DIGITS.includes(c) || ASCII_LETTER.test(c)) this.invalid(`bad escape ${token}`, here);
    const cp = c.codePointAt(0) ?? 0;
    return { kind: 'range', lo: cp, hi: cp };
  }
}

function applyFlags(flags: Flags, add: ReadonlySet<string>, del: ReadonlySet<string>): Flags {
  const value = (letter: string, current: boolean): boolean => (add.has(letter) ? true : del.has(letter) ? false : current);
  return {
    ignoreCase: value('i', flags.ignoreCase),
    multiline: value('m', flags.multiline),
    dotAll: value('s', flags.dotAll),
    verbose: value('x', flags.verbose),
    ascii: add.has('u') ? false : value('a', flags.ascii),
  };
}

/** [min, max] length of what a node matches, as sre_parse's getwidth (max may be Infinity). */
function width(node: Node): [number, number] {
  switch (node.kind) {
    case 'alt': {
      const widths = node.branches.map(width);
      return [Math.min(...widths.map((w) => w[0])), Math.max(...widths.map((w) => w[1]))];
    }
    case 'seq':
      return node.items.map(width).reduce<[number, number]>((acc, w) => [acc[0] + w[0], acc[1] + w[1]], [0, 0]);
    case 'char':
    case 'class':
    case 'any':
      return [1, 1];
    case 'anchor':
    case 'look':
      return [0, 0];
    case 'group':
      return width(node.body);
    case 'repeat': {
      const [lo, hi] = width(node.body);
      // As sre_parse: an unbounded repeat of something non-empty is unbounded, `{0}` is empty even
      // around an unbounded body (Infinity * 0 would be NaN).
      if (node.max === null) return [lo * node.min, hi > 0 ? Infinity : 0];
      return [lo * node.min, node.max === 0 ? 0 : hi * node.max];
    }
    case 'backref':
      return [0, Infinity];
  }
}

// ---------------------------------------------------------------------------------------------
// Backreference safety: the referenced group must have matched whenever the reference is reached.

function checkBackrefs(tree: AltNode, unsupported: (message: string) => never): void {
  const groups = new Map<number, readonly Node[]>();
  const refs: { readonly index: number; readonly path: readonly Node[] }[] = [];
  const walk = (node: Node, path: readonly Node[]): void => {
    const here = [...path, node];
    switch (node.kind) {
      case 'alt':
        for (const b of node.branches) walk(b, here);
        return;
      case 'seq':
        for (const i of node.items) walk(i, here);
        return;
      case 'group':
        if (node.index !== null) groups.set(node.index, here);
        walk(node.body, here);
        return;
      case 'look':
      case 'repeat':
        walk(node.body, here);
        return;
      case 'backref':
        refs.push({ index: node.index, path: here });
        return;
      case 'char':
      case 'class':
      case 'any':
      case 'anchor':
        return;
    }
  };
  walk(tree, []);
  for (const ref of refs) {
    const groupPath = groups.get(ref.index) ?? [];
    let common = 0;
    while (common < groupPath.length && common < ref.path.length && groupPath[common] === ref.path[common]) common++;
    const ancestor = groupPath[common - 1];
    const optional =
      (ancestor?.kind === 'alt' && ancestor.branches.length > 1) ||
      groupPath.slice(common).some((n) => (n.kind === 'alt' && n.branches.length > 1) || (n.kind === 'repeat' && n.min === 0) || n.kind === 'look');
    if (optional) {
      unsupported(`backreference to group ${ref.index}, which may not have matched at that point (JavaScript would match the empty string where Python fails)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Emitter (JavaScript `u` flag syntax; every non-alphanumeric character is written as \u{...}).

function lit(cp: number): string {
  return /^[A-Za-z0-9_]$/.test(String.fromCodePoint(cp)) ? String.fromCodePoint(cp) : `\\u{${cp.toString(16)}}`;
}

const UNICODE_SPACE: readonly (readonly [number, number])[] = [
  [0x09, 0x0d],
  [0x1c, 0x20],
  [0x85, 0x85],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];
const ASCII_SPACE: readonly (readonly [number, number])[] = [
  [0x09, 0x0d],
  [0x20, 0x20],
];

function rangesSource(ranges: readonly (readonly [number, number])[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? lit(lo) : `${lit(lo)}-${lit(hi)}`)).join('');
}

/** The members of a category, written for use inside a class. */
type Ranges = readonly (readonly [number, number])[];

const ASCII_DIGIT: Ranges = [[0x30, 0x39]];
const ASCII_WORD: Ranges = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
];

/** Every code point not in `ranges` (which are sorted and disjoint). */
function complement(ranges: Ranges): Ranges {
  const out: [number, number][] = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}

/**
 * The members of a category for use inside a `u`-flag class, or null for Unicode `\W`, which a
 * class cannot express without nested classes (the `v` flag is avoided, see emitClass).
 */
function setMembers(set: CharSetName, negated: boolean, ascii: boolean): string | null {
  const ranges = (r: Ranges): string => rangesSource(negated ? complement(r) : r);
  switch (set) {
    case 'digit':
      return ascii ? ranges(ASCII_DIGIT) : negated ? '\\P{Nd}' : '\\p{Nd}';
    case 'word':
      return ascii ? ranges(ASCII_WORD) : negated ? null : '\\p{L}\\p{N}_';
    case 'space':
      return ranges(ascii ? ASCII_SPACE : UNICODE_SPACE);
  }
}

const ANY = '[\\s\\S]';

/** ASCII characters plus the non-ASCII ones CPython treats as case-equal to ASCII letters. */
const PYTHON_CASE_SPECIALS: Readonly<Record<string, readonly number[]>> = { i: [0x130, 0x131], k: [0x212a], s: [0x17f] };

/**
 * The code points a case-insensitive set matches in CPython: `ch` matches when `lower(ch)` is the
 * lowercase of some member (sre_compile's charmap plus its `_ignorecase_fixes`). Members are
 * ASCII here (others were refused or are caseless and kept as they are).
 */
function caseFoldRanges(members: readonly (readonly [number, number])[]): [number, number][] {
  const lowered = new Set<number>();
  const out: [number, number][] = [];
  for (const [lo, hi] of members) {
    if (lo > 0x7f) {
      out.push([lo, hi]); // caseless non-ASCII character (checked by the parser)
      continue;
    }
    for (let cp = lo; cp <= Math.min(hi, 0x7f); cp++) lowered.add(String.fromCodePoint(cp).toLowerCase().codePointAt(0) ?? cp);
  }
  for (let cp = 0; cp <= 0x7f; cp++) {
    if (lowered.has(String.fromCodePoint(cp).toLowerCase().codePointAt(0) ?? cp)) out.push([cp, cp]);
  }
  for (const [letter, extra] of Object.entries(PYTHON_CASE_SPECIALS)) {
    if (lowered.has(letter.codePointAt(0) ?? 0)) for (const cp of extra) out.push([cp, cp]);
  }
  return out;
}

/**
 * A Python set as a `u`-flag class. The `v` flag would allow nested classes, but Node 20's V8
 * mis-matches with it (`/(?:[^b]a)+/v` does not match "aa"), so a set holding Unicode `\W` is
 * written as an alternation, and when negated as a negative lookahead before one character.
 */
function emitClass(negated: boolean, items: readonly ClassItem[], ignoreCase: boolean): string {
  const ranges = items.filter((i) => i.kind === 'range').map((i): [number, number] => [i.lo, i.hi]);
  let inline = rangesSource(ignoreCase ? caseFoldRanges(ranges) : ranges);
  let notWord = false;
  for (const item of items) {
    if (item.kind !== 'set') continue;
    const members = setMembers(item.set, item.negated, item.ascii);
    if (members === null) notWord = true;
    else inline += members;
  }
  if (!notWord) return `[${negated ? '^' : ''}${inline}]`;
  const union = inline === '' ? NOT_WORD : `(?:[${inline}]|${NOT_WORD})`;
  return negated ? `(?!${union})${ANY}` : union;
}

const NOT_WORD = '[^\\p{L}\\p{N}_]';

function wordClass(ascii: boolean): string {
  return `[${setMembers('word', false, ascii) ?? ''}]`;
}

function emitAnchor(at: AnchorKind, ascii: boolean): string {
  const w = wordClass(ascii);
  switch (at) {
    case 'start':
      return `(?<!${ANY})`;
    case 'lineStart':
      return '(?<![^\\n])';
    case 'end':
      return `(?!${ANY})`;
    case 'endOrFinalNewline':
      return `(?=\\n?(?!${ANY}))`;
    case 'lineEnd':
      return '(?![^\\n])';
    case 'wordBoundary':
      return `(?:(?<=${w})(?!${w})|(?<!${w})(?=${w}))`;
    case 'notWordBoundary':
      return `(?:(?<=${w})(?=${w})|(?<!${w})(?!${w})(?:(?<=${ANY})|(?=${ANY})))`;
  }
}

function emit(node: Node): string {
  switch (node.kind) {
    case 'alt':
      return node.branches.map(emit).join('|');
    case 'seq':
      return node.items.map(emit).join('');
    case 'char':
      return node.ignoreCase ? emitClass(false, [{ kind: 'range', lo: node.cp, hi: node.cp }], true) : lit(node.cp);
    case 'class':
      return emitClass(node.negated, node.items, node.ignoreCase);
    case 'any':
      return node.dotAll ? ANY : '[^\\n]';
    case 'anchor':
      return emitAnchor(node.at, node.ascii);
    case 'group':
      if (node.index === null) return `(?:${emit(node.body)})`;
      return node.name === null ? `(${emit(node.body)})` : `(?<${node.name}>${emit(node.body)})`;
    case 'look':
      return `(?${node.behind ? '<' : ''}${node.negative ? '!' : '='}${emit(node.body)})`;
    case 'repeat': {
      const { min, max } = node;
      const quantifier =
        max === null ? (min === 0 ? '*' : min === 1 ? '+' : `{${min},}`) : min === 0 && max === 1 ? '?' : min === max ? `{${min}}` : `{${min},${max}}`;
      return `(?:${emit(node.body)})${quantifier}${node.lazy ? '?' : ''}`;
    }
    case 'backref':
      return node.name === null ? `(?:\\${node.index})` : `(?:\\k<${node.name}>)`;
  }
}

// ---------------------------------------------------------------------------------------------
// Shape: facts used to warn about shadowed protection sections (see property-protections.ts).

/** Literal text (exact case) that every match of one top-level alternative contains. */
export interface PatternBranchShape {
  /** Every match starts at the beginning of the name with this text ('' when unknown). */
  readonly anchoredPrefix: string;
  /** Every match ends at the end of the name with this text ('' when unknown). */
  readonly anchoredSuffix: string;
  /** Runs of literal characters that every match contains. */
  readonly literalRuns: readonly string[];
}

/**
 * How the pattern decides, for property names without a newline (the only ones the heuristics
 * consider); `T` is any text the pattern matches:
 * - `everything`: every non-empty name matches (`.*`, `^.+$`, `^`, …);
 * - `prefix`: `^` and no other assertion (or a final `.*$`): every name starting with T matches;
 * - `contains`: no assertion (or only `^.*`, `.*$`): every name containing T matches;
 * - `suffix`: `$`/`\Z` and no other assertion (or a leading `^.*`): every name ending with T matches;
 * - `other`: anything else.
 */
export type PatternForm = 'everything' | 'prefix' | 'contains' | 'suffix' | 'other';

export interface PatternShape {
  readonly form: PatternForm;
  readonly branches: readonly PatternBranchShape[];
}

function alwaysNullable(node: Node): boolean {
  switch (node.kind) {
    case 'alt':
      return node.branches.some(alwaysNullable);
    case 'seq':
      return node.items.every(alwaysNullable);
    case 'group':
      return alwaysNullable(node.body);
    case 'repeat':
      return node.min === 0 || alwaysNullable(node.body);
    case 'char':
    case 'class':
    case 'any':
    case 'anchor':
    case 'look':
    case 'backref':
      return false;
  }
}

const isStartAnchor = (n: Node | undefined): boolean => n?.kind === 'anchor' && (n.at === 'start' || n.at === 'lineStart');
const isEndAnchor = (n: Node | undefined): boolean => n?.kind === 'anchor' && (n.at === 'end' || n.at === 'endOrFinalNewline' || n.at === 'lineEnd');
/** A group around exactly one item stands for that item (`(.*)` is `.*` for these purposes). */
function unwrap(node: Node): Node {
  let n = node;
  while (n.kind === 'group' && n.body.branches.length === 1 && n.body.branches[0]?.items.length === 1) {
    const inner = n.body.branches[0].items[0];
    if (inner === undefined) break;
    n = inner;
  }
  return n;
}

/** A class that contains every character except perhaps `\n`. */
function isAnyChar(node: Node): boolean {
  if (node.kind === 'any') return true;
  if (node.kind !== 'class') return false;
  if (node.negated) return node.items.every((i) => i.kind === 'range' && i.lo === 0x0a && i.hi === 0x0a);
  return (['digit', 'word', 'space'] as const).some(
    (name) =>
      node.items.some((i) => i.kind === 'set' && i.set === name && !i.negated) && node.items.some((i) => i.kind === 'set' && i.set === name && i.negated),
  );
}

/** Strips leading start anchors and trailing end anchors. */
function splitAnchors(items: readonly Node[]): { hasStart: boolean; hasEnd: boolean; middle: readonly Node[] } {
  let from = 0;
  let to = items.length;
  while (from < to && isStartAnchor(items[from])) from++;
  while (to > from && isEndAnchor(items[to - 1])) to--;
  return { hasStart: from > 0, hasEnd: to < items.length, middle: items.slice(from, to) };
}

function matchesEveryName(seq: SeqNode): boolean {
  const { hasStart, hasEnd, middle } = splitAnchors(seq.items);
  let minTotal = 0;
  let unbounded = false;
  for (const wrapped of middle) {
    const item = unwrap(wrapped);
    if (isAnyChar(item)) {
      minTotal += 1;
    } else if (item.kind === 'repeat' && isAnyChar(unwrap(item.body))) {
      minTotal += item.min;
      unbounded ||= item.max === null;
    } else if (!alwaysNullable(item)) {
      return false;
    }
  }
  return minTotal <= 1 && (!(hasStart && hasEnd) || unbounded);
}

/** Does the subtree hold an anchor or look-around (something that looks beyond its own match)? */
function hasAssertion(node: Node): boolean {
  switch (node.kind) {
    case 'alt':
      return node.branches.some(hasAssertion);
    case 'seq':
      return node.items.some(hasAssertion);
    case 'group':
    case 'repeat':
      return hasAssertion(node.body);
    case 'anchor':
    case 'look':
      return true;
    case 'char':
    case 'class':
    case 'any':
    case 'backref':
      return false;
  }
}

/** `.*`, `.+`, `.{2,}`…: absorbs any further characters of a name. */
function isUnboundedAny(node: Node | undefined): boolean {
  if (node === undefined) return false;
  const n = unwrap(node);
  return n.kind === 'repeat' && n.max === null && isAnyChar(unwrap(n.body));
}

function formOf(tree: AltNode): PatternForm {
  if (tree.branches.some(matchesEveryName)) return 'everything';
  const only = tree.branches[0];
  if (tree.branches.length !== 1 || only === undefined) return 'other';
  const { hasStart, hasEnd, middle } = splitAnchors(only.items);
  // Without assertions in the middle, a match inside a text is still a match inside any longer
  // name holding that text; an outer anchor next to `.*` does not constrain anything either.
  if (middle.some(hasAssertion)) return 'other';
  const openStart = !hasStart || isUnboundedAny(middle[0]);
  const openEnd = !hasEnd || isUnboundedAny(middle.at(-1));
  if (openStart && openEnd) return 'contains';
  if (openEnd) return 'prefix';
  if (openStart) return 'suffix';
  return 'other';
}

/** The character an item matches when it is one exact-case literal (`a`, or `(a)`). */
function exactChar(node: Node | undefined): string | null {
  if (node === undefined) return null;
  const n = unwrap(node);
  return n.kind === 'char' && !n.ignoreCase ? String.fromCodePoint(n.cp) : null;
}

function branchShape(seq: SeqNode): PatternBranchShape {
  const items = seq.items;
  const { hasStart, hasEnd } = splitAnchors(items);
  let anchoredPrefix = '';
  if (hasStart) {
    let i = 0;
    while (isStartAnchor(items[i])) i++;
    for (let c = exactChar(items[i]); c !== null; c = exactChar(items[++i])) anchoredPrefix += c;
  }
  let anchoredSuffix = '';
  if (hasEnd) {
    let j = items.length - 1;
    while (isEndAnchor(items[j])) j--;
    for (let c = exactChar(items[j]); c !== null; c = exactChar(items[--j])) anchoredSuffix = c + anchoredSuffix;
  }
  const literalRuns: string[] = [];
  let run = '';
  for (const item of items) {
    const c = exactChar(item);
    if (c !== null) run += c;
    else if (run !== '') {
      literalRuns.push(run);
      run = '';
    }
  }
  if (run !== '') literalRuns.push(run);
  return { anchoredPrefix, anchoredSuffix, literalRuns };
}

// ---------------------------------------------------------------------------------------------
// Example names: strings the pattern matches, used to show partial shadowing.

const CANDIDATE_CHARS = ['x', 'a', '0', '_', '-', '.', ':', 'A', 'Z', '9', ' '];

function witness(node: Node, atLeastOnce: boolean): string {
  switch (node.kind) {
    case 'alt':
      return node.branches[0] === undefined ? '' : witness(node.branches[0], atLeastOnce);
    case 'seq':
      return node.items.map((n) => witness(n, atLeastOnce)).join('');
    case 'char':
      return String.fromCodePoint(node.cp);
    case 'any':
      return 'x';
    case 'class': {
      const single = new RegExp(`^(?:${emit(node)})$`, 'u');
      const first = node.items.find((i) => i.kind === 'range');
      const candidates = first === undefined ? CANDIDATE_CHARS : [String.fromCodePoint(first.lo), ...CANDIDATE_CHARS];
      return candidates.find((c) => single.test(c)) ?? '';
    }
    case 'anchor':
    case 'look':
    case 'backref':
      return '';
    case 'group':
      return witness(node.body, atLeastOnce);
    case 'repeat':
      return witness(node.body, atLeastOnce).repeat(atLeastOnce ? Math.max(node.min, 1) : node.min);
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

export interface PythonRegex {
  /** The Python source, as written in the file. */
  readonly pattern: string;
  /** The translation (flag `u` only; no `g`/`y`, so `test` keeps no state between calls). */
  readonly regex: RegExp;
  /** Python's `re.search(pattern, text) is not None`. */
  search(text: string): boolean;
  readonly shape: PatternShape;
  /**
   * A few names this pattern matches: a shortest-ish witness per alternative, the same with each
   * optional part taken once, and the pattern text with regex metacharacters removed.
   */
  readonly examples: readonly string[];
}

/** Translates a Python str pattern to JavaScript source for the `u` flag; throws ProtectionRuleError. */
export function translatePythonRegex(pattern: string): { readonly source: string; readonly flags: 'u' } {
  return { source: compile(pattern).source, flags: 'u' };
}

export function compilePythonRegex(pattern: string): PythonRegex {
  const { tree, source } = compile(pattern);
  const regex = new RegExp(source, 'u');
  const search = (text: string): boolean => regex.test(text);
  const candidates = [...tree.branches.flatMap((b) => [witness(b, false), witness(b, true)]), pattern.replace(/[\\^$.|?*+()[\]{}]/g, '')];
  const examples = [...new Set(candidates)].filter((c) => c !== '' && search(c));
  return {
    pattern,
    regex,
    search,
    shape: { form: formOf(tree), branches: tree.branches.map(branchShape) },
    examples,
  };
}

function compile(pattern: string): { tree: AltNode; source: string } {
  const parser = new Parser(pattern);
  const tree = parser.parse();
  checkBackrefs(tree, (message) => parser.unsupported(message, null));
  const source = emit(tree);
  try {
    new RegExp(source, 'u');
  } catch (err) {
    throw new ProtectionRuleError(
      `unsupported regular expression ${JSON.stringify(pattern)}: JavaScript rejects its translation (${(err as Error).message})`,
      {},
      { cause: err },
    );
  }
  return { tree, source };
}
