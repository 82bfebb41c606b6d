import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ProtectionRuleError } from '../../../src/protections/protection-errors.js';
import { compilePythonRegex, translatePythonRegex, type PatternForm } from '../../../src/protections/python-regex.js';

/** Which of `subjects` the pattern finds (Python's `re.search`). */
const found = (pattern: string, subjects: readonly string[]): string[] => {
  const regex = compilePythonRegex(pattern);
  return subjects.filter((s) => regex.search(s));
};

function refuses(pattern: string, kind: 'invalid' | 'unsupported', reason: RegExp): void {
  assert.throws(
    () => compilePythonRegex(pattern),
    (err: unknown) => {
      assert.ok(err instanceof ProtectionRuleError, String(err));
      assert.ok(err.message.startsWith(`${kind} regular expression ${JSON.stringify(pattern)}:`), err.message);
      assert.match(err.message, reason);
      return true;
    },
  );
}

void describe('Python regex translation: re.search semantics (reference §6)', () => {
  void it('searches anywhere in the name unless anchored', () => {
    assert.deepEqual(found('billing', ['x_billing_code', 'billing', 'bill']), ['x_billing_code', 'billing']);
    assert.deepEqual(found('^x_', ['x_a', 'a_x_', 'x']), ['x_a']);
    assert.deepEqual(found('^x_.*$', ['x_a', 'y_x_a']), ['x_a']);
  });

  void it('keeps no state between calls (no g or y flag)', () => {
    const r = compilePythonRegex('a');
    assert.equal(r.regex.flags, 'u');
    assert.deepEqual([r.search('a'), r.search('a'), r.search('ba')], [true, true, true]);
  });

  void it('translates named groups and named backreferences', () => {
    const r = compilePythonRegex('^(?P<word>[a-z]+)_(?P=word)$');
    assert.match(r.regex.source, /\(\?<word>/);
    assert.match(r.regex.source, /\\k<word>/);
    assert.deepEqual([r.search('ab_ab'), r.search('ab_ac'), r.search('ab_abx')], [true, false, false]);
    assert.deepEqual(found('(a)b\\1', ['aba', 'ab']), ['aba']);
  });

  void it('treats \\A, \\Z, $ and ^ as Python does', () => {
    assert.deepEqual(found('\\Aa', ['ab', 'ba']), ['ab']);
    assert.deepEqual(found('a\\Z', ['ba', 'a\n', 'ab']), ['ba']);
    // $ also matches before a final newline, but only the final one.
    assert.deepEqual(found('a$', ['a', 'a\n', 'a\n\n', 'a\nb']), ['a', 'a\n']);
    assert.deepEqual(found('(?m)^b', ['a\nb', 'a\rb', 'a\u2028b']), ['a\nb']);
    assert.deepEqual(found('(?m)a$', ['a\nb', 'a\rb', 'a']), ['a\nb', 'a']);
  });

  void it('lets . match \\r and U+2028 but not \\n (unless (?s))', () => {
    assert.deepEqual(found('^a.b$', ['a\rb', 'a\u2028b', 'a\nb', 'axb']), ['a\rb', 'a\u2028b', 'axb']);
    assert.deepEqual(found('(?s)^a.b$', ['a\nb']), ['a\nb']);
    assert.deepEqual(found('^(?s:a.)b', ['a\nb']), ['a\nb']);
  });

  void it('gives \\d, \\w, \\s and \\b their Unicode meaning for str patterns', () => {
    assert.deepEqual(found('^\\d$', ['7', '\u0663', '\u00bd', 'a']), ['7', '\u0663']);
    assert.deepEqual(found('^\\w$', ['é', '\u00bd', '_', '-', '\u0663']), ['é', '\u00bd', '_', '\u0663']);
    // CPython's str.isspace set: \x1c-\x1f and \x85 are spaces, U+FEFF is not (JS \s says the opposite).
    assert.deepEqual(found('^\\s$', ['\x1c', '\x85', '\ufeff', ' ', '\u3000']), ['\x1c', '\x85', ' ', '\u3000']);
    assert.deepEqual(found('^[^\\W\\d]$', ['a', '1', '-', 'é']), ['a', 'é']);
    assert.deepEqual(found('\\bx', ['éx', '-x', 'x']), ['-x', 'x']);
    assert.deepEqual(found('(?a)\\bx', ['éx', 'ax']), ['éx']);
    assert.deepEqual(found('(?a)^\\w+$', ['abc_1', 'é']), ['abc_1']);
    // CPython (up to 3.13): \B does not match the empty string.
    assert.deepEqual(found('\\B', ['', 'ab']), ['ab']);
  });

  void it('folds case as CPython does under (?i), including its non-ASCII equivalents', () => {
    assert.deepEqual(found('(?i)^x_billing$', ['X_BILLING', 'x_Billing', 'y_billing']), ['X_BILLING', 'x_Billing']);
    assert.deepEqual(found('(?i)^i$', ['i', 'I', '\u0130', '\u0131', 'j']), ['i', 'I', '\u0130', '\u0131']);
    assert.deepEqual(found('(?i)^k$', ['K', '\u212a']), ['K', '\u212a']);
    assert.deepEqual(found('(?i)^s$', ['S', '\u017f']), ['S', '\u017f']);
    assert.deepEqual(found('(?i)^[^a-z]$', ['A', '\u0131', '1']), ['1']);
    assert.deepEqual(found('^(?i:ab)c', ['ABc', 'ABC']), ['ABc']);
    assert.deepEqual(found('(?i)^a(?-i:b)$', ['Ab', 'AB']), ['Ab']);
    // Caseless non-ASCII characters are fine.
    assert.deepEqual(found('(?i)^\u65e5$', ['\u65e5']), ['\u65e5']);
  });

  void it('reads verbose patterns: whitespace and # comments outside sets are ignored', () => {
    assert.deepEqual(found('(?x) ^ x_ billing  # the billing keys\n $', ['x_billing', 'x_ billing']), ['x_billing']);
    assert.deepEqual(found('(?x)^[ ]a\\ b$', [' a b']), [' a b']);
    assert.deepEqual(found('^a(?x: b c )d$', ['abcd']), ['abcd']);
  });

  void it("follows sre_parse's literal quirks", () => {
    assert.deepEqual(found('^a{}$', ['a{}']), ['a{}']);
    assert.deepEqual(found('^a{x}$', ['a{x}']), ['a{x}']);
    assert.deepEqual(found('^a{,2}$', ['', 'aa', 'aaa']), ['', 'aa']);
    assert.deepEqual(found('^[]a]+$', [']a', 'b']), [']a']);
    assert.deepEqual(found('^[^]]$', ['x', ']']), ['x']);
    assert.deepEqual(found('^[a-]$', ['-', 'a', 'b']), ['-', 'a']);
    assert.deepEqual(found('^\\101\\x42\\u0043$', ['ABC']), ['ABC']);
    assert.deepEqual(found('^[\\b]$', ['\b', 'b']), ['\b']);
    assert.deepEqual(found('^x(?#a comment)y$', ['xy']), ['xy']);
    assert.deepEqual(found('^a]}$', ['a]}']), ['a]}']);
  });

  void it('keeps look-around assertions and lazy quantifiers', () => {
    assert.deepEqual(found('^(?!os_)\\w+$', ['os_type', 'x_type']), ['x_type']);
    assert.deepEqual(found('(?<=x_)b', ['x_b', 'y_b']), ['x_b']);
    assert.deepEqual(found('(?<!x)_b', ['x_b', 'y_b']), ['y_b']);
    assert.deepEqual(found('^a+?b$', ['aab']), ['aab']);
    assert.deepEqual(found('(?=a)*b', ['b']), ['b']);
  });

  void it('exposes the translation', () => {
    const t = translatePythonRegex('^x_.$');
    assert.equal(t.flags, 'u');
    assert.ok(new RegExp(t.source, t.flags).test('x_a'));
    assert.ok(!new RegExp(t.source, t.flags).test('x_\n'));
  });
});

void describe('Python regex translation: patterns Python rejects are errors', () => {
  const cases: [string, RegExp][] = [
    ['(', /missing \), unterminated subpattern at position 0/],
    [')', /unbalanced parenthesis/],
    ['[a', /unterminated character set/],
    ['*', /nothing to repeat/],
    ['^*', /nothing to repeat/],
    ['a**', /multiple repeat/],
    ['a{3,2}', /min repeat greater than max repeat/],
    ['[z-a]', /bad character range z-a/],
    ['[\\w-z]', /bad character range/],
    ['x(?i)', /global flags not at the start of the expression/],
    ['\\z', /bad escape \\z/],
    ['\\q', /bad escape \\q/],
    ['[\\A]', /bad escape \\A/],
    ['\\8', /invalid group reference 8/],
    ['\\400', /octal escape value/],
    ['\\x4', /incomplete escape/],
    ['(?<=a|bc)', /look-behind requires fixed-width pattern/],
    ['(?L)a', /cannot use 'L' flag/],
    ['(?au)a', /incompatible/],
    ['(?-i)a', /missing :/],
    ['(?i-i:a)', /flag turned on and off/],
    ['(?P<1a>x)', /bad character in group name/],
    ['(?P<a>x)(?P<a>y)', /redefinition of group name/],
    ['(?P=nope)', /unknown group name/],
    ['(a\\1)', /cannot refer to an open group/],
    ['(?<x)', /unknown extension \?<x/],
    ['a\\', /bad escape \(end of pattern\)/],
  ];
  for (const [pattern, reason] of cases) {
    void it(`rejects ${JSON.stringify(pattern)}`, () => refuses(pattern, 'invalid', reason));
  }
});

