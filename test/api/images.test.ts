import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

const PATCH_V21 = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
const PATCH_V20 = { 'content-type': 'application/openstack-images-v2.0-json-patch' };
const JSON_ACCEPT = { accept: 'application/json' };

async function createImage(server: TestServer, user: 'demo' | 'alt' | 'admin', body: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const reply = await server.request(user, 'POST', '/v2/images', { body: { name: 'img', disk_format: 'raw', container_format: 'bare', ...body } });
  assert.equal(reply.status, 201, reply.text);
  return reply.json();
}

function errorMessage(reply: { text: string }): string {
  return (JSON.parse(reply.text) as { message: string }).message;
}

for (const dialect of testDialects()) {
  describe(`images API on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it('creates an image with Glance defaults and a Location header', async () => {
      const reply = await server.current.request('demo', 'POST', '/v2/images', { body: { name: 'cirros', os_distro: 'cirros' } });
      assert.equal(reply.status, 201);
      const image = reply.json();
      assert.match(String(image['id']), /^[0-9a-f-]{36}$/);
      assert.equal(reply.headers.get('location'), `${server.current.url}/v2/images/${String(image['id'])}`);
      assert.equal(image['status'], 'queued');
      assert.equal(image['visibility'], 'shared');
      assert.equal(image['protected'], false);
      assert.equal(image['os_hidden'], false);
      assert.equal(image['min_ram'], 0);
      assert.equal(image['size'], null);
      assert.equal(image['owner'], await server.current.project('demo'));
      assert.equal(image['os_distro'], 'cirros');
      assert.deepEqual(image['tags'], []);
      assert.equal(image['created_at'], image['updated_at']);
      assert.match(String(image['created_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(image['self'], `/v2/images/${String(image['id'])}`);
      assert.equal(image['file'], `/v2/images/${String(image['id'])}/file`);
      assert.equal(image['schema'], '/v2/schemas/image');
      assert.match(reply.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/);
    });

    it('accepts a client id once, and never again even after delete', async () => {
      const id = 'a1b2c3d4-0000-4000-8000-00000000abcd';
      await createImage(server.current, 'demo', { id });
      const dup = await server.current.request('demo', 'POST', '/v2/images', { body: { id }, headers: JSON_ACCEPT });
      assert.equal(dup.status, 409);
      assert.equal(errorMessage(dup), `Image ID ${id} already exists!<br /><br />\n\n\n`);
      assert.equal((await server.current.request('demo', 'DELETE', `/v2/images/${id}`)).status, 204);
      assert.equal((await server.current.request('demo', 'POST', '/v2/images', { body: { id } })).status, 409);
      assert.equal((await server.current.request('demo', 'GET', `/v2/images/${id}`)).status, 404);
    });

    it('refuses read-only and reserved attributes on create', async () => {
      for (const [key, value, status, text] of [
        ['self', 'x', 403, "Attribute 'self' is read-only."],
        ['status', 'active', 403, "Attribute 'status' is read-only."],
        ['size', 5, 403, "Attribute 'size' is read-only."],
        ['checksum', 'abc', 403, "Attribute 'checksum' is read-only."],
        ['os_hash_value', 'abc', 403, "Attribute 'os_hash_value' is read-only."],
        ['os_glance_import_task', 'x', 403, "Attribute 'os_glance_import_task' is reserved."],
        ['deleted', 'x', 403, "Attribute 'deleted' is reserved."],
      ] as const) {
        const reply = await server.current.request('demo', 'POST', '/v2/images', { body: { [key]: value }, headers: JSON_ACCEPT });
        assert.equal(reply.status, status, `${key}: ${reply.text}`);
        assert.ok(errorMessage(reply).startsWith(text), reply.text);
      }
    });

    it('validates the body against the image schema', async () => {
      for (const body of [
        { disk_format: 'floppy' },
        { name: 'x'.repeat(256) },
        { visibility: 'everyone' },
        { protected: 'yes' },
        { min_ram: 'lots' },
        { custom: 5 },
        { id: 'not-a-uuid' },
        { tags: ['x'.repeat(256)] },
        { kernel_id: 'not-a-uuid' },
      ]) {
        const reply = await server.current.request('demo', 'POST', '/v2/images', { body, headers: JSON_ACCEPT });
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.match(errorMessage(reply), /^Provided object does not match schema 'image': /);
      }
      const negative = await server.current.request('demo', 'POST', '/v2/images', { body: { min_ram: -1 }, headers: JSON_ACCEPT });
      assert.equal(errorMessage(negative), "Invalid value '-1' for parameter 'min_ram': Cannot be a negative value<br /><br />\n\n\n");
      const huge = await server.current.request('demo', 'POST', '/v2/images', { body: { min_disk: 2 ** 40 }, headers: JSON_ACCEPT });
      assert.equal(huge.status, 400);
      assert.match(errorMessage(huge), /'min_disk' value out of range, must not exceed 2147483647/);
      const longKey = await server.current.request('demo', 'POST', '/v2/images', { body: { ['k'.repeat(256)]: 'v' }, headers: JSON_ACCEPT });
      assert.equal(longKey.status, 400);
    });

    it('only an admin may create images for another owner or make them public', async () => {
      const owned = await server.current.request('demo', 'POST', '/v2/images', { body: { owner: 'someone-else' } });
      assert.equal(owned.status, 403);
      assert.equal((await server.current.request('demo', 'POST', '/v2/images', { body: { visibility: 'public' } })).status, 403);
      const community = await createImage(server.current, 'demo', { visibility: 'community' });
      assert.equal(community['visibility'], 'community');
      const adminMade = await createImage(server.current, 'admin', { owner: 'someone-else', visibility: 'public' });
      assert.equal(adminMade['owner'], 'someone-else');
      assert.equal(adminMade['visibility'], 'public');
    });

    it('enforces tag and property quotas with 413', async () => {
      const tight = await import('../support/test-server.js').then((m) => m.startTestServer(dialect, { imageTagQuota: 2, imagePropertyQuota: 2 }));
      try {
        const tooManyTags = await tight.request('demo', 'POST', '/v2/images', { body: { tags: ['a', 'b', 'c'] }, headers: JSON_ACCEPT });
        assert.equal(tooManyTags.status, 413);
        assert.match(errorMessage(tooManyTags), /Image tag limit exceeded for image .*Attempted: 3, Maximum: 2/);
        const tooManyProps = await tight.request('demo', 'POST', '/v2/images', { body: { a: '1', b: '2', c: '3' } });
        assert.equal(tooManyProps.status, 413);
        const image = (await tight.request('demo', 'POST', '/v2/images', { body: { a: '1', b: '2', tags: ['x', 'y'] } })).json();
        const id = String(image['id']);
        assert.equal((await tight.request('demo', 'PUT', `/v2/images/${id}/tags/z`)).status, 413);
        assert.equal((await tight.request('demo', 'PUT', `/v2/images/${id}/tags/x`)).status, 204, 'an existing tag is not counted twice');
        const patch = await tight.request('demo', 'PATCH', `/v2/images/${id}`, { body: [{ op: 'add', path: '/c', value: '3' }], headers: PATCH_V21 });
        assert.equal(patch.status, 413);
        assert.equal(
          (await tight.request('demo', 'PATCH', `/v2/images/${id}`, { body: [{ op: 'replace', path: '/a', value: '9' }], headers: PATCH_V21 })).status,
          200,
        );
      } finally {
        await tight.close();
      }
    });

    it('shows an image to its owner and hides a private one from others with 404', async () => {
      const image = await createImage(server.current, 'demo', { visibility: 'private' });
      const id = String(image['id']);
      assert.equal((await server.current.request('demo', 'GET', `/v2/images/${id}`)).status, 200);
      assert.equal((await server.current.request('admin', 'GET', `/v2/images/${id}`)).status, 200);
      const other = await server.current.request('alt', 'GET', `/v2/images/${id}`, { headers: JSON_ACCEPT });
      assert.equal(other.status, 404);
      assert.equal(errorMessage(other), `No image found with ID ${id}<br /><br />\n\n\n`);
      assert.equal((await server.current.request('demo', 'GET', `/v2/images/${'f'.repeat(37)}`)).status, 404);
    });

    it('updates with both patch media types and Glance semantics', async () => {
      const image = await createImage(server.current, 'demo', { extra: 'one' });
      const id = String(image['id']);
      const v21 = await server.current.request('demo', 'PATCH', `/v2/images/${id}`, {
        headers: PATCH_V21,
        body: [
          { op: 'replace', path: '/name', value: 'renamed' },
          { op: 'add', path: '/os_distro', value: 'debian' },
          { op: 'add', path: '/extra', value: 'two' },
          { op: 'replace', path: '/tags', value: ['a', 'b', 'a'] },
          { op: 'replace', path: '/min_ram', value: 512 },
          { op: 'replace', path: '/protected', value: true },
        ],
      });
      assert.equal(v21.status, 200, v21.text);
      const updated = v21.json();
      assert.equal(updated['name'], 'renamed');
      assert.equal(updated['os_distro'], 'debian');
      assert.equal(updated['extra'], 'two');
      assert.deepEqual([...(updated['tags'] as string[])].sort(), ['a', 'b']);
      assert.equal(updated['min_ram'], 512);
      assert.equal(updated['protected'], true);

      const v20 = await server.current.request('demo', 'PATCH', `/v2/images/${id}`, {
        headers: PATCH_V20,
        body: [{ remove: '/extra' }, { replace: '/protected', value: false }],
      });
      assert.equal(v20.status, 200, v20.text);
      assert.equal(v20.json()['extra'], undefined);
      const addExisting = await server.current.request('demo', 'PATCH', `/v2/images/${id}`, { headers: PATCH_V20, body: [{ add: '/os_distro', value: 'x' }] });
      assert.equal(addExisting.status, 409);

      const cases: [unknown[], number, RegExp][] = [
        [[{ op: 'replace', path: '/missing', value: 'x' }], 409, /Property missing does not exist/],
        [[{ op: 'remove', path: '/missing' }], 409, /Property missing does not exist/],
        [[{ op: 'remove', path: '/name' }], 403, /Property name may not be removed/],
        [[{ op: 'replace', path: '/status', value: 'active' }], 403, /Attribute 'status' is read-only/],
        [[{ op: 'add', path: '/os_glance_x', value: 'y' }], 403, /Attribute 'os_glance_x' is reserved/],
        [[{ op: 'replace', path: '/owner', value: 'x' }], 403, /Owner can't be updated by non admin/],
        [[{ op: 'add', path: '/owner', value: 'x' }], 403, /Owner can't be updated by non admin/],
        [[{ op: 'replace', path: '/visibility', value: 'public' }], 403, /publicize_image/],
        [[{ op: 'replace', path: '/disk_format', value: 'bogus' }], 400, /does not match schema/],
        [[{ op: 'add', path: '/locations/-', value: { url: 'http://x', metadata: {} } }], 403, /locations are invisible/],
        [[{ op: 'add', path: '/a/b', value: 'x' }], 400, /Invalid JSON pointer/],
      ];
      for (const [body, status, message] of cases) {
        const reply = await server.current.request('demo', 'PATCH', `/v2/images/${id}`, { headers: { ...PATCH_V21, ...JSON_ACCEPT }, body });
        assert.equal(reply.status, status, `${JSON.stringify(body)} → ${reply.text}`);
        assert.match(errorMessage(reply), message);
      }
      // Nothing of the refused patches was written.
      const after = (await server.current.request('demo', 'GET', `/v2/images/${id}`)).json();
      assert.equal(after['name'], 'renamed');
      assert.equal(after['visibility'], 'shared');

      const unsupported = await server.current.request('demo', 'PATCH', `/v2/images/${id}`, { body: [] });
      assert.equal(unsupported.status, 415);
      assert.equal(unsupported.headers.get('accept-patch'), 'application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch');
      assert.equal((await server.current.request('alt', 'PATCH', `/v2/images/${id}`, { headers: PATCH_V21, body: [] })).status, 404);
    });

    it('lets only the owner or an admin change a visible image', async () => {
      const image = await createImage(server.current, 'demo', { visibility: 'community' });
      const id = String(image['id']);
      const reply = await server.current.request('alt', 'PATCH', `/v2/images/${id}`, {
        headers: { ...PATCH_V21, ...JSON_ACCEPT },
        body: [{ op: 'replace', path: '/name', value: 'x' }],
      });
      assert.equal(reply.status, 403);
      assert.equal((await server.current.request('alt', 'DELETE', `/v2/images/${id}`)).status, 403);
      const admin = await server.current.request('admin', 'PATCH', `/v2/images/${id}`, {
        headers: PATCH_V21,
        body: [{ op: 'replace', path: '/owner', value: 'elsewhere' }],
      });
      assert.equal(admin.status, 200);
      assert.equal(admin.json()['owner'], 'elsewhere');
    });

    it('keeps disk and container formats fixed once an image is not queued', async () => {
      const image = await createImage(server.current, 'admin');
      const id = String(image['id']);
      await server.current.db.updateTable('images').set({ status: 'active' }).where('id', '=', id).execute();
      const reply = await server.current.request('admin', 'PATCH', `/v2/images/${id}`, {
        headers: PATCH_V21,
        body: [{ op: 'replace', path: '/disk_format', value: 'qcow2' }],
      });
      assert.equal(reply.status, 403);
      assert.match(reply.text, /Attribute disk_format can be only replaced for a queued image/);
    });

    it('adds and removes tags', async () => {
      const image = await createImage(server.current, 'demo');
      const id = String(image['id']);
      assert.equal((await server.current.request('demo', 'PUT', `/v2/images/${id}/tags/${encodeURIComponent('with space')}`)).status, 204);
      assert.equal((await server.current.request('demo', 'PUT', `/v2/images/${id}/tags/${encodeURIComponent('with space')}`)).status, 204);
      assert.deepEqual((await server.current.request('demo', 'GET', `/v2/images/${id}`)).json()['tags'], ['with space']);
      assert.equal((await server.current.request('demo', 'PUT', `/v2/images/${id}/tags/${'t'.repeat(256)}`)).status, 400);
      assert.equal((await server.current.request('demo', 'DELETE', `/v2/images/${id}/tags/${encodeURIComponent('with space')}`)).status, 204);
      assert.equal((await server.current.request('demo', 'DELETE', `/v2/images/${id}/tags/nope`)).status, 404);
      assert.equal((await server.current.request('alt', 'PUT', `/v2/images/${id}/tags/x`)).status, 404);
    });

    it('refuses to delete a protected image, then deletes it once unprotected', async () => {
      const image = await createImage(server.current, 'demo', { protected: true });
      const id = String(image['id']);
      const refused = await server.current.request('demo', 'DELETE', `/v2/images/${id}`, { headers: JSON_ACCEPT });
      assert.equal(refused.status, 403);
      assert.match(errorMessage(refused), new RegExp(`Image ${id} is protected and cannot be deleted.`));
      await server.current.request('demo', 'PATCH', `/v2/images/${id}`, { headers: PATCH_V21, body: [{ op: 'replace', path: '/protected', value: false }] });
      assert.equal((await server.current.request('demo', 'DELETE', `/v2/images/${id}`)).status, 204);
      assert.equal((await server.current.request('demo', 'DELETE', `/v2/images/${id}`)).status, 404);
      const row = await server.current.db.selectFrom('images').select(['status', 'deleted', 'deleted_at']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'deleted');
      assert.equal(row.deleted, 1);
      assert.notEqual(row.deleted_at, null);
    });

    it('deactivates and reactivates an active image', async () => {
      const image = await createImage(server.current, 'demo');
      const id = String(image['id']);
      const queued = await server.current.request('demo', 'POST', `/v2/images/${id}/actions/deactivate`, { headers: JSON_ACCEPT });
      assert.equal(queued.status, 403);
      assert.match(errorMessage(queued), /Not allowed to deactivate image in status 'queued'/);
      await server.current.db.updateTable('images').set({ status: 'active' }).where('id', '=', id).execute();
      assert.equal((await server.current.request('demo', 'POST', `/v2/images/${id}/actions/deactivate`)).status, 204);
      assert.equal((await server.current.request('demo', 'GET', `/v2/images/${id}`)).json()['status'], 'deactivated');
      assert.equal((await server.current.request('demo', 'POST', `/v2/images/${id}/actions/deactivate`)).status, 204, 'no-op when already deactivated');
      assert.equal((await server.current.request('alt', 'POST', `/v2/images/${id}/actions/reactivate`)).status, 404);
      assert.equal((await server.current.request('demo', 'POST', `/v2/images/${id}/actions/reactivate`)).status, 204);
      assert.equal((await server.current.request('demo', 'GET', `/v2/images/${id}`)).json()['status'], 'active');
      assert.equal((await server.current.request('demo', 'POST', `/v2/images/${id}/actions/reactivate`)).status, 204, 'no-op when already active');
    });

    it('serves the schemas the validators use', async () => {
      const image = (await server.current.request('demo', 'GET', '/v2/schemas/image')).json<{
        name: string;
        properties: Record<string, { enum?: unknown[] }>;
        additionalProperties: unknown;
        links: unknown[];
      }>();
      assert.equal(image.name, 'image');
      assert.deepEqual(image.properties['disk_format']?.enum?.slice(0, 3), [null, 'ami', 'ari']);
      assert.deepEqual(image.additionalProperties, { type: 'string' });
      assert.equal(image.links.length, 3);
      const images = (await server.current.request('demo', 'GET', '/v2/schemas/images')).json<{ properties: { images: { items: { name: string } } } }>();
      assert.equal(images.properties.images.items.name, 'image');
      const member = (await server.current.request('demo', 'GET', '/v2/schemas/member')).json<{ properties: { status: { enum: string[] } } }>();
      assert.deepEqual(member.properties.status.enum, ['pending', 'accepted', 'rejected']);
      assert.equal((await server.current.request('demo', 'GET', '/v2/schemas/members')).json()['name'], 'members');
      assert.equal((await server.current.request('demo', 'POST', '/v2/schemas/image', { body: {} })).status, 405);
    });
  });
}
