import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer, type TestUser } from '../support/test-server.js';

interface ListBody {
  images: { id: string; name: string; size: number | null }[];
  first: string;
  next?: string;
  schema: string;
}

async function create(server: TestServer, user: TestUser, body: Record<string, unknown>): Promise<string> {
  const reply = await server.request(user, 'POST', '/v2/images', { body: { disk_format: 'raw', container_format: 'bare', ...body } });
  assert.equal(reply.status, 201, reply.text);
  return String(reply.json()['id']);
}

async function names(server: TestServer, user: TestUser, query: string): Promise<string[]> {
  const reply = await server.request(user, 'GET', `/v2/images${query}`);
  assert.equal(reply.status, 200, `${query}: ${reply.text}`);
  return reply.json<ListBody>().images.map((i) => i.name);
}

for (const dialect of testDialects()) {
  describe(`image list on ${dialect}`, () => {
    const server = useTestServer(dialect);
    const ids: Record<string, string> = {};

    before(async () => {
      const s = server.current;
      ids['pub'] = await create(s, 'admin', { name: 'pub', visibility: 'public', os_distro: 'debian', tags: ['gold', 'x86'] });
      ids['demo-private'] = await create(s, 'demo', { name: 'demo-private', visibility: 'private', os_distro: 'debian', tags: ['gold'] });
      ids['demo-shared'] = await create(s, 'demo', { name: 'demo-shared', visibility: 'shared', os_distro: 'ubuntu' });
      ids['demo-community'] = await create(s, 'demo', { name: 'demo-community', visibility: 'community' });
      ids['demo-hidden'] = await create(s, 'demo', { name: 'demo-hidden', os_hidden: true });
      ids['alt-private'] = await create(s, 'alt', { name: 'alt-private', visibility: 'private' });
      ids['alt-community'] = await create(s, 'alt', { name: 'alt-community', visibility: 'community' });
      ids['alt-accepted'] = await create(s, 'alt', { name: 'alt-accepted', visibility: 'shared' });
      ids['alt-pending'] = await create(s, 'alt', { name: 'alt-pending', visibility: 'shared' });
      ids['alt-rejected'] = await create(s, 'alt', { name: 'alt-rejected', visibility: 'shared' });
      const demo = await s.project('demo');
      for (const key of ['alt-accepted', 'alt-pending', 'alt-rejected']) {
        const added = await s.request('alt', 'POST', `/v2/images/${ids[key] ?? ''}/members`, { body: { member: demo } });
        assert.equal(added.status, 200, added.text);
      }
      for (const [key, status] of [
        ['alt-accepted', 'accepted'],
        ['alt-rejected', 'rejected'],
      ] as const) {
        const reply = await s.request('demo', 'PUT', `/v2/images/${ids[key] ?? ''}/members/${demo}`, { body: { status } });
        assert.equal(reply.status, 200, reply.text);
      }
      // Sizes and a killed image for the size and status filters.
      await s.db
        .updateTable('images')
        .set({ size: 100, status: 'active' })
        .where('id', '=', ids['pub'] ?? '')
        .execute();
      await s.db
        .updateTable('images')
        .set({ size: 300, status: 'active' })
        .where('id', '=', ids['demo-private'] ?? '')
        .execute();
      ids['killed'] = await create(s, 'demo', { name: 'killed' });
      await s.db
        .updateTable('images')
        .set({ status: 'killed' })
        .where('id', '=', ids['killed'] ?? '')
        .execute();
    });

    it('default list: public, own (any visibility), accepted shares; not hidden, not killed', async () => {
      const got = new Set(await names(server.current, 'demo', ''));
      assert.deepEqual(got, new Set(['pub', 'demo-private', 'demo-shared', 'demo-community', 'alt-accepted']));
    });

    it('newest first by default, with first and schema links', async () => {
      const reply = (await server.current.request('demo', 'GET', '/v2/images')).json<ListBody>();
      assert.deepEqual(
        reply.images.map((i) => i.name),
        ['alt-accepted', 'demo-community', 'demo-shared', 'demo-private', 'pub'],
      );
      assert.equal(reply.first, '/v2/images');
      assert.equal(reply.schema, '/v2/schemas/images');
      assert.equal(reply.next, undefined);
    });

    it('visibility filters stay inside what the caller may see', async () => {
      assert.deepEqual(new Set(await names(server.current, 'demo', '?visibility=community')), new Set(['demo-community', 'alt-community']));
      assert.deepEqual(await names(server.current, 'demo', '?visibility=private'), ['demo-private']);
      assert.deepEqual(
        new Set(await names(server.current, 'demo', '?visibility=all')),
        new Set(['pub', 'demo-private', 'demo-shared', 'demo-community', 'alt-community', 'alt-accepted']),
      );
      assert.deepEqual(new Set(await names(server.current, 'demo', '?visibility=shared')), new Set(['demo-shared', 'alt-accepted']));
      const admin = await names(server.current, 'admin', '?visibility=all');
      assert.ok(admin.includes('alt-private') && admin.includes('demo-private'));
      assert.ok(!(await names(server.current, 'admin', '')).includes('alt-community'), "admins also skip others' community images by default");
    });

    it('member_status picks which shares appear', async () => {
      // The caller's own shared images are in every branch of the union (reference §2.4).
      assert.deepEqual(new Set(await names(server.current, 'demo', '?visibility=shared&member_status=pending')), new Set(['alt-pending', 'demo-shared']));
      assert.deepEqual(new Set(await names(server.current, 'demo', '?visibility=shared&member_status=rejected')), new Set(['alt-rejected', 'demo-shared']));
      assert.deepEqual(
        new Set(await names(server.current, 'demo', '?visibility=shared&member_status=all')),
        new Set(['demo-shared', 'alt-accepted', 'alt-pending', 'alt-rejected']),
      );
    });

    it('pending and rejected members can still read the image', async () => {
      for (const key of ['alt-pending', 'alt-rejected']) {
        assert.equal((await server.current.request('demo', 'GET', `/v2/images/${ids[key] ?? ''}`)).status, 200);
      }
    });

    it('os_hidden=true lists only hidden images', async () => {
      assert.deepEqual(await names(server.current, 'demo', '?os_hidden=true'), ['demo-hidden']);
    });

    it('filters by property, tag, name, status, size and owner', async () => {
      assert.deepEqual(new Set(await names(server.current, 'demo', '?os_distro=debian')), new Set(['pub', 'demo-private']));
      assert.deepEqual(await names(server.current, 'demo', '?tag=gold&tag=x86'), ['pub']);
      assert.deepEqual(new Set(await names(server.current, 'demo', '?tag=gold')), new Set(['pub', 'demo-private']));
      assert.deepEqual(new Set(await names(server.current, 'demo', '?name=in:pub,demo-shared')), new Set(['pub', 'demo-shared']));
      assert.deepEqual(await names(server.current, 'demo', '?name=eq:pub'), ['pub']);
      assert.deepEqual(new Set(await names(server.current, 'demo', '?status=active')), new Set(['pub', 'demo-private']));
      assert.deepEqual(await names(server.current, 'demo', '?size_min=200'), ['demo-private']);
      assert.deepEqual(await names(server.current, 'demo', '?size_max=200'), ['pub']);
      assert.deepEqual(await names(server.current, 'demo', '?size_min=100&size_max=100'), ['pub']);
      assert.deepEqual(await names(server.current, 'demo', '?status=killed'), []);
      const alt = await server.current.project('alt');
      assert.deepEqual(await names(server.current, 'demo', `?owner=${alt}`), ['alt-accepted']);
      assert.deepEqual(await names(server.current, 'demo', '?protected=true'), []);
      assert.equal((await names(server.current, 'demo', '?protected=false')).length, 5);
    });

    it('filters on created_at and updated_at with operators', async () => {
      const future = '2999-01-01T00:00:00Z';
      assert.equal((await names(server.current, 'demo', `?created_at=lt:${future}`)).length, 5);
      assert.deepEqual(await names(server.current, 'demo', `?created_at=gt:${future}`), []);
      assert.equal((await names(server.current, 'demo', `?updated_at=neq:${future}`)).length, 5);
      const pub = (await server.current.request('demo', 'GET', `/v2/images/${ids['pub'] ?? ''}`)).json();
      assert.ok((await names(server.current, 'demo', `?created_at=eq:${String(pub['created_at'])}`)).includes('pub'));
      assert.ok((await names(server.current, 'demo', `?created_at=gte:${String(pub['created_at'])}`)).includes('pub'));
      assert.ok(!(await names(server.current, 'demo', `?created_at=gt:${String(pub['created_at'])}`)).includes('pub'));
    });

    it('sorts by any allowed key, both syntaxes', async () => {
      assert.deepEqual(await names(server.current, 'demo', '?sort_key=name&sort_dir=asc'), [
        'alt-accepted',
        'demo-community',
        'demo-private',
        'demo-shared',
        'pub',
      ]);
      assert.deepEqual(await names(server.current, 'demo', '?sort=name:desc'), ['pub', 'demo-shared', 'demo-private', 'demo-community', 'alt-accepted']);
      const bySize = await names(server.current, 'demo', '?sort=size:desc,name:asc');
      assert.deepEqual(bySize.slice(0, 2), ['demo-private', 'pub']);
      assert.deepEqual(await names(server.current, 'demo', '?sort_key=created_at&sort_dir=asc'), [
        'pub',
        'demo-private',
        'demo-shared',
        'demo-community',
        'alt-accepted',
      ]);
    });

    it('pages with limit and marker, with a next link that carries the query', async () => {
      const all = await names(server.current, 'demo', '?sort=name:asc');
      const seen: string[] = [];
      let path: string | undefined = '/v2/images?sort=name%3Aasc&limit=2';
      let pages = 0;
      while (path !== undefined) {
        const reply: ListBody = (await server.current.request('demo', 'GET', path)).json<ListBody>();
        seen.push(...reply.images.map((i) => i.name));
        assert.ok(reply.first.startsWith('/v2/images?') && !reply.first.includes('marker'));
        path = reply.next;
        if (path !== undefined) assert.match(path, /limit=2/);
        pages += 1;
        assert.ok(pages < 10);
      }
      assert.deepEqual(seen, all);
      // A full last page yields a next link to an empty page (reference §2.4).
      assert.equal(pages, 3);
      assert.deepEqual(await names(server.current, 'demo', '?limit=0'), []);
    });

    it("refuses bad parameters with Glance's 400s", async () => {
      for (const query of [
        '?limit=abc',
        '?limit=-2',
        '?sort_key=owner',
        '?sort_dir=sideways',
        '?sort=name&sort_key=id',
        '?visibility=world',
        '?member_status=maybe',
        '?os_hidden=perhaps',
        '?size_min=big',
        '?created_at=lt:yesterday',
        '?created_at=near:2020-01-01T00:00:00Z',
        '?name=like:x',
        '?changes-since=2020-01-01',
        '?marker=00000000-0000-0000-0000-000000000000',
        '?name=in:"a',
      ]) {
        const reply = await server.current.request('demo', 'GET', `/v2/images${query}`);
        assert.equal(reply.status, 400, `${query}: ${reply.text}`);
      }
      const hidden = await server.current.request('demo', 'GET', `/v2/images?marker=${ids['alt-private'] ?? ''}`);
      assert.equal(hidden.status, 403);
    });

    it('caps the limit at api_limit_max', async () => {
      const reply = await server.current.request('admin', 'GET', '/v2/images?limit=100000&visibility=all');
      assert.equal(reply.status, 200);
    });
  });
}