void describe('Python regex translation: constructs without an exact JS equivalent are refused', () => {
  const cases: [string, RegExp][] = [
    ['a++', /possessive quantifier/],
    ['(?>a)', /atomic group/],
    ['(?(1)a|b)', /conditional group/],
    ['\\N{DIGIT ONE}', /named character escape/],
    ['(?i)é', /case-insensitive matching of the non-ASCII letter "é"/],
    ['(?i)[à-é]', /non-ASCII|beyond ASCII/],
    ['(?ai)a', /\(\?a\) combined with \(\?i\)/],
    ['(?a:\\W)', /scoped ASCII flag/],
    ['(a)?\\1', /may not have matched/],
    ['(?:(a)|b)\\1', /may not have matched/],
    ['(?i)(a)\\1', /case-insensitive backreference/],
    ['(a)(?<=\\1)', /backreference inside a look-behind/],
    ['a{70000}', /repeat count above 65535/],
    ['(?P<é>x)', /non-ASCII group name/],
    ['(?t)x', /template flag/],
  ];
  for (const [pattern, reason] of cases) {
    void it(`refuses ${JSON.stringify(pattern)}`, () => refuses(pattern, 'unsupported', reason));
  }
});

void describe('Python regex shape (used for shadowing warnings)', () => {
  const forms: [string, PatternForm][] = [
    ['.*', 'everything'],
    ['.+', 'everything'],
    ['^.*$', 'everything'],
    ['^.+$', 'everything'],
    ['(.*)', 'everything'],
    ['^', 'everything'],
    ['', 'everything'],
    ['x|.*', 'everything'],
    ['^$', 'other'],
    ['^..+$', 'prefix'], // one-character names do not match
    ['^x_', 'prefix'],
    ['^x_.*', 'prefix'],
    ['(?i)^X_', 'prefix'],
    ['_id$', 'suffix'],
    ['billing', 'contains'],
    ['^x_.*$', 'prefix'],
    ['^x_[a-z]+', 'prefix'],
    ['^x_(?!y)', 'other'],
    ['^x_.+_$', 'other'],
    ['^.*_id$', 'suffix'],
    ['^.*billing.*$', 'contains'],
    ['x\\b', 'other'],
    ['^a|^b', 'other'],
  ];
  for (const [pattern, form] of forms) {
    void it(`${JSON.stringify(pattern)} is ${form}`, () => assert.equal(compilePythonRegex(pattern).shape.form, form));
  }

  void it('extracts the exact-case literal text every match holds', () => {
    assert.deepEqual(compilePythonRegex('^x_billing_.*$').shape.branches, [{ anchoredPrefix: 'x_billing_', anchoredSuffix: '', literalRuns: ['x_billing_'] }]);
    assert.equal(compilePythonRegex('^a$|b').shape.branches.length, 2);
    assert.deepEqual(compilePythonRegex('^owner_id$').shape.branches[0], {
      anchoredPrefix: 'owner_id',
      anchoredSuffix: 'owner_id',
      literalRuns: ['owner_id'],
    });
  });

  void it('offers example names the pattern matches', () => {
    assert.deepEqual(compilePythonRegex('^os_(type|distro)$').examples, ['os_type']);
    assert.ok(compilePythonRegex('^x_[a-z]+_id$').examples.includes('x_a_id'));
    for (const pattern of ['^x_.*', '[0-9]+', '(?i)^abc', '\\d{2}x']) {
      const r = compilePythonRegex(pattern);
      assert.ok(r.examples.length > 0, pattern);
      for (const e of r.examples) assert.ok(r.search(e), `${pattern} ${e}`);
    }
  });
});

