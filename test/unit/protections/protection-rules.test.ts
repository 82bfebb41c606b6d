import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import type { RequestContext } from '../../../src/auth/request-context.js';
import { PolicyEnforcer } from '../../../src/policy/policy-enforcer.js';
import { ProtectionRuleError } from '../../../src/protections/protection-errors.js';
import { ProtectionRules } from '../../../src/protections/protection-rules.js';
import { runProtectionsCheck } from '../../../src/protections/protections-tool.js';
import { compilePythonRegex } from '../../../src/protections/python-regex.js';

const dir = mkdtempSync(join(tmpdir(), 'glimpse-protections-'));
let counter = 0;
function file(text: string): string {
  counter += 1;
  const path = join(dir, `p${counter}.conf`);
  writeFileSync(path, text);
  return path;
}
const policy = new PolicyEnforcer({ enforceNewDefaults: false, overrides: { billing_admin: 'role:admin' } });
const FOUR = 'create = admin\nread = admin\nupdate = admin\ndelete = admin\n';

function refuses(text: string, format: string, pattern: RegExp): void {
  const path = file(text);
  assert.throws(
    () => ProtectionRules.load(path, format, policy),
    (error: unknown) => error instanceof ProtectionRuleError && error.message.includes(path) && pattern.test(error.message),
  );
}

function context(roles: string[], serviceRoles: string[] = []): RequestContext {
  return {
    requestId: 'r',
    userId: 'u',
    projectId: 'p',
    domainId: null,
    systemScope: null,
    isAdminProject: true,
    roles,
    serviceRoles,
    isAdmin: roles.includes('admin'),
    readOnly: false,
    authToken: null,
    serviceCatalog: [],
  };
}

