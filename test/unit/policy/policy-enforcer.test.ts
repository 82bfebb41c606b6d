import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GLANCE_POLICY_DEFAULTS } from '../../../src/policy/glance-defaults.js';
import { PolicyEnforcer, PolicyRuleCycleError, type PolicyCredentials, type PolicyTarget } from '../../../src/policy/policy-enforcer.js';
import { PolicyRuleSyntaxError } from '../../../src/policy/rule-parser.js';

const persona = (project: string, ...roles: string[]): PolicyCredentials => ({
  roles,
  project_id: project,
  user_id: `user-${project}`,
  is_admin: roles.includes('admin'),
});

// Reference §16.3 personas: admin, member and reader of the owning project A, and outsiders in B.
const P = {
  admin: persona('A', 'admin', 'member', 'reader'),
  memberA: persona('A', 'member', 'reader'),
  readerA: persona('A', 'reader'),
  noRoleA: persona('A'),
  memberB: persona('B', 'member', 'reader'),
  readerB: persona('B', 'reader'),
} as const;
type Persona = keyof typeof P;
const PERSONAS = Object.keys(P) as Persona[];

type Visibility = 'public' | 'community' | 'shared' | 'private';
/** An image target as Glance builds it (reference §16.2): member_id is the caller's project when shared. */
const image = (visibility: Visibility, memberId: string | null = null, owner = 'A'): PolicyTarget => ({
  id: 'img-1',
  name: 'cirros',
  owner,
  project_id: owner,
  visibility,
  member_id: memberId,
  protected: false,
});
const VISIBILITIES: readonly Visibility[] = ['public', 'community', 'shared', 'private'];
const namespace = (visibility: 'public' | 'private'): PolicyTarget => ({ project_id: 'A', owner: 'A', visibility });

/** Rules that have no deprecated alias (or fall back to another strict rule) stay admin-only in legacy mode. */
const ADMIN_ONLY_IN_LEGACY = new Set([
  'context_is_admin',
  'publicize_image',
  'copy_image',
  'manage_image_cache',
  'cache_image',
  'cache_list',
  'cache_delete',
  'stores_info_detail',
  'tasks_api_access',
  'metadef_admin',
  'add_metadef_namespace',
  'modify_metadef_namespace',
  'delete_metadef_namespace',
  'add_metadef_object',
  'modify_metadef_object',
  'delete_metadef_object',
  'add_metadef_property',
  'modify_metadef_property',
  'remove_metadef_property',
  'add_metadef_tag',
  'add_metadef_tags',
  'modify_metadef_tag',
  'delete_metadef_tag',
  'delete_metadef_tags',
  'add_metadef_resource_type_association',
  'remove_metadef_resource_type_association',
]);

type Case = readonly [Persona, PolicyTarget, boolean];
/** The persona set allowed for one target, as cases. */
const only = (target: PolicyTarget, ...allowed: Persona[]): Case[] => PERSONAS.map((p) => [p, target, allowed.includes(p)]);
const everyone = (target: PolicyTarget): Case[] => only(target, ...PERSONAS);
const admins = only(image('private'), 'admin');
const pm = (): Case[] => [...only(image('private'), 'admin', 'memberA'), ...only(image('public'), 'admin', 'memberA')];
const readers = ['admin', 'memberA', 'readerA', 'memberB', 'readerB'] as const;
const metadefRead = [...only(namespace('private'), 'admin', 'memberA', 'readerA'), ...only(namespace('public'), ...readers)];
const metadefWrite = only(namespace('public'), 'admin');

