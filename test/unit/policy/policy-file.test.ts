import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PolicyEnforcer } from '../../../src/policy/policy-enforcer.js';
import { loadPolicyFile, PolicyFileError } from '../../../src/policy/policy-file.js';

const dir = mkdtempSync(join(tmpdir(), 'glimpse-policy-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function rejects(path: string, message: RegExp): void {
  assert.throws(
    () => loadPolicyFile(path, { optional: false }),
    (err: unknown) => {
      assert.ok(err instanceof PolicyFileError);
      assert.equal(err.path, path);
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, message);
      return true;
    },
  );
}

void describe('policy file loading (reference §16.2)', () => {
  void it('reads YAML, including quoted "!" and empty rules', () => {
    const path = file(
      'policy.yaml',
      [
        '# operator overrides',
        '"publicize_image": "role:admin or role:image_publisher"',
        'get_image: ""',
        'delete_image: "!"',
        'communitize_image: "\'x\':%(y)s"',
      ].join('\n'),
    );
    assert.deepEqual(loadPolicyFile(path, { optional: false }), {
      publicize_image: 'role:admin or role:image_publisher',
      get_image: '',
      delete_image: '!',
      communitize_image: "'x':%(y)s",
    });
  });

  void it('reads JSON and the legacy list-of-lists form', () => {
    const path = file('policy.json', JSON.stringify({ modify_image: [['role:admin'], ['role:member', 'project_id:%(project_id)s']] }));
    const rules = loadPolicyFile(path, { optional: false });
    assert.equal(rules['modify_image'], '((role:admin)) or ((role:member) and (project_id:%(project_id)s))');
    const enforcer = new PolicyEnforcer({ enforceNewDefaults: true, overrides: rules });
    const member = { roles: ['member'], project_id: 'A', user_id: 'u', is_admin: false };
    assert.equal(enforcer.enforce('modify_image', { project_id: 'A' }, member), true);
    assert.equal(enforcer.enforce('modify_image', { project_id: 'B' }, member), false);
  });

  void it('keeps a rule named __proto__ as an ordinary key', () => {
    const rules = loadPolicyFile(file('proto.json', '{"__proto__": "role:admin"}'), { optional: false });
    assert.equal(Object.getPrototypeOf(rules), Object.prototype);
    assert.deepEqual(Object.keys(rules), ['__proto__']);
  });

  void it('treats an empty file as no overrides', () => {
    assert.deepEqual(loadPolicyFile(file('empty.yaml', ''), { optional: false }), {});
    assert.deepEqual(loadPolicyFile(file('comments.yaml', '# nothing\n'), { optional: false }), {});
  });

  void it('returns {} for a missing optional file and throws for a required one', () => {
    const missing = join(dir, 'absent.yaml');
    assert.deepEqual(loadPolicyFile(missing, { optional: true }), {});
    rejects(missing, /cannot read it/);
  });

  void it('names the offending key when a value is not a rule string', () => {
    rejects(file('number.yaml', 'get_image: "role:reader"\nadd_image: 5\n'), /rule "add_image" must be a string, found 5/);
    rejects(file('null.yaml', 'add_image:\n'), /rule "add_image" must be a string, found null/);
    rejects(file('object.json', '{"add_image": {"a": "b"}}'), /rule "add_image"/);
    rejects(file('nested.json', '{"add_image": [[1]]}'), /rule "add_image"/);
  });

  void it('rejects a top level that is not a mapping, and unparsable files', () => {
    rejects(file('list.yaml', '- role:admin\n'), /must be a mapping/);
    rejects(file('scalar.yaml', 'role:admin\n'), /must be a mapping/);
    rejects(file('broken.json', '{"get_image": '), /not valid YAML or JSON/);
    rejects(file('dup.yaml', 'a: "x"\na: "y"\n'), /not valid YAML or JSON/);
  });
});
