import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadPolicyFile } from '../../src/policy/policy-file.js';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer, type TestUser } from '../support/test-server.js';

/**
 * Property protections through the API (reference §6, README "Property protections"): for a
 * roles-format and a policies-format file, every role set × operation × property class.
 */
const FIXTURES = resolve('test/fixtures/property-protections');
const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };

type Op = 'create' | 'read' | 'update' | 'delete';
/** Who calls: a user, optionally with the service user's token as X-Service-Token. */
interface Caller {
  readonly name: string;
  readonly user: TestUser;
  readonly withServiceToken: boolean;
}
const CALLERS: readonly Caller[] = [
  { name: 'admin', user: 'admin', withServiceToken: false },
  { name: 'member', user: 'demo', withServiceToken: false },
  { name: 'reader', user: 'viewer', withServiceToken: false },
  { name: 'custom role', user: 'auditor', withServiceToken: false },
  { name: 'member + service token', user: 'demo', withServiceToken: true },
];

async function call(
  server: TestServer,
  caller: Caller,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const headers = { ...options.headers, ...(caller.withServiceToken ? { 'x-service-token': await server.token('svc') } : {}) };
  const reply = await server.request(caller.user, method, path, { ...options, headers });
  return { status: reply.status, text: reply.text, json: reply.text.startsWith('{') ? reply.json() : {} };
}

/** An image owned by the caller's project with `properties` written directly (the test's setup). */
async function imageWith(server: TestServer, caller: Caller, properties: Record<string, string>): Promise<string> {
  const owner = await server.request('admin', 'POST', '/v2/images', { body: { name: 'protected-props', owner: await server.project(caller.user) } });
  assert.equal(owner.status, 201, owner.text);
  const id = String(owner.json()['id']);
  const rows = Object.entries(properties).map(([name, value]) => ({ image_id: id, name, value }));
  if (rows.length > 0) await server.db.insertInto('image_properties').values(rows).execute();
  return id;
}

/** Whether `caller` may do `op` on property `key`, observed through the API. */
async function observe(server: TestServer, caller: Caller, key: string, op: Op): Promise<boolean> {
  switch (op) {
    case 'create': {
      const reply = await call(server, caller, 'POST', '/v2/images', { body: { name: 'c', [key]: 'v' } });
      assert.ok(reply.status === 201 || reply.status === 403, `create ${key}: ${reply.status} ${reply.text}`);
      if (reply.status === 403) assert.match(reply.text, new RegExp(`Attribute '${key}' is reserved`));
      return reply.status === 201;
    }
    case 'read': {
      const id = await imageWith(server, caller, { [key]: 'secret-value' });
      const shown = await call(server, caller, 'GET', `/v2/images/${id}`);
      assert.equal(shown.status, 200);
      const listed = await call(server, caller, 'GET', `/v2/images?id=${id}&limit=1000`);
      const inList = (listed.json['images'] as Record<string, unknown>[]).find((i) => i['id'] === id);
      assert.equal(inList?.[key], shown.json[key], 'list and show agree');
      return shown.json[key] === 'secret-value';
    }
    case 'update':
    case 'delete': {
      const id = await imageWith(server, caller, { [key]: 'old' });
      const operation = op === 'update' ? { op: 'replace', path: `/${key}`, value: 'new' } : { op: 'remove', path: `/${key}` };
      const reply = await call(server, caller, 'PATCH', `/v2/images/${id}`, { rawBody: JSON.stringify([operation]), headers: PATCH });
      // 403 "reserved" when the key is readable but protected; 409 when it is unreadable (it does
      // not exist for the caller) and the caller may not create it either.
      assert.ok([200, 403, 409].includes(reply.status), `${op} ${key}: ${reply.status} ${reply.text}`);
      const stored = await server.db.selectFrom('image_properties').select('value').where('image_id', '=', id).where('name', '=', key).executeTakeFirst();
      if (reply.status !== 200) assert.equal(stored?.value, 'old', 'a refused change leaves the property as it was');
      return reply.status === 200;
    }
  }
}