/** SRBAC-mode expectations for every Glance default (reference §16.3, §14.2). */
const NEW_DEFAULTS: Record<string, readonly Case[]> = {
  default: everyone({}),
  context_is_admin: only({}, 'admin'),
  add_image: [
    ...only({ project_id: 'A', owner: 'A', visibility: 'shared' }, 'admin', 'memberA'),
    ['memberA', { project_id: 'B', owner: 'B', visibility: 'shared' }, false],
    ['admin', { project_id: 'B', owner: 'B', visibility: 'shared' }, true],
  ],
  get_image: [
    ...only(image('private'), 'admin', 'memberA', 'readerA'),
    ...only(image('public'), ...readers),
    ...only(image('community'), ...readers),
    ['readerB', image('shared', 'B'), true],
    ['memberB', image('shared', 'B'), true],
    ['noRoleA', image('shared'), false],
  ],
  get_images: [...only({ project_id: 'A' }, 'admin', 'memberA', 'readerA'), ['readerB', { project_id: 'B' }, true]],
  modify_image: [...pm(), ['memberB', image('shared', 'B'), false]],
  delete_image: pm(),
  publicize_image: admins,
  communitize_image: pm(),
  download_image: [
    ...only(image('private'), 'admin', 'memberA'),
    ...only(image('public'), 'admin', 'memberA', 'memberB'),
    ...only(image('community'), 'admin', 'memberA', 'memberB'),
    ['memberB', image('shared', 'B'), true],
    ['readerB', image('shared', 'B'), false],
  ],
  upload_image: pm(),
  get_image_location: only(image('public'), 'admin', 'memberA', 'readerA'),
  set_image_location: pm(),
  delete_image_location: admins,
  add_member: [...pm(), ['memberB', image('shared', 'B'), false]],
  delete_member: [...pm(), ['memberB', image('shared', 'B'), false]],
  get_member: [...only(image('shared'), 'admin', 'memberA', 'readerA'), ['readerB', image('shared', 'B'), true], ['memberB', image('shared', 'C'), false]],
  get_members: [...only(image('shared'), 'admin', 'memberA', 'readerA'), ['readerB', image('shared', 'B'), true]],
  modify_member: [
    ['memberB', image('shared', 'B'), true],
    ['readerB', image('shared', 'B'), false],
    ['memberA', image('shared', 'B'), false],
    ['admin', image('shared', 'B'), true],
  ],
  deactivate: pm(),
  reactivate: pm(),
  copy_image: only(image('public'), 'admin'),
  manage_image_cache: only({}, 'admin'),
  cache_image: only(image('public'), 'admin'),
  cache_list: only({}, 'admin'),
  cache_delete: only(image('public'), 'admin'),
  stores_info_detail: only({}, 'admin'),
  tasks_api_access: only({}, 'admin'),
  get_task: everyone({ project_id: 'A' }),
  get_tasks: everyone({ project_id: 'A' }),
  add_task: everyone({ project_id: 'A' }),
  modify_task: everyone({ project_id: 'A' }),
  metadef_default: everyone({}),
  metadef_admin: only({}, 'admin'),
  get_metadef_namespaces: [...only({ project_id: 'A' }, 'admin', 'memberA', 'readerA'), ['readerB', { project_id: 'B' }, true]],
  get_metadef_namespace: metadefRead,
  get_metadef_objects: metadefRead,
  get_metadef_object: metadefRead,
  get_metadef_properties: metadefRead,
  get_metadef_property: metadefRead,
  get_metadef_tags: metadefRead,
  get_metadef_tag: metadefRead,
  list_metadef_resource_types: metadefRead,
  get_metadef_resource_type: metadefRead,
  add_metadef_namespace: metadefWrite,
  modify_metadef_namespace: metadefWrite,
  delete_metadef_namespace: metadefWrite,
  add_metadef_object: metadefWrite,
  modify_metadef_object: metadefWrite,
  delete_metadef_object: metadefWrite,
  add_metadef_property: metadefWrite,
  modify_metadef_property: metadefWrite,
  remove_metadef_property: metadefWrite,
  add_metadef_tag: metadefWrite,
  add_metadef_tags: metadefWrite,
  modify_metadef_tag: metadefWrite,
  delete_metadef_tag: metadefWrite,
  delete_metadef_tags: metadefWrite,
  add_metadef_resource_type_association: metadefWrite,
  remove_metadef_resource_type_association: metadefWrite,
};

const srbac = new PolicyEnforcer({ enforceNewDefaults: true, overrides: {} });
const legacy = new PolicyEnforcer({ enforceNewDefaults: false, overrides: {} });

