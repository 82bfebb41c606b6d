import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

async function sharedImage(server: TestServer, visibility = 'shared'): Promise<string> {
  const reply = await server.request('demo', 'POST', '/v2/images', { body: { name: 'to-share', visibility } });
  assert.equal(reply.status, 201);
  return String(reply.json()['id']);
}

async function defaultListIds(server: TestServer, user: 'alt' | 'demo'): Promise<string[]> {
  return (await server.request(user, 'GET', '/v2/images')).json<{ images: { id: string }[] }>().images.map((i) => i.id);
}

for (const dialect of testDialects()) {
  describe(`image members on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it("share → visible in the member's list only after accept; reject hides it again", async () => {
      const s = server.current;
      const id = await sharedImage(s);
      const alt = await s.project('alt');
      assert.equal((await s.request('alt', 'GET', `/v2/images/${id}`)).status, 404);
      const added = await s.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: alt } });
      assert.equal(added.status, 200);
      const member = added.json();
      assert.equal(member['member_id'], alt);
      assert.equal(member['image_id'], id);
      assert.equal(member['status'], 'pending');
      assert.equal(member['schema'], '/v2/schemas/member');
      assert.ok(!(await defaultListIds(s, 'alt')).includes(id));
      assert.equal((await s.request('alt', 'GET', `/v2/images/${id}`)).status, 200, 'pending members can read it');

      const accepted = await s.request('alt', 'PUT', `/v2/images/${id}/members/${alt}`, { body: { status: 'accepted' } });
      assert.equal(accepted.status, 200);
      assert.equal(accepted.json()['status'], 'accepted');
      assert.ok((await defaultListIds(s, 'alt')).includes(id));

      assert.equal((await s.request('alt', 'PUT', `/v2/images/${id}/members/${alt}`, { body: { status: 'rejected' } })).status, 200);
      assert.ok(!(await defaultListIds(s, 'alt')).includes(id));

      const list = await s.request('demo', 'GET', `/v2/images/${id}/members`);
      assert.equal(list.status, 200);
      const body = list.json<{ members: { member_id: string; status: string }[]; schema: string }>();
      assert.deepEqual(
        body.members.map((m) => [m.member_id, m.status]),
        [[alt, 'rejected']],
      );
      assert.equal(body.schema, '/v2/schemas/members');
      assert.equal((await s.request('alt', 'GET', `/v2/images/${id}/members/${alt}`)).json()['status'], 'rejected');

      assert.equal((await s.request('demo', 'DELETE', `/v2/images/${id}/members/${alt}`)).status, 204);
      assert.equal((await s.request('alt', 'GET', `/v2/images/${id}`)).status, 404);
      assert.equal((await s.request('demo', 'DELETE', `/v2/images/${id}/members/${alt}`)).status, 404);
    });

    it("applies Glance's rules on who may do what", async () => {
      const s = server.current;
      const id = await sharedImage(s);
      const alt = await s.project('alt');
      const demo = await s.project('demo');
      assert.equal((await s.request('alt', 'POST', `/v2/images/${id}/members`, { body: { member: alt } })).status, 404, 'a stranger cannot see the image');
      await s.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: alt } });
      assert.equal((await s.request('alt', 'POST', `/v2/images/${id}/members`, { body: { member: 'x' } })).status, 403, 'a member cannot add members');
      assert.equal(
        (await s.request('demo', 'PUT', `/v2/images/${id}/members/${alt}`, { body: { status: 'accepted' } })).status,
        403,
        'the owner cannot accept for the member',
      );
      assert.equal((await s.request('alt', 'DELETE', `/v2/images/${id}/members/${alt}`)).status, 403, 'a member cannot remove itself');
      assert.equal((await s.request('alt', 'GET', `/v2/images/${id}/members/${demo}`)).status, 404);
      const dup = await s.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: alt } });
      assert.equal(dup.status, 409);
      assert.match(dup.text, new RegExp(`Member ${alt} is duplicated for image ${id}`));
      assert.equal((await s.request('admin', 'PUT', `/v2/images/${id}/members/${alt}`, { body: { status: 'accepted' } })).status, 200, 'an admin may');
      const memberView = (await s.request('alt', 'GET', `/v2/images/${id}/members`)).json<{ members: unknown[] }>();
      assert.equal(memberView.members.length, 1);
    });

    it('validates bodies', async () => {
      const s = server.current;
      const id = await sharedImage(s);
      const alt = await s.project('alt');
      for (const [body, message] of [
        [{}, 'Member to be added not specified'],
        [{ member: '' }, "Member can't be empty"],
        [{ member: 5 }, 'Expected a member'],
        [[1], 'Expected a member'],
      ] as const) {
        const reply = await s.request('demo', 'POST', `/v2/images/${id}/members`, { body, headers: { accept: 'application/json' } });
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.ok(reply.text.includes(message), reply.text);
      }
      await s.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: alt } });
      const bad = await s.request('alt', 'PUT', `/v2/images/${id}/members/${alt}`, { body: { status: 'maybe' }, headers: { accept: 'application/json' } });
      assert.equal(bad.status, 400);
      assert.ok(bad.json<{ message: string }>().message.includes('Status must be "pending", "accepted" or "rejected"'), bad.text);
      assert.equal((await s.request('alt', 'PUT', `/v2/images/${id}/members/${alt}`, { body: {} })).status, 400);
    });

    it('only shared images have members', async () => {
      const s = server.current;
      const id = await sharedImage(s, 'private');
      const reply = await s.request('demo', 'GET', `/v2/images/${id}/members`);
      assert.equal(reply.status, 403);
      assert.ok(reply.text.includes('Only shared images have members.'));
      assert.equal((await s.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: 'x' } })).status, 403);
    });

    it('enforces image_member_quota with 413', async () => {
      const tight = await import('../support/test-server.js').then((m) => m.startTestServer(dialect, { imageMemberQuota: 1 }));
      try {
        const id = await sharedImage(tight);
        assert.equal((await tight.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: 'p1' } })).status, 200);
        const over = await tight.request('demo', 'POST', `/v2/images/${id}/members`, { body: { member: 'p2' } });
        assert.equal(over.status, 413);
        assert.ok(over.text.includes('Image member limit exceeded'));
      } finally {
        await tight.close();
      }
    });
  });
}