describe('property protection files refused at startup, naming file, section and key', () => {
  it('a missing or unreadable file', () => {
    assert.throws(() => ProtectionRules.load(join(dir, 'absent.conf'), 'roles', policy), /Invalid property protection file .*absent\.conf: cannot be read/);
  });
  it('a section without all four keys', () => {
    refuses('[^x_]\ncreate = admin\nread = admin\nupdate = admin\n', 'roles', /line 1, section \[\^x_\], key "delete": missing key/);
  });
  it('an unknown key', () => {
    refuses(`[^x_]\n${FOUR}remove = admin\n`, 'roles', /section \[\^x_\], key "remove": unknown key/);
  });
  it('an invalid regular expression', () => {
    refuses(`[^x_(]\n${FOUR}`, 'roles', /section \[\^x_\(\]/);
  });
  it('@ and ! together', () => {
    refuses(
      '[^x_]\ncreate = @,!\nread = admin\nupdate = admin\ndelete = admin\n',
      'roles',
      /line 2, section \[\^x_\], key "create": '@' \(anyone\) and '!' \(nobody\) cannot be used together/,
    );
  });
  it('a bad format option', () => {
    assert.throws(() => ProtectionRules.load(file(`[^x_]\n${FOUR}`), 'acl', policy), /property_protection_rule_format must be roles or policies/);
  });
  it('a policies rule that does not exist, or several rules', () => {
    refuses(
      '[^x_]\ncreate = billing_admin\nread = no_such_rule\nupdate = billing_admin\ndelete = billing_admin\n',
      'policies',
      /key "read": policy rule "no_such_rule" is not defined/,
    );
    refuses(
      '[^x_]\ncreate = billing_admin,context_is_admin\nread = billing_admin\nupdate = billing_admin\ndelete = billing_admin\n',
      'policies',
      /key "create": the policies format takes one policy rule name/,
    );
  });
  it('a Python construct JavaScript would match differently is refused, not translated loosely', () => {
    refuses(`[(x)?(?(1)a|b)]\n${FOUR}`, 'roles', /section \[\(x\)\?\(\?\(1\)a\|b\)\]/);
  });
});

describe('evaluation', () => {
  const rules = ProtectionRules.load(
    file(
      '[^x_[a-z]+_code$]\ncreate = Admin\nread = @\nupdate = admin\ndelete = !\n\n[(?P<ns>x)_(?P=ns)\\Z]\ncreate = member\nread = member\nupdate = member\ndelete = member\n\n[^x_]\ncreate = service\nread = service\nupdate =\ndelete = service\n',
    ),
    'roles',
    policy,
  );

  it('keeps brackets inside section names, as configparser does', () => {
    assert.equal(rules.sections[0]?.pattern, '^x_[a-z]+_code$');
  });
  it('first match wins, roles compare case-insensitively, service roles count, empty is nobody', () => {
    assert.equal(rules.check('x_billing_code', 'create', context(['ADMIN'])), true);
    assert.equal(rules.check('x_billing_code', 'read', context([])), true);
    assert.equal(rules.check('x_billing_code', 'delete', context(['admin'])), false);
    assert.equal(rules.check('x_other', 'create', context([], ['service'])), true);
    assert.equal(rules.check('x_other', 'update', context(['service', 'admin'])), false);
  });
  it('Python syntax: named groups, backreferences, \\Z', () => {
    assert.equal(rules.check('x_x', 'read', context(['member'])), true);
    assert.equal(rules.check('x_x\n', 'read', context(['member'])), false, '\\Z does not match before a final newline');
  });
  it('a property no section matches is denied to everyone, admin included', () => {
    assert.equal(rules.check('os_distro', 'read', context(['admin', 'member', 'reader'])), false);
  });
});

describe('Python regular expressions match as Python matches them', () => {
  // Checked against python3's re.search on the same names, in this run.
  const patterns = ['^x_.*', '.*', 'billing', '^x_billing_.*$', '(?i)^X_Team$', '^a.b$', '^x_\\w+$', '^\\d+$', '^(foo|bar)_[0-9]{2,3}$', 'x$', '^x_(?!secret)'];
  const names = ['x_team', 'X_TEAM', 'x_billing_code', 'billing', 'a\nb', 'a\rb', 'x_secret', 'x_é', '١٢٣', 'foo_12', 'bar_1234', 'x\n', 'ab', ''];
  it('agrees with python3 on every pattern and name', () => {
    const python = execFileSync(
      'python3',
      ['-c', 'import re,json,sys; p,n=json.load(sys.stdin); print(json.dumps([[re.search(a,b) is not None for b in n] for a in p]))'],
      {
        input: JSON.stringify([patterns, names]),
        encoding: 'utf8',
      },
    );
    const expected = JSON.parse(python) as boolean[][];
    patterns.forEach((pattern, i) => {
      const regex = compilePythonRegex(pattern);
      names.forEach((name, j) => {
        assert.equal(regex.search(name), expected[i]?.[j], `${pattern} on ${JSON.stringify(name)}`);
      });
    });
  });
});

describe('glimpse-manage protections check', () => {
  const sample = resolve('test/fixtures/property-protections/roles.conf');

  it('validates a file and answers for roles and a property', () => {
    const result = runProtectionsCheck(['--file', sample, '--roles', 'member,reader', '--property', 'x_billing_code']);
    assert.equal(result.exitCode, 0, result.output);
    assert.match(result.output, /4 section\(s\), roles format, valid/);
    assert.match(result.output, /x_billing_code: decided by line \d+ \[\^x_billing_\.\*\$\]; roles member,reader may read$/m);
    const nothing = runProtectionsCheck(['--file', sample, '--roles', 'admin', '--property', 'os_distro']);
    assert.match(nothing.output, /os_distro: no section matches, so nobody may create, read, update or delete it \(admin included\)/);
  });
  it('warns about shadowed sections (OSSN-0013)', () => {
    const shadowing = file(`[.*]\n${FOUR}\n[^x_billing_]\n${FOUR}\n[^x_]\n${FOUR}\n[^x_team$]\n${FOUR}`);
    const result = runProtectionsCheck(['--file', shadowing]);
    assert.equal(result.exitCode, 0);
    assert.match(result.output, /warning: line 7 \[\^x_billing_\] is never used: line 1 \[\.\*\] comes first/);
    assert.match(result.output, /warning: line 13 \[\^x_\] is never used/);
    const partly = file(`[^x_]\n${FOUR}\n[^x_team$]\n${FOUR}`);
    assert.match(runProtectionsCheck(['--file', partly]).output, /warning: line 7 \[\^x_team\$\] is probably never used: line 1 \[\^x_\] comes first/);
  });
  it('reports an invalid file with exit status 1', () => {
    const result = runProtectionsCheck(['--file', file('[^x_]\ncreate = admin\n')]);
    assert.equal(result.exitCode, 1);
    assert.match(result.output, /invalid: .*missing key/);
    assert.equal(runProtectionsCheck([]).exitCode, 2);
  });
});