/** Expected: which callers may do each operation, per property (from the fixture files). */
type Matrix = Record<string, Record<Op, readonly string[]>>;
const ALL = CALLERS.map((c) => c.name);
const ADMIN_MEMBER = ['admin', 'member', 'member + service token'];
const ROLES_MATRIX: Matrix = {
  // [^x_billing_.*$]: a specific section.
  x_billing_code: { create: ['admin'], read: ['admin', 'member', 'reader', 'custom role', 'member + service token'], update: ['admin'], delete: ['admin'] },
  // [^x_service_]: service role from a service token; read @, delete !.
  x_service_region: { create: ['member + service token'], read: ALL, update: ['member + service token'], delete: [] },
  // [^x_.*]: the catch-all of the x_ namespace.
  x_team: { create: ADMIN_MEMBER, read: ADMIN_MEMBER, update: ADMIN_MEMBER, delete: ADMIN_MEMBER },
  // No section matches: nobody, admin included.
  os_distro: { create: [], read: [], update: [], delete: [] },
};
const POLICIES_MATRIX: Matrix = {
  x_billing_code: { create: ['admin'], read: ['admin', 'member', 'reader', 'custom role', 'member + service token'], update: ['admin'], delete: ['admin'] },
  x_team: { create: ADMIN_MEMBER, read: ADMIN_MEMBER, update: ADMIN_MEMBER, delete: ADMIN_MEMBER },
  os_distro: { create: [], read: [], update: [], delete: [] },
};

function matrixSuite(dialect: string, format: 'roles' | 'policies', matrix: Matrix): void {
  describe(`property protections, ${format} format, on ${dialect}`, () => {
    const server = useTestServer(dialect as 'sqlite', {
      propertyProtection: { file: `${FIXTURES}/${format}.conf`, format },
      policyOverrides: format === 'policies' ? loadPolicyFile(`${FIXTURES}/policy.yaml`, { optional: false }) : {},
    });

    for (const [key, expected] of Object.entries(matrix)) {
      it(`${key}: every role set × operation`, async () => {
        for (const op of ['create', 'read', 'update', 'delete'] as const) {
          const allowed: string[] = [];
          for (const caller of CALLERS) if (await observe(server.current, caller, key, op)) allowed.push(caller.name);
          assert.deepEqual(allowed, [...expected[op]], `${key} ${op}`);
        }
      });
    }
  });
}

