import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate, type Check, type PolicyCredentials, type PolicyTarget } from '../../../src/policy/check.js';
import { legacyListToRuleText, parseRule, PolicyRuleSyntaxError } from '../../../src/policy/rule-parser.js';

const creds: PolicyCredentials = {
  roles: ['Member', 'reader'],
  project_id: 'A',
  user_id: 'u1',
  is_admin: false,
  token: { user: { domain: 'd1' }, groups: ['g1', 'g2'] },
  count: 3,
};

/** Evaluates rule text; `a`…`d` are rule names bound to fixed results so precedence is visible. */
function check(text: string, target: PolicyTarget = {}, who: PolicyCredentials = creds, rules: Record<string, string> = {}): boolean {
  const named = new Map<string, Check>([
    ['a', { kind: 'true' }],
    ['b', { kind: 'false' }],
    ['c', { kind: 'true' }],
    ['d', { kind: 'false' }],
    ...Object.entries(rules).map(([name, rule]): [string, Check] => [name, parseRule(rule)]),
  ]);
  return evaluate(parseRule(text), target, who, (name) => named.get(name));
}

void describe('policy rule language (reference §16.2)', () => {
  void it('treats "", whitespace and "@" as always true, "!" as always false', () => {
    assert.equal(check(''), true);
    assert.equal(check('   '), true);
    assert.equal(check('@'), true);
    assert.equal(check('!'), false);
    assert.deepEqual(parseRule(''), { kind: 'true' });
  });

  void it('binds not tighter than and, and tighter than or', () => {
    assert.equal(check('rule:a or rule:b and rule:d'), true); // a or (b and d)
    assert.equal(check('rule:b and rule:d or rule:a'), true); // (b and d) or a
    assert.equal(check('(rule:a or rule:b) and rule:d'), false);
    assert.equal(check('not rule:b and rule:a'), true); // (not b) and a
    assert.equal(check('not rule:a or rule:c'), true); // (not a) or c
    assert.equal(check('not (rule:a or rule:b)'), false);
    assert.equal(check('not not rule:a'), true);
    assert.equal(check('rule:a AND NOT rule:b'), true);
    assert.deepEqual(parseRule('rule:a or rule:b and rule:c'), {
      kind: 'or',
      checks: [
        { kind: 'rule', name: 'a' },
        {
          kind: 'and',
          checks: [
            { kind: 'rule', name: 'b' },
            { kind: 'rule', name: 'c' },
          ],
        },
      ],
    });
  });

  void it('handles parentheses without spaces, next to substitutions', () => {
    assert.equal(check('(role:admin or (role:reader and (project_id:%(project_id)s)))', { project_id: 'A' }), true);
    assert.equal(check('((rule:a))and(rule:c)'), true);
  });

  void it('matches roles case-insensitively, with substitution', () => {
    assert.equal(check('role:member'), true);
    assert.equal(check('role:READER'), true);
    assert.equal(check('role:admin'), false);
    assert.equal(check('role:%(needed)s', { needed: 'MEMBER' }), true);
    assert.equal(check('role:%(needed)s', {}), false);
  });

  void it('compares credential attributes with target substitution', () => {
    assert.equal(check('project_id:%(project_id)s', { project_id: 'A' }), true);
    assert.equal(check('project_id:%(project_id)s', { project_id: 'B' }), false);
    assert.equal(check('project_id:%(project_id)s', {}), false, 'missing target key');
    assert.equal(check('project_id:%(owner)s', { owner: null }), false, 'null target value');
    assert.equal(check('user_id:u1'), true);
    assert.equal(check('user_id:%(owner)s-%(n)s', { owner: 'u1', n: 1 }), false);
    assert.equal(check('token.user.domain:d%(n)s', { n: 1 }), true, 'dotted path and number rendering');
    assert.equal(check('token.groups:g2'), true, 'any element of a list');
    assert.equal(check('token.missing:x'), false);
    assert.equal(check('count:3'), true);
    assert.equal(check('rate:100%%'), false);
  });

  void it('renders booleans as Python does', () => {
    assert.equal(check('is_admin:False'), true);
    assert.equal(check('is_admin:True'), false);
    assert.equal(check('is_admin:True', {}, { ...creds, is_admin: true }), true);
    assert.equal(check('is_admin:true', {}, { ...creds, is_admin: true }), false, 'oslo compares case-sensitively');
    assert.equal(check('True:%(protected)s', { protected: true }), true);
  });

  void it('never lets a null credential match a null target value', () => {
    const anonymous: PolicyCredentials = { roles: [], project_id: null, user_id: null, is_admin: false };
    assert.equal(check('project_id:%(member_id)s', { member_id: null }, anonymous), false);
  });

  void it('supports quoted values and the reverse literal form', () => {
    assert.equal(check("user_id:'u1'"), true);
    assert.equal(check('user_id:"u1"'), true);
    assert.equal(check("'shared':%(visibility)s", { visibility: 'shared' }), true);
    assert.equal(check("'shared':%(visibility)s", { visibility: 'public' }), false);
    assert.equal(check('"public":%(visibility)s', { visibility: 'public' }), true);
    assert.equal(check("'a:b':%(x)s", { x: 'a:b' }), true, 'colon inside the quoted literal');
    assert.equal(check("'with space':%(x)s", { x: 'with space' }), true);
    assert.equal(check("'shared':%(visibility)s", {}), false);
  });

  void it('evaluates unknown rule references as false', () => {
    assert.equal(check('rule:nope'), false);
    assert.equal(check('not rule:nope'), true);
    assert.equal(check('rule:custom', {}, creds, { custom: 'role:member' }), true);
  });

  void it('rejects invalid syntax with the rule text in the message', () => {
    const bad = [
      'role:admin or',
      'and role:admin',
      '(role:admin',
      'role:admin)',
      'role:admin role:x',
      'not',
      'admin',
      'role:',
      ':x',
      "'open:%(x)s",
      'project_id:%(x',
      'project_id:%(x)d',
      'project_id:50%',
      'http://example.com/check',
      '()',
    ];
    for (const text of bad) {
      assert.throws(
        () => parseRule(text),
        (err: unknown) => {
          assert.ok(err instanceof PolicyRuleSyntaxError, text);
          assert.equal(err.ruleText, text);
          assert.ok(err.message.includes(JSON.stringify(text)), err.message);
          return true;
        },
      );
    }
    assert.throws(() => parseRule('role:', 'get_image'), /Invalid policy rule "get_image" "role:"/);
  });

  void it('converts the legacy list-of-lists form', () => {
    assert.equal(legacyListToRuleText([]), '@');
    assert.equal(legacyListToRuleText([[]]), '!');
    const text = legacyListToRuleText([['role:admin'], ['role:member', 'project_id:%(project_id)s'], 'role:x']);
    assert.equal(text, '((role:admin)) or ((role:member) and (project_id:%(project_id)s)) or ((role:x))');
    assert.equal(check(text, { project_id: 'A' }), true);
    assert.equal(check(text, { project_id: 'B' }), false);
    assert.equal(legacyListToRuleText([[1]]), undefined);
    assert.equal(legacyListToRuleText('role:admin'), undefined);
  });
});
