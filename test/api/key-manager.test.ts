import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer, type TestUser } from '../support/test-server.js';

/** The embedded key manager: Barbican's secrets API subset under /key-manager (README "Key manager"). */
async function store(
  server: TestServer,
  user: TestUser,
  body: Record<string, unknown>,
): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const reply = await server.request(user, 'POST', '/key-manager/v1/secrets/', { body });
  return { status: reply.status, json: reply.status === 201 ? reply.json() : {}, text: reply.text };
}

function idOf(ref: unknown): string {
  return String(ref).split('/').pop() ?? '';
}

for (const dialect of testDialects()) {
  describe(`embedded key manager on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it('serves Barbican version discovery and lists itself in the token catalog', async () => {
      const s = server.current;
      const versions = await fetch(`${s.url}/key-manager`);
      assert.equal(versions.status, 300);
      const body = (await versions.json()) as { versions: { values: { id: string; links: { href: string }[] }[] } };
      assert.equal(body.versions.values[0]!.id, 'v1');
      assert.equal(body.versions.values[0]!.links[0]!.href, `${s.url}/key-manager/v1/`);
      const login = await fetch(`${s.url}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          auth: {
            identity: { methods: ['password'], password: { user: { name: 'demo', domain: { name: 'Default' }, password: 'demo-secret' } } },
            scope: { project: { name: 'demo', domain: { name: 'Default' } } },
          },
        }),
      });
      const catalog = ((await login.json()) as { token: { catalog: { type: string; endpoints: { url: string }[] }[] } }).token.catalog;
      assert.equal(catalog.find((c) => c.type === 'key-manager')?.endpoints[0]?.url, `${s.url}/key-manager`);
    });

    it('stores binary and text secrets, encrypted at rest, and returns their payloads', async () => {
      const s = server.current;
      const der = randomBytes(700);
      const stored = await store(s, 'demo', {
        name: 'cert',
        secret_type: 'certificate',
        payload: der.toString('base64'),
        payload_content_type: 'application/octet-stream',
        payload_content_encoding: 'base64',
      });
      assert.equal(stored.status, 201, stored.text);
      const id = idOf(stored.json['secret_ref']);
      assert.match(String(stored.json['secret_ref']), new RegExp(`^${s.url}/key-manager/v1/secrets/[0-9a-f-]{36}$`));
      const row = await s.db.selectFrom('key_manager_secrets').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.ok(!row.payload.includes(der.toString('base64')), 'the payload is not stored in clear');

      const meta = await s.request('demo', 'GET', `/key-manager/v1/secrets/${id}`);
      assert.equal(meta.status, 200);
      assert.equal(meta.json()['secret_type'], 'certificate');
      assert.deepEqual(meta.json()['content_types'], { default: 'application/octet-stream' });
      const payload = await fetch(`${s.url}/key-manager/v1/secrets/${id}/payload`, {
        headers: { 'x-auth-token': await s.token('demo'), accept: 'application/octet-stream' },
      });
      assert.equal(payload.status, 200);
      assert.ok(Buffer.from(await payload.arrayBuffer()).equals(der));
      const wrongType = await fetch(`${s.url}/key-manager/v1/secrets/${id}/payload`, {
        headers: { 'x-auth-token': await s.token('demo'), accept: 'text/plain' },
      });
      assert.equal(wrongType.status, 406);

      const text = await store(s, 'demo', { name: 'pass', payload: 'hunter2', payload_content_type: 'text/plain' });
      assert.equal(text.status, 201);
      const textPayload = await fetch(`${s.url}/key-manager/v1/secrets/${idOf(text.json['secret_ref'])}/payload`, {
        headers: { 'x-auth-token': await s.token('demo'), accept: 'text/plain' },
      });
      assert.equal(await textPayload.text(), 'hunter2');
    });

    it('keeps secrets per project, lets readers look but not write, and pages lists', async () => {
      const s = server.current;
      const mine = await store(s, 'demo', { name: 'only-demo', payload: 'x', payload_content_type: 'text/plain' });
      const id = idOf(mine.json['secret_ref']);
      assert.equal((await s.request('alt', 'GET', `/key-manager/v1/secrets/${id}`)).status, 404);
      assert.equal((await s.request('alt', 'DELETE', `/key-manager/v1/secrets/${id}`)).status, 404);
      assert.equal((await fetch(`${s.url}/key-manager/v1/secrets/${id}/payload`, { headers: { 'x-auth-token': await s.token('alt') } })).status, 404);
      assert.equal((await s.request('viewer', 'GET', `/key-manager/v1/secrets/${id}`)).status, 200, 'a reader of the project can look');
      assert.equal((await store(s, 'viewer', { payload: 'x', payload_content_type: 'text/plain' })).status, 403);
      assert.equal((await s.request('viewer', 'DELETE', `/key-manager/v1/secrets/${id}`)).status, 403);

      const page = await s.request('demo', 'GET', '/key-manager/v1/secrets?limit=2&offset=0');
      const listed = page.json<{ secrets: { name: string }[]; total: number; next?: string }>();
      assert.equal(listed.total, 3);
      assert.equal(listed.secrets.length, 2);
      assert.match(listed.next ?? '', /limit=2&offset=2$/);
      assert.equal((await s.request('alt', 'GET', '/key-manager/v1/secrets')).json<{ total: number }>().total, 0);
      const byName = await s.request('demo', 'GET', '/key-manager/v1/secrets?name=only-demo');
      assert.deepEqual(
        byName.json<{ secrets: { name: string }[] }>().secrets.map((x) => x.name),
        ['only-demo'],
      );

      assert.equal((await s.request('demo', 'DELETE', `/key-manager/v1/secrets/${id}`)).status, 204);
      assert.equal((await s.request('demo', 'GET', `/key-manager/v1/secrets/${id}`)).status, 404);
    });

    it("refuses bad input with 4xx in Barbican's error shape, and unauthenticated calls with 401", async () => {
      const s = server.current;
      const cases: Record<string, unknown>[] = [
        {},
        { payload: '' },
        { payload: 'x' },
        { payload: 'x', payload_content_type: 'application/json' },
        { payload: '!!!', payload_content_type: 'application/octet-stream', payload_content_encoding: 'base64' },
        { payload: 'eA==', payload_content_type: 'application/octet-stream' },
        { payload: 'x', payload_content_type: 'text/plain', secret_type: 'nonsense' },
        { payload: 'x', payload_content_type: 'text/plain', bit_length: -1 },
        { payload: 'x', payload_content_type: 'text/plain', expiration: '2001-01-01T00:00:00' },
        { payload: 'x', payload_content_type: 'text/plain', name: 5 },
        { payload: randomBytes(70 * 1024).toString('base64'), payload_content_type: 'application/octet-stream', payload_content_encoding: 'base64' },
      ];
      for (const body of cases) {
        const reply = await store(s, 'demo', body);
        assert.equal(reply.status, 400, JSON.stringify(body).slice(0, 80));
        const error = JSON.parse(reply.text) as { code: number; title: string; description: string };
        assert.equal(error.code, 400);
        assert.equal(typeof error.description, 'string');
      }
      const malformed = await s.request('demo', 'POST', '/key-manager/v1/secrets', { rawBody: '{"payload":', headers: { 'content-type': 'application/json' } });
      assert.equal(malformed.status, 400);
      assert.equal((await s.request('demo', 'GET', '/key-manager/v1/secrets/not-a-uuid')).status, 404);
      assert.equal((await s.request(null, 'GET', '/key-manager/v1/secrets')).status, 401);
      assert.equal((await s.request('demo', 'PUT', '/key-manager/v1/secrets')).status, 405);
      assert.equal((await s.db.selectFrom('key_manager_secrets').select('id').where('name', '=', 'nonsense').execute()).length, 0);
    });
  });
}