void describe('Glance Zed defaults, SRBAC mode (reference §16.3)', () => {
  void it('has an expectation for every default and no stray ones', () => {
    assert.deepEqual(Object.keys(NEW_DEFAULTS).sort(), GLANCE_POLICY_DEFAULTS.map((r) => r.name).sort());
  });

  for (const [rule, cases] of Object.entries(NEW_DEFAULTS)) {
    void it(rule, () => {
      for (const [who, target, expected] of cases) {
        assert.equal(srbac.enforce(rule, target, P[who]), expected, `${rule} for ${who} on ${JSON.stringify(target)}`);
      }
    });
  }
});

void describe('Glance Zed defaults, legacy mode (reference §16.2)', () => {
  const targets = [...VISIBILITIES.map((v) => image(v)), image('shared', 'B'), namespace('private'), { project_id: 'B' }];

  for (const { name } of GLANCE_POLICY_DEFAULTS) {
    const adminOnly = ADMIN_ONLY_IN_LEGACY.has(name);
    void it(`${name} is ${adminOnly ? 'admin-only' : 'allowed for everyone'}`, () => {
      for (const who of PERSONAS) {
        for (const target of targets) {
          const expected = !adminOnly || who === 'admin';
          assert.equal(legacy.enforce(name, target, P[who]), expected, `${name} for ${who} on ${JSON.stringify(target)}`);
        }
      }
    });
  }

  void it('lets an outside project member communitize but not publicize (reference §5.4)', () => {
    assert.equal(legacy.enforce('communitize_image', image('private'), P.memberB), true);
    assert.equal(legacy.enforce('publicize_image', image('private'), P.memberA), false);
  });

  void it('ORs the deprecated alias into the rule text', () => {
    const rules = legacy.effectiveRules();
    assert.equal(rules.get('default'), '(@) or (role:admin)');
    assert.equal(rules.get('modify_image'), '(role:admin or (role:member and project_id:%(project_id)s)) or (rule:default)');
    assert.equal(rules.get('cache_list'), '(role:admin) or (rule:manage_image_cache)');
    assert.equal(rules.get('get_task'), 'rule:default', 'identical alias is not OR-ed');
    assert.equal(rules.get('publicize_image'), 'role:admin');
    assert.equal(srbac.effectiveRules().get('modify_image'), 'role:admin or (role:member and project_id:%(project_id)s)');
  });
});

