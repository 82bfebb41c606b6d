import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer } from '../support/test-server.js';

const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };

for (const dialect of testDialects()) {
  describe(`policy on ${dialect}`, () => {
    describe('secure RBAC defaults (enforce_new_defaults)', () => {
      const server = useTestServer(dialect, { enforceNewDefaults: true });

      it('a reader reads but may not write; a member writes in its project', async () => {
        const s = server.current;
        assert.equal((await s.request('viewer', 'POST', '/v2/images', { body: { name: 'r' } })).status, 403);
        const created = await s.request('demo', 'POST', '/v2/images', { body: { name: 'm' } });
        assert.equal(created.status, 201);
        const id = String(created.json()['id']);
        assert.equal((await s.request('viewer', 'GET', `/v2/images/${id}`)).status, 200);
        assert.equal((await s.request('viewer', 'GET', '/v2/images')).status, 200);
        assert.equal(
          (await s.request('viewer', 'PATCH', `/v2/images/${id}`, { headers: PATCH, body: [{ op: 'replace', path: '/name', value: 'x' }] })).status,
          403,
        );
        assert.equal((await s.request('viewer', 'DELETE', `/v2/images/${id}`)).status, 403);
        assert.equal(
          (await s.request('demo', 'PATCH', `/v2/images/${id}`, { headers: PATCH, body: [{ op: 'replace', path: '/name', value: 'x' }] })).status,
          200,
        );
        assert.equal((await s.request('alt', 'PATCH', `/v2/images/${id}`, { headers: PATCH, body: [] })).status, 404, 'others cannot even see it');
      });
    });

    describe('policy file overrides', () => {
      const server = useTestServer(dialect, { policyOverrides: { publicize_image: 'role:member', add_member: '!' } });

      it('an operator rule replaces the default', async () => {
        const s = server.current;
        assert.equal((await s.request('demo', 'POST', '/v2/images', { body: { visibility: 'public' } })).status, 201);
        const image = await s.request('demo', 'POST', '/v2/images', { body: {} });
        const id = String(image.json()['id']);
        assert.equal((await s.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: 'x' } })).status, 403);
      });
    });

    describe('anonymous access (allow_anonymous_access)', () => {
      const server = useTestServer(dialect, { allowAnonymousAccess: true });

      it('reads public images without a token and may not write', async () => {
        const s = server.current;
        const pub = await s.request('admin', 'POST', '/v2/images', { body: { name: 'pub', visibility: 'public' } });
        await s.request('demo', 'POST', '/v2/images', { body: { name: 'mine', visibility: 'private' } });
        const list = await s.request(null, 'GET', '/v2/images');
        assert.equal(list.status, 200);
        assert.deepEqual(
          list.json<{ images: { name: string }[] }>().images.map((i) => i.name),
          ['pub'],
        );
        assert.equal((await s.request(null, 'GET', `/v2/images/${String(pub.json()['id'])}`)).status, 200);
        const write = await s.request(null, 'POST', '/v2/images', { body: {}, headers: { accept: 'application/json' } });
        assert.equal(write.status, 403);
        assert.match(write.text, /Read-only access/);
        assert.equal((await s.request(null, 'GET', '/v2/images', { headers: { 'x-auth-token': 'bad' } })).status, 401);
      });
    });
  });
}