for (const dialect of testDialects()) {
  matrixSuite(dialect, 'roles', ROLES_MATRIX);
  matrixSuite(dialect, 'policies', POLICIES_MATRIX);

  describe(`property protections: Glance's codes and the data-loss fix on ${dialect}`, () => {
    const server = useTestServer(dialect, { propertyProtection: { file: `${FIXTURES}/roles.conf`, format: 'roles' } });
    const member: Caller = { name: 'member', user: 'demo', withServiceToken: false };
    const reader: Caller = { name: 'reader', user: 'viewer', withServiceToken: false };

    it('a user who cannot read a property renames the image; the property is still there for admin', async () => {
      const s = server.current;
      // The reader sees x_billing_code but not x_team (section [^x_.*] is for admin and member).
      const id = await imageWith(s, reader, { x_team: 'blue' });
      await s.db.insertInto('image_properties').values({ image_id: id, name: 'x_billing_code', value: 'ACME-42' }).execute();
      const renamed = await call(s, reader, 'PATCH', `/v2/images/${id}`, {
        rawBody: JSON.stringify([{ op: 'replace', path: '/name', value: 'renamed' }]),
        headers: PATCH,
      });
      assert.equal(renamed.status, 200, renamed.text);
      assert.equal(renamed.json['x_team'], undefined, 'the reader cannot see x_team');
      const asAdmin = (await s.request('admin', 'GET', `/v2/images/${id}`)).json();
      assert.equal(asAdmin['name'], 'renamed');
      assert.equal(asAdmin['x_team'], 'blue', 'Glance would have deleted it here');
      assert.equal(asAdmin['x_billing_code'], 'ACME-42');
    });

    it('a user who cannot read x_billing renames the image; x_billing is still there for admin', async () => {
      const s = server.current;
      const custom: Caller = { name: 'service only', user: 'svc', withServiceToken: false };
      const id = await imageWith(s, custom, { x_billing_code: 'ACME-7' });
      assert.equal((await call(s, custom, 'GET', `/v2/images/${id}`)).json['x_billing_code'], undefined);
      const renamed = await call(s, custom, 'PATCH', `/v2/images/${id}`, {
        rawBody: JSON.stringify([{ op: 'replace', path: '/name', value: 'n2' }]),
        headers: PATCH,
      });
      assert.equal(renamed.status, 200, renamed.text);
      assert.equal((await s.request('admin', 'GET', `/v2/images/${id}`)).json()['x_billing_code'], 'ACME-7');
    });

    it("answers 403 'reserved' for protected readable keys and 409 for a replace of an unreadable key", async () => {
      const s = server.current;
      const id = await imageWith(s, member, { x_billing_code: 'A', x_service_region: 'r1' });
      const update = await call(s, member, 'PATCH', `/v2/images/${id}`, {
        rawBody: JSON.stringify([{ op: 'replace', path: '/x_billing_code', value: 'B' }]),
        headers: PATCH,
      });
      assert.equal(update.status, 403);
      assert.match(update.text, /Attribute 'x_billing_code' is reserved\./);
      const remove = await call(s, member, 'PATCH', `/v2/images/${id}`, {
        rawBody: JSON.stringify([{ op: 'remove', path: '/x_service_region' }]),
        headers: PATCH,
      });
      assert.equal(remove.status, 403);
      const readerImage = await imageWith(s, reader, { x_team: 'blue' });
      const unreadable = await call(s, reader, 'PATCH', `/v2/images/${readerImage}`, {
        rawBody: JSON.stringify([{ op: 'replace', path: '/x_team', value: 'red' }]),
        headers: PATCH,
      });
      assert.equal(unreadable.status, 409);
      assert.match(unreadable.text, /Property x_team does not exist\./);
      // Base attributes are never protected.
      const base = await call(s, reader, 'PATCH', `/v2/images/${readerImage}`, {
        rawBody: JSON.stringify([{ op: 'replace', path: '/min_ram', value: 5 }]),
        headers: PATCH,
      });
      assert.equal(base.status, 200, base.text);
    });

    it('tells each caller what it may do (GET /v2/info/property-protections) and marks the schema', async () => {
      const s = server.current;
      const asMember = (await s.request('demo', 'GET', '/v2/info/property-protections')).json<{
        enabled: boolean;
        format: string;
        rules: { pattern: string; create: boolean; read: boolean }[];
        unmatched: Record<string, boolean>;
      }>();
      assert.equal(asMember.enabled, true);
      assert.equal(asMember.format, 'roles');
      assert.deepEqual(
        asMember.rules.map((r) => [r.pattern, r.create, r.read]),
        [
          ['^x_billing_.*$', false, true],
          ['^x_service_', false, true],
          ['^x_.*', true, true],
          ['^owner_specified\\.openstack\\.', true, true],
        ],
      );
      assert.deepEqual(asMember.unmatched, { create: false, read: false, update: false, delete: false });
      const asReader = (await s.request('viewer', 'GET', '/v2/info/property-protections')).json<{ rules: { read: boolean }[] }>();
      assert.deepEqual(
        asReader.rules.map((r) => r.read),
        [true, true, false, true],
      );
      const schema = (await s.request('demo', 'GET', '/v2/schemas/image')).json();
      const marked = schema['x-glimpse-property-protections'] as { pattern: string; create: string[] }[];
      assert.deepEqual(marked[0], {
        pattern: '^x_billing_.*$',
        create: ['admin'],
        read: ['admin', 'member', 'reader', 'auditor'],
        update: ['admin'],
        delete: ['admin'],
      });
    });
  });
}

describe('no property_protection_file', () => {
  const server = useTestServer('sqlite');
  it('leaves properties unprotected and says so', async () => {
    assert.deepEqual((await server.current.request('demo', 'GET', '/v2/info/property-protections')).json(), { enabled: false });
    assert.equal((await server.current.request('demo', 'POST', '/v2/images', { body: { os_distro: 'debian' } })).status, 201);
  });
});

describe('allow_additional_image_properties = False', () => {
  const server = useTestServer('sqlite', { allowAdditionalImageProperties: false });
  it('limits properties to the schema: extra properties are refused on create and update', async () => {
    const s = server.current;
    const extra = await s.request('demo', 'POST', '/v2/images', { body: { name: 'x', x_team: 'blue' } });
    assert.equal(extra.status, 400);
    assert.match(extra.text, /x_team/);
    const created = await s.request('demo', 'POST', '/v2/images', { body: { name: 'only-base', disk_format: 'raw' } });
    assert.equal(created.status, 201);
    const id = String(created.json()['id']);
    const patch = await s.request('demo', 'PATCH', `/v2/images/${id}`, {
      rawBody: JSON.stringify([{ op: 'add', path: '/x_team', value: 'blue' }]),
      headers: PATCH,
    });
    assert.equal(patch.status, 400, patch.text);
    assert.equal((await s.request('demo', 'GET', `/v2/images/${id}`)).json()['x_team'], undefined);
  });
});
