import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_URL_FILTER_SETTINGS } from '../../src/fetching/url-filter-settings.js';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

/**
 * Import into several stores (reference §9.3 step 7, §9.4): `stores`, `all_stores`,
 * `X-Image-Meta-Store`, and copy-image (admin-only by default), which copies an active image into
 * more stores without changing its status, byte for byte. Two file stores.
 */
const bytes = randomBytes(1024 * 1024 + 5);
const md5 = createHash('md5').update(bytes).digest('hex');
let origin: Server;
let port = 0;
const root = mkdtempSync(join(tmpdir(), 'glimpse-import-stores-'));

before(async () => {
  origin = createServer((_request, response) => {
    response.writeHead(200, { 'content-length': bytes.length });
    response.end(bytes);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  port = (origin.address() as AddressInfo).port;
});
after(() => {
  origin.close();
  rmSync(root, { recursive: true, force: true });
});

type Answer = Awaited<ReturnType<TestServer['request']>>;

async function lastTask(s: TestServer, id: string, count: number): Promise<{ status: string; message: string }> {
  for (let waited = 0; waited < 20_000; waited += 50) {
    const tasks = (await s.request('admin', 'GET', `/v2/images/${id}/tasks`)).json<{ tasks: { status: string; message: string }[] }>().tasks;
    const task = tasks[count - 1];
    if (task !== undefined && (task.status === 'success' || task.status === 'failure')) return task;
    await sleep(50);
  }
  throw new Error(`task ${count} of ${id} did not finish`);
}

for (const dialect of testDialects()) {
  describe(`import into several stores on ${dialect}`, () => {
    const dir = join(root, dialect);
    const backends = ['fast', 'cheap'].map((id) => ({
      id,
      type: 'file' as const,
      description: null,
      datadir: `${dir}/${id}`,
      filePerm: 0,
      durable: false,
      directIo: true,
    }));
    const server = useTestServer(dialect, {
      stores: { multiStore: true, defaultBackend: 'fast', backends },
      imports: { urlFilter: { ...DEFAULT_URL_FILTER_SETTINGS, allowedHosts: ['127.0.0.1'], allowedPorts: [] } },
    });
    const uri = (): string => `http://127.0.0.1:${port}/image.raw`;
    const create = async (s: TestServer): Promise<string> =>
      (await s.request('demo', 'POST', '/v2/images', { body: { name: 'multi', disk_format: 'raw', container_format: 'bare' } })).json<{ id: string }>().id;
    const post = (s: TestServer, user: 'demo' | 'admin', id: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
      s.request(user, 'POST', `/v2/images/${id}/import`, { body, headers });
    const stores = async (s: TestServer, id: string): Promise<string> => String((await s.request('demo', 'GET', `/v2/images/${id}`)).json()['stores']);

    it('web-download into the stores asked for, or into every store', async () => {
      const s = server.current;
      const one = await create(s);
      assert.equal((await post(s, 'demo', one, { method: { name: 'web-download', uri: uri() } }, { 'x-image-meta-store': 'cheap' })).status, 202);
      assert.equal((await lastTask(s, one, 1)).status, 'success');
      assert.equal(await stores(s, one), 'cheap');
      const every = await create(s);
      assert.equal((await post(s, 'demo', every, { method: { name: 'web-download', uri: uri() }, all_stores: true })).status, 202);
      assert.equal((await lastTask(s, every, 1)).status, 'success');
      assert.equal(await stores(s, every), 'fast,cheap');
      const image = (await s.request('demo', 'GET', `/v2/images/${every}`)).json();
      assert.equal(image['checksum'], md5);
      assert.equal(image['os_glance_importing_to_stores'], '');
    });

    it("DELETE /v2/stores/{store}/{id} removes one copy, with Glance's refusals in Glance's order", async () => {
      const s = server.current;
      const id = await create(s);
      assert.equal((await post(s, 'demo', id, { method: { name: 'web-download', uri: uri() }, all_stores: true })).status, 202);
      assert.equal((await lastTask(s, id, 1)).status, 'success');
      const remove = (user: 'demo' | 'alt' | 'admin', store: string, image = id): Promise<Answer> => s.request(user, 'DELETE', `/v2/stores/${store}/${image}`);
      const refusals: [Answer, number, RegExp][] = [
        [await remove('admin', 'nowhere'), 409, /The selected store nowhere is not available on this node/],
        [await remove('admin', 'cheap', '00000000-0000-4000-8000-000000000000'), 404, /Failed to find image 00000000-0000-4000-8000-000000000000/],
        // Another project's user may not even see the private image.
        [await remove('alt', 'cheap'), 404, /Failed to find image/],
        [await remove('demo', 'cheap', await create(s)), 409, /not allowed to remove image data from store if image status is not 'active'/],
      ];
      for (const [answer, status, message] of refusals) {
        assert.equal(answer.status, status, answer.text);
        assert.match(answer.text, message);
      }
      assert.deepEqual(
        readdirSync(`${dir}/cheap`).filter((f) => f === id),
        [id],
      );
      // The owner may, in the legacy policy mode (delete_image_location: rule:default).
      assert.equal((await remove('demo', 'cheap')).status, 204);
      assert.equal(await stores(s, id), 'fast');
      assert.deepEqual(
        readdirSync(`${dir}/cheap`).filter((f) => f === id),
        [],
        'the copy is gone from the store',
      );
      const only = await remove('demo', 'fast');
      assert.equal(only.status, 403);
      assert.match(only.text, /Cannot delete image data from the only store containing it/);
      assert.equal((await s.request('demo', 'GET', `/v2/images/${id}`)).json()['status'], 'active');
    });

    it('refuses conflicting store choices and unknown stores', async () => {
      const s = server.current;
      const id = await create(s);
      const cases: [unknown, Record<string, string>, number, RegExp][] = [
        [{ method: { name: 'web-download', uri: uri() }, all_stores: true, stores: ['fast'] }, {}, 400, /All_stores parameter can't be used/],
        [
          { method: { name: 'web-download', uri: uri() }, stores: ['fast'] },
          { 'x-image-meta-store': 'cheap' },
          400,
          /Stores parameter and x-image-meta-store header can't be both specified/,
        ],
        [{ method: { name: 'web-download', uri: uri() }, stores: ['nowhere'] }, {}, 409, /Unknown scheme 'nowhere'/],
      ];
      for (const [body, headers, status, message] of cases) {
        const answer = await post(s, 'demo', id, body, headers);
        assert.equal(answer.status, status, answer.text);
        assert.match(answer.text, message);
      }
    });

    it('copy-image copies an active image into another store, admin only, keeping it active and byte-identical', async () => {
      const s = server.current;
      const id = await create(s);
      const uploaded = await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: bytes, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(uploaded.status, 204);
      assert.equal(await stores(s, id), 'fast');
      const byOwner = await post(s, 'demo', id, { method: { name: 'copy-image' }, stores: ['cheap'] });
      assert.equal(byOwner.status, 403, 'copy_image is role:admin');
      const present = await post(s, 'admin', id, { method: { name: 'copy-image' }, stores: ['fast'] });
      assert.equal(present.status, 400);
      assert.match(present.text, /Image is already present at store 'fast'/);
      const queued = await create(s);
      const notActive = await post(s, 'admin', queued, { method: { name: 'copy-image' }, stores: ['cheap'] });
      assert.equal(notActive.status, 409);
      assert.match(notActive.text, /Only images with status active can be targeted for copying/);

      assert.equal((await post(s, 'admin', id, { method: { name: 'copy-image' }, stores: ['cheap'] })).status, 202);
      const task = await lastTask(s, id, 1);
      assert.equal(task.status, 'success', task.message);
      assert.equal(await stores(s, id), 'fast,cheap');
      const image = (await s.request('demo', 'GET', `/v2/images/${id}`)).json();
      assert.equal(image['status'], 'active');
      assert.equal(image['checksum'], md5);
      // The copy itself holds the same bytes: the file in the second store.
      const copies = readdirSync(`${dir}/cheap`).filter((f) => f === id);
      assert.deepEqual(copies, [id]);
      // Every store holds it now: all_stores has nothing to do and answers 202.
      assert.equal((await post(s, 'admin', id, { method: { name: 'copy-image' }, all_stores: true })).status, 202);
      await sleep(200);
      const tasks = (await s.request('admin', 'GET', `/v2/images/${id}/tasks`)).json<{ tasks: unknown[] }>().tasks;
      assert.equal(tasks.length, 1, 'no task for a copy with nothing to do');
      assert.deepEqual(readdirSync(`${s.dataDir}/staging`), []);
    });
  });
}