// Differential check against the real Python `re`, when python3 is installed.
const python = spawnSync('python3', ['--version']);
const havePython = python.status === 0;

/** Deterministic PRNG (mulberry32), so the generated cases are the same on every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

void describe('Python regex translation agrees with CPython', () => {
  void it('has python3 to compare with (Debian python3, always on the test machine)', () => {
    assert.ok(havePython, 'python3 is required by this test');
  });
  void it('on generated patterns and names: same matches, or an error where Python errs', () => {
    const rnd = random(20240611);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const atoms = [
      'a',
      'b',
      'x',
      '_',
      '.',
      '\\d',
      '\\w',
      '\\s',
      '\\D',
      '\\W',
      '\\S',
      '[a-z]',
      '[^a]',
      '[\\w-]',
      '[^\\W\\d]',
      '[^\\n]',
      '\\.',
      '\\n',
      '\\x69',
      '\\u0130',
      'K',
      'I',
      'i',
      's',
      'ſ',
      'ı',
      'é',
      '\\b',
      '\\B',
      '^',
      '$',
      '\\A',
      '\\Z',
      '[Z-a]',
      '[!-~]',
      '[^i-k]',
      '0',
      '-',
      '#',
      ' ',
      '\\ ',
      '(?#c)',
      '\\r',
      '{',
      '}',
      ']',
      '*',
      '|',
    ];
    const gen = (depth: number): string => {
      let out = '';
      const n = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < n; i++) {
        let item = pick(atoms);
        if (depth > 0 && rnd() < 0.25) {
          const open = pick(['(', '(?:', '(?=', '(?!', '(?<=', '(?<!', '(?i:', '(?-i:', '(?s:', '(?m:', '(?x:', `(?P<g${i}${depth}>`]);
          item = `${open}${gen(depth - 1)}${rnd() < 0.3 ? `|${gen(depth - 1)}` : ''})`;
        }
        if (rnd() < 0.3) item += pick(['*', '+', '?', '{2}', '{1,3}', '{,2}', '{2,}', '*?', '+?', '??']);
        out += item;
        if (rnd() < 0.08) out += '\\1';
      }
      return out;
    };
    const patterns = Array.from({ length: 1500 }, () => (rnd() < 0.5 ? pick(['(?i)', '(?m)', '(?s)', '(?x)', '(?a)', '(?u)']) : '') + gen(3));
    const alphabet = [
      'a',
      'b',
      'x',
      '_',
      'A',
      'I',
      'i',
      'İ',
      'ı',
      'ſ',
      'K',
      'k',
      's',
      '\n',
      '\r',
      ' ',
      'é',
      '0',
      '٣',
      '-',
      '\u00a0',
      '\x1c',
      '\u2028',
      '#',
      '{',
    ];
    const names = [
      '',
      'a',
      'ab',
      'a\n',
      'x_a',
      ...Array.from({ length: 40 }, () => Array.from({ length: Math.floor(rnd() * 6) }, () => pick(alphabet)).join('')),
    ];

    const script = [
      'import json, re, sys, warnings',
      'warnings.simplefilter("ignore")',
      'patterns, names = json.load(sys.stdin)',
      'out = []',
      'for p in patterns:',
      '    try:',
      '        r = re.compile(p)',
      '        out.append([r.search(n) is not None for n in names])',
      '    except re.error:',
      '        out.append(None)',
      'print(json.dumps(out))',
    ].join('\n');
    const run = spawnSync('python3', ['-c', script], { input: JSON.stringify([patterns, names]), maxBuffer: 1 << 26 });
    assert.equal(run.status, 0, run.stderr.toString());
    const expected = JSON.parse(run.stdout.toString()) as (boolean[] | null)[];

    let compared = 0;
    patterns.forEach((pattern, i) => {
      const want = expected[i];
      let regex;
      try {
        regex = compilePythonRegex(pattern);
      } catch (err) {
        assert.ok(err instanceof ProtectionRuleError);
        // Refusing is allowed; calling a valid Python pattern invalid is not.
        if (want !== null && want !== undefined) assert.match(err.message, /^unsupported /, err.message);
        return;
      }
      assert.notEqual(want, null, `Python rejects ${JSON.stringify(pattern)} but it was accepted`);
      const got = names.map((n) => regex.search(n));
      assert.deepEqual(got, want, `${JSON.stringify(pattern)} → ${regex.regex.source}`);
      compared++;
    });
    assert.ok(compared > 500, `only ${compared} patterns compared`);
  });
});
