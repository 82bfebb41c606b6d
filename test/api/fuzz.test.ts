import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer, type TestUser } from '../support/test-server.js';

/**
 * Property-based robustness: random bodies, query strings, headers and ids against every
 * endpoint. Whatever arrives, the answer is never a 5xx, and a refused request (4xx) leaves the
 * database exactly as it was.
 */

const RUNS = Number(process.env['GLIMPSE_FUZZ_RUNS'] ?? 1000);

async function snapshot(server: TestServer): Promise<string> {
  const db = server.db;
  const parts = await Promise.all([
    db.selectFrom('images').selectAll().orderBy('id').execute(),
    // os_glimpse_upload_failure is the one deliberate trace a refused upload leaves (README "Image data").
    db.selectFrom('image_properties').selectAll().where('name', '!=', 'os_glimpse_upload_failure').orderBy('image_id').orderBy('name').execute(),
    db.selectFrom('image_tags').selectAll().orderBy('image_id').orderBy('value').execute(),
    db.selectFrom('image_members').selectAll().orderBy('image_id').orderBy('member').execute(),
    db.selectFrom('image_locations').selectAll().orderBy('image_id').orderBy('url').execute(),
    db.selectFrom('key_manager_secrets').selectAll().orderBy('id').execute(),
  ]);
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

const weirdText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '..', '%00', '%2F', 'null', 'true', '-1', '9'.repeat(30), 'x'.repeat(300), '\u0000', '😀'.repeat(10), "'; drop table images; --"),
);

const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(
    fc.oneof(
      fc.constantFrom(
        'name',
        'id',
        'visibility',
        'protected',
        'os_hidden',
        'min_ram',
        'min_disk',
        'disk_format',
        'container_format',
        'tags',
        'owner',
        'status',
        'member',
        'locations',
        'os_glance_x',
        'self',
      ),
      weirdText,
    ),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), weirdText, fc.integer(), fc.boolean(), fc.constant(null), fc.array(weirdText, { maxLength: 4 })),
    { maxKeys: 5 },
  ),
  fc.array(
    fc.record(
      {
        op: fc.oneof(fc.constantFrom('add', 'remove', 'replace', 'move', 'test'), weirdText),
        path: fc.oneof(
          fc.constantFrom(
            '/name',
            '/tags',
            '/visibility',
            '/protected',
            '/min_ram',
            '/owner',
            '/locations/-',
            '/status',
            '/x',
            '/a/b',
            '/',
            '',
            '/~2',
            '/os_glance_y',
          ),
          weirdText,
        ),
        value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), weirdText, fc.integer(), fc.boolean()),
        add: weirdText,
      },
      { requiredKeys: [] },
    ),
    { maxLength: 4 },
  ),
);

const body = fc.oneof(
  fc.constant(undefined),
  jsonish.map((v) => JSON.stringify(v)),
  weirdText,
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
);

const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'limit',
          'marker',
          'sort',
          'sort_key',
          'sort_dir',
          'visibility',
          'member_status',
          'os_hidden',
          'protected',
          'tag',
          'name',
          'status',
          'size_min',
          'size_max',
          'created_at',
          'updated_at',
          'owner',
          'changes-since',
          'os_distro',
        ),
        weirdText,
      ),
      weirdText,
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length === 0 ? '' : `?${new URLSearchParams(pairs).toString()}`));

const headers = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/openstack-images-v2.1-json-patch',
        'application/openstack-images-v2.0-json-patch',
        'application/octet-stream',
        'text/plain',
      ),
      weirdText.filter((t) => /^[\x20-\x7e]*$/.test(t)),
    ),
    accept: fc.constantFrom('application/json', '*/*', 'text/html', 'text/plain', 'application/vnd.openstack.images-v2', 'application/vnd.openstack.images-v9'),
    'x-openstack-request-id': fc.oneof(fc.constantFrom('abc', 'req-1', 'x'.repeat(65)), fc.stringMatching(/^[a-zA-Z0-9-]{0,80}$/)),
  },
  { requiredKeys: [] },
);

