import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer } from '../support/test-server.js';

function passwordAuth(user: string, password: string, scope?: Record<string, unknown>): Record<string, unknown> {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      ...(scope === undefined ? {} : { scope }),
    },
  };
}

for (const dialect of testDialects()) {
  describe(`embedded identity (Keystone v3 subset) on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it('serves the version documents keystoneauth discovers', async () => {
      const v3 = await server.current.request(null, 'GET', '/identity/v3');
      assert.equal(v3.status, 200);
      const body = v3.json<{ version: { id: string; status: string; links: { href: string }[] } }>();
      assert.equal(body.version.status, 'stable');
      assert.match(body.version.id, /^v3\./);
      assert.equal(body.version.links[0]?.href, `${server.current.url}/identity/v3/`);
      assert.equal((await server.current.request(null, 'GET', '/identity')).status, 300);
    });

    it("logs in with a password, scoped to the user's project, with a catalog pointing here", async () => {
      const reply = await server.current.request(null, 'POST', '/identity/v3/auth/tokens', {
        body: passwordAuth('demo', 'demo-secret', { project: { name: 'demo', domain: { name: 'Default' } } }),
      });
      assert.equal(reply.status, 201);
      assert.ok((reply.headers.get('x-subject-token') ?? '').length >= 40);
      const { token } = reply.json<{
        token: {
          project: { name: string; id: string };
          roles: { name: string }[];
          expires_at: string;
          catalog: { type: string; endpoints: { interface: string; url: string }[] }[];
        };
      }>();
      assert.equal(token.project.name, 'demo');
      assert.deepEqual(
        token.roles.map((r) => r.name),
        ['member', 'reader'],
      );
      assert.ok(Date.parse(token.expires_at) > Date.now() + 3500_000);
      const image = token.catalog.find((s) => s.type === 'image');
      assert.equal(image?.endpoints.find((e) => e.interface === 'public')?.url, server.current.url);
      const unscoped = await server.current.request(null, 'POST', '/identity/v3/auth/tokens', { body: passwordAuth('demo', 'demo-secret') });
      assert.equal(unscoped.status, 201, "an unscoped request gets the user's only project");
    });

    it("refuses bad credentials and foreign scopes with Keystone's 401", async () => {
      for (const body of [
        passwordAuth('demo', 'wrong'),
        passwordAuth('nobody', 'x'),
        passwordAuth('demo', 'demo-secret', { project: { name: 'admin', domain: { name: 'Default' } } }),
      ]) {
        const reply = await server.current.request(null, 'POST', '/identity/v3/auth/tokens', { body });
        assert.equal(reply.status, 401);
        assert.deepEqual(reply.json(), { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
      }
      for (const raw of ['', 'not json', '[]', '{"auth": 1}']) {
        const reply = await server.current.request(null, 'POST', '/identity/v3/auth/tokens', { rawBody: raw, headers: { 'content-type': 'application/json' } });
        assert.equal(reply.status, 400, raw);
      }
    });

    it('validates, rescopes and revokes tokens', async () => {
      const s = server.current;
      const token = await s.token('alt');
      const admin = await s.token('admin');
      const check = await s.request(null, 'GET', '/identity/v3/auth/tokens', { headers: { 'x-auth-token': admin, 'x-subject-token': token } });
      assert.equal(check.status, 200);
      assert.equal(check.json<{ token: { user: { name: string } } }>().token.user.name, 'alt');
      assert.equal((await s.request(null, 'HEAD', '/identity/v3/auth/tokens', { headers: { 'x-auth-token': admin, 'x-subject-token': token } })).status, 200);
      assert.equal((await s.request(null, 'GET', '/identity/v3/auth/tokens', { headers: { 'x-auth-token': admin, 'x-subject-token': 'bogus' } })).status, 404);
      assert.equal((await s.request(null, 'GET', '/identity/v3/auth/tokens', { headers: { 'x-auth-token': 'bogus', 'x-subject-token': token } })).status, 401);

      const rescoped = await s.request(null, 'POST', '/identity/v3/auth/tokens', {
        body: { auth: { identity: { methods: ['token'], token: { id: token } }, scope: { project: { name: 'alt_demo', domain: { id: 'default' } } } } },
      });
      assert.equal(rescoped.status, 201);
      const second = rescoped.headers.get('x-subject-token') ?? '';
      assert.equal(
        (await s.request(null, 'DELETE', '/identity/v3/auth/tokens', { headers: { 'x-auth-token': admin, 'x-subject-token': second } })).status,
        204,
      );
      const revokedUse = await s.request(null, 'GET', '/v2/images', { headers: { 'x-auth-token': second } });
      assert.equal(revokedUse.status, 401);
    });

    it('looks projects up by name or id for the CLIs', async () => {
      const s = server.current;
      const id = await s.project('alt');
      const token = await s.token('demo');
      const byName = await s.request(null, 'GET', '/identity/v3/projects/alt_demo', { headers: { 'x-auth-token': token } });
      assert.equal(byName.json<{ project: { id: string } }>().project.id, id);
      const byId = await s.request(null, 'GET', `/identity/v3/projects/${id}`, { headers: { 'x-auth-token': token } });
      assert.equal(byId.json<{ project: { name: string } }>().project.name, 'alt_demo');
      assert.equal((await s.request(null, 'GET', '/identity/v3/projects/none', { headers: { 'x-auth-token': token } })).status, 404);
      assert.equal((await s.request(null, 'GET', '/identity/v3/projects/alt_demo')).status, 401);
    });
  });
}