void describe('PolicyEnforcer overrides', () => {
  void it('replaces the rule outright, without the legacy alias', () => {
    const enforcer = new PolicyEnforcer({ enforceNewDefaults: false, overrides: { get_image: 'role:reader' } });
    assert.equal(enforcer.effectiveRules().get('get_image'), 'role:reader');
    assert.equal(enforcer.enforce('get_image', image('private'), P.noRoleA), false);
    assert.equal(enforcer.enforce('get_image', image('private'), P.readerB), true);
  });

  void it('makes legacy aliases strict when default is overridden', () => {
    const enforcer = new PolicyEnforcer({ enforceNewDefaults: false, overrides: { default: 'role:admin' } });
    assert.equal(enforcer.enforce('modify_image', image('private'), P.memberB), false);
    assert.equal(enforcer.enforce('modify_image', image('private'), P.memberA), true);
    assert.equal(enforcer.enforce('get_task', {}, P.memberA), false);
  });

  void it('follows an overridden manage_image_cache in legacy mode only', () => {
    const overrides = { manage_image_cache: 'role:cache_operator' };
    const operator = persona('A', 'cache_operator');
    assert.equal(new PolicyEnforcer({ enforceNewDefaults: false, overrides }).enforce('cache_list', {}, operator), true);
    assert.equal(new PolicyEnforcer({ enforceNewDefaults: true, overrides }).enforce('cache_list', {}, operator), false);
  });

  void it('accepts custom rules referenced from other rules', () => {
    const enforcer = new PolicyEnforcer({
      enforceNewDefaults: true,
      overrides: { is_owner: 'project_id:%(project_id)s', delete_image: 'rule:is_owner and role:member' },
    });
    assert.equal(enforcer.enforce('delete_image', image('private'), P.memberA), true);
    assert.equal(enforcer.enforce('delete_image', image('private'), P.readerA), false);
    assert.equal(enforcer.enforce('is_owner', image('private'), P.readerA), true);
  });

  void it('uses the default rule for unknown names but denies unknown rule: references', () => {
    const strictDefault = new PolicyEnforcer({ enforceNewDefaults: true, overrides: { default: 'role:admin', typo: 'rule:nope' } });
    assert.equal(srbac.enforce('no_such_rule', {}, P.noRoleA), true);
    assert.equal(strictDefault.enforce('no_such_rule', {}, P.memberA), false);
    assert.equal(strictDefault.enforce('no_such_rule', {}, P.admin), true);
    assert.equal(strictDefault.enforce('typo', {}, P.admin), false);
  });

  void it('fails at construction on a syntax error, naming the rule', () => {
    assert.throws(
      () => new PolicyEnforcer({ enforceNewDefaults: true, overrides: { modify_image: 'role:admin or' } }),
      (err: unknown) => err instanceof PolicyRuleSyntaxError && err.ruleName === 'modify_image' && /"modify_image"/.test(err.message),
    );
  });

  void it('fails at construction on a reference cycle', () => {
    assert.throws(
      () => new PolicyEnforcer({ enforceNewDefaults: true, overrides: { x: 'rule:y', y: 'role:a or rule:x' } }),
      (err: unknown) => err instanceof PolicyRuleCycleError && /x -> y -> x|y -> x -> y/.test(err.message),
    );
    // Legacy mode: default -> modify_image -> (deprecated alias) default.
    assert.throws(() => new PolicyEnforcer({ enforceNewDefaults: false, overrides: { default: 'rule:modify_image' } }), PolicyRuleCycleError);
    assert.doesNotThrow(() => new PolicyEnforcer({ enforceNewDefaults: true, overrides: { default: 'rule:modify_image' } }));
  });
});

void describe('PolicyEnforcer enforce_scope (oslo scope_types, reference §16.2)', () => {
  const systemAdmin: PolicyCredentials = {
    roles: ['admin', 'member', 'reader'],
    project_id: null,
    user_id: 'u',
    is_admin: true,
    system_scope: 'all',
    domain_id: null,
  };
  const domainMember: PolicyCredentials = {
    roles: ['member', 'reader'],
    project_id: null,
    user_id: 'u',
    is_admin: false,
    system_scope: null,
    domain_id: 'default',
  };
  const scoped = new PolicyEnforcer({ enforceNewDefaults: true, enforceScope: true, overrides: { publicize_image: '', my_rule: '' } });

  void it('refuses tokens of another scope for every image rule, whatever the rule text says', () => {
    for (const rule of [
      'get_images',
      'get_image',
      'add_image',
      'modify_image',
      'publicize_image',
      'get_members',
      'get_metadef_namespaces',
      'tasks_api_access',
    ]) {
      assert.equal(scoped.enforce(rule, image('public'), systemAdmin), false, `${rule}, system scope`);
      assert.equal(scoped.enforce(rule, image('public'), domainMember), false, `${rule}, domain scope`);
    }
    assert.equal(scoped.enforce('get_image', image('private'), P.memberA), true, 'project scope passes to the rule');
    assert.equal(scoped.enforce('publicize_image', image('private'), P.memberA), true, 'an override keeps the registered scope, and its text decides');
  });

  void it('leaves base rules, rules Glance does not register, and the mode switch off alone', () => {
    assert.equal(scoped.enforce('context_is_admin', {}, systemAdmin), true, 'a system admin is still is_admin');
    assert.equal(scoped.enforce('my_rule', {}, domainMember), true, 'operator-defined rules have no scope');
    assert.equal(srbac.enforce('get_images', {}, systemAdmin), true, 'without enforce_scope, role:admin decides');
  });
});