function routeArbitrary(ids: () => readonly string[]) {
  const id = fc.oneof(
    fc.constantFrom(...ids()),
    fc.uuid(),
    weirdText.map((t) => encodeURIComponent(t)),
  );
  const segment = weirdText.map((t) => encodeURIComponent(t));
  return fc.oneof(
    fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'), queryString).map(([m, q]) => [m, `/v2/images${q}`] as const),
    fc.tuple(fc.constantFrom('GET', 'PATCH', 'DELETE', 'PUT', 'POST'), id).map(([m, i]) => [m, `/v2/images/${i}`] as const),
    fc.tuple(fc.constantFrom('PUT', 'GET', 'POST'), id).map(([m, i]) => [m, `/v2/images/${i}/file`] as const),
    fc.tuple(fc.constantFrom('POST', 'GET'), id, fc.constantFrom('deactivate', 'reactivate')).map(([m, i, a]) => [m, `/v2/images/${i}/actions/${a}`] as const),
    fc.tuple(fc.constantFrom('PUT', 'DELETE', 'GET'), id, segment).map(([m, i, t]) => [m, `/v2/images/${i}/tags/${t}`] as const),
    fc.tuple(fc.constantFrom('GET', 'POST', 'PUT'), id).map(([m, i]) => [m, `/v2/images/${i}/members`] as const),
    fc
      .tuple(fc.constantFrom('GET', 'PUT', 'DELETE', 'POST'), id, fc.oneof(segment, fc.constantFrom('alt_demo', 'demo')))
      .map(([m, i, member]) => [m, `/v2/images/${i}/members/${member}`] as const),
    fc
      .tuple(fc.constantFrom('GET', 'POST'), fc.constantFrom('image', 'images', 'member', 'members', 'nothing'))
      .map(([m, s]) => [m, `/v2/schemas/${s}`] as const),
    fc
      .tuple(fc.constantFrom('GET', 'POST', 'DELETE', 'PUT'), fc.oneof(id, fc.constant('')), fc.constantFrom('', '/payload'))
      .map(([m, i, tail]) => [m, `/key-manager/v1/secrets/${i}${i === '' ? '' : tail}`] as const),
    fc
      .tuple(
        fc.constantFrom('GET', 'POST', 'DELETE'),
        fc.constantFrom(
          '/',
          '/versions',
          '/healthcheck',
          '/v2',
          '/v2.9/images',
          '/v1/images',
          '/identity/v3',
          '/identity/v3/auth/tokens',
          '/key-manager',
          '/key-manager/v1',
          '/v2/info/stores',
          '/v2/info/stores/detail',
          '/v2/info/import',
          '/v2/info/usage',
        ),
      )
      .map(([m, p]) => [m, p] as const),
  );
}

for (const dialect of testDialects()) {
  describe(`random requests on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it('answers edge values that once reached the database with 4xx or an empty page', async () => {
      const s = server.current;
      // Found by hand after the property run missed them: BIGINT overflow and NUL on PostgreSQL.
      for (const query of [
        'size_min=999999999999999999999999999999',
        'size_max=-99999999999999999999',
        'min_ram=99999999999999999999',
        'os_distro=%00',
        'name=in:a%00',
        'tag=%00',
        'marker=%00',
      ]) {
        const reply = await s.request('demo', 'GET', `/v2/images?${query}`);
        assert.ok(reply.status < 500, `${query} → ${reply.status}`);
      }
      for (const [method, path] of [
        ['GET', '/v2/images/%00'],
        ['DELETE', '/v2/images/a%00/tags/x'],
        ['GET', '/v2/images/x/members/%00'],
        ['PUT', '/v2/images/x/tags/%00'],
        ['DELETE', '/v2/images/x/members/%00'],
      ] as const) {
        const reply = await s.request('demo', method, path);
        assert.equal(reply.status, 404, `${method} ${path}`);
      }
    });

    it('never answers 5xx, and a refused request changes nothing', async () => {
      const s = server.current;
      const ids: string[] = [];
      for (const [user, visibility] of [
        ['demo', 'shared'],
        ['alt', 'private'],
        ['admin', 'public'],
      ] as const) {
        const reply = await s.request(user, 'POST', '/v2/images', { body: { name: `seed-${visibility}`, visibility, tags: ['t'], k: 'v' } });
        ids.push(String(reply.json()['id']));
      }
      await s.request('demo', 'POST', `/v2/images/${ids[0] ?? ''}/members`, { body: { member: await s.project('alt') } });
      const users: (TestUser | null)[] = ['demo', 'alt', 'admin', 'viewer', null];

      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...users),
          routeArbitrary(() => ids),
          body,
          headers,
          async (user, [method, path], payload, extraHeaders) => {
            const before = await snapshot(s);
            const options =
              method === 'GET' || method === 'HEAD'
                ? { headers: extraHeaders }
                : { headers: extraHeaders, ...(payload === undefined ? {} : { rawBody: payload }) };
            const reply = await s.request(user, method, path, options);
            assert.ok(reply.status < 500, `${method} ${path} as ${String(user)} → ${reply.status}: ${reply.text.slice(0, 300)}`);
            if (reply.status >= 400) assert.equal(await snapshot(s), before, `${method} ${path} → ${reply.status} changed the database`);
          },
        ),
        { numRuns: RUNS },
      );
    });
  });
}
