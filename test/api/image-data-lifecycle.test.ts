import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer, type TestUser } from '../support/test-server.js';

const OCTET = { 'content-type': 'application/octet-stream' };
const FAILURE = 'os_glimpse_upload_failure';

async function queuedImage(server: TestServer, user: TestUser = 'demo'): Promise<string> {
  const reply = await server.request(user, 'POST', '/v2/images', { body: { name: 'data', disk_format: 'raw', container_format: 'bare' } });
  assert.equal(reply.status, 201, reply.text);
  return String(reply.json()['id']);
}

async function show(server: TestServer, id: string, user: TestUser = 'demo'): Promise<Record<string, unknown>> {
  const reply = await server.request(user, 'GET', `/v2/images/${id}`);
  assert.equal(reply.status, 200, reply.text);
  return reply.json();
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** A PUT whose body arrives in pieces over `ms` milliseconds, with no Content-Length (chunked). */
async function slowChunkedUpload(server: TestServer, id: string, token: string, pieces: readonly Buffer[], ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${server.url}/v2/images/${id}/file`, { method: 'PUT', headers: { ...OCTET, 'x-auth-token': token } }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    let i = 0;
    const next = (): void => {
      const piece = pieces[i];
      i += 1;
      if (piece === undefined) {
        req.end();
        return;
      }
      req.write(piece);
      setTimeout(next, ms / pieces.length);
    };
    next();
  });
}

for (const dialect of testDialects()) {
  describe(`user_storage_quota and upload failure notes on ${dialect}`, () => {
    const server = useTestServer(dialect, { userStorageQuota: 1000 });

    it('refuses an upload over the owner quota by Content-Length or while streaming, and says why on the image', async () => {
      const s = server.current;
      const first = await queuedImage(s);
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${first}/file`, { rawBody: randomBytes(600), headers: OCTET })).status, 204);
      const second = await queuedImage(s);
      const declared = await s.request('demo', 'PUT', `/v2/images/${second}/file`, { rawBody: randomBytes(600), headers: OCTET });
      assert.equal(declared.status, 413);
      assert.match(declared.text, /Image exceeds the storage quota: The size of the data 600 will exceed the limit\. 400 bytes remaining\./);
      const noted = await show(s, second);
      assert.equal(noted['status'], 'queued');
      assert.match(String(noted[FAILURE]), /QUOTA_EXCEEDED: Image exceeds the storage quota/);

      const streamed = await slowChunkedUpload(s, second, await s.token('demo'), [randomBytes(300), randomBytes(300)], 50);
      assert.equal(streamed, 413);
      assert.equal((await show(s, second))['status'], 'queued');
      assert.deepEqual(files(`${s.dataDir}/images`), [first], 'only the first image has bytes');

      // Another project has its own quota.
      const alts = await queuedImage(s, 'alt');
      assert.equal((await s.request('alt', 'PUT', `/v2/images/${alts}/file`, { rawBody: randomBytes(900), headers: OCTET })).status, 204);

      // Within the quota the retry succeeds and the failure note goes away.
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${second}/file`, { rawBody: randomBytes(400), headers: OCTET })).status, 204);
      const done = await show(s, second);
      assert.equal(done['status'], 'active');
      assert.equal(done[FAILURE], undefined);
    });

    it('the failure note is read-only to users', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      const create = await s.request('demo', 'POST', '/v2/images', { body: { name: 'x', [FAILURE]: 'forged' } });
      assert.equal(create.status, 403);
      const patch = await s.request('demo', 'PATCH', `/v2/images/${id}`, {
        rawBody: JSON.stringify([{ op: 'add', path: `/${FAILURE}`, value: 'forged' }]),
        headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      });
      assert.equal(patch.status, 403);
      assert.match(patch.text, /is reserved/);
    });
  });

  describe(`upload failures leave nothing behind on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it('an image deleted during its upload: 410, and the bytes are removed', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      const token = await s.token('demo');
      const pieces = Array.from({ length: 10 }, () => randomBytes(64 * 1024));
      const upload = slowChunkedUpload(s, id, token, pieces, 1000);
      for (let i = 0; i < 100 && (await show(s, id))['status'] !== 'saving'; i += 1) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await s.request('demo', 'DELETE', `/v2/images/${id}`)).status, 204);
      assert.equal(await upload, 410);
      assert.deepEqual(
        files(`${s.dataDir}/images`).filter((f) => f.startsWith(id)),
        [],
      );
      assert.equal((await s.db.selectFrom('image_locations').select('url').where('image_id', '=', id).execute()).length, 0);
    });

    it('a store that fails mid-write: 503, image queued with the reason, nothing left', async () => {
      const s = server.current;
      const store = `${s.dataDir}/images`;
      const id = await queuedImage(s);
      // The store directory becomes a plain file: every write into it fails (ENOTDIR), even as root.
      const { renameSync, rmSync } = await import('node:fs');
      renameSync(store, `${store}.away`);
      writeFileSync(store, 'not a directory');
      try {
        const reply = await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: randomBytes(1000), headers: OCTET });
        assert.equal(reply.status, 503, reply.text);
        const image = await show(s, id);
        assert.equal(image['status'], 'queued');
        assert.match(String(image[FAILURE]), /SERVICE_UNAVAILABLE: The file store failed/);
      } finally {
        rmSync(store);
        renameSync(`${store}.away`, store);
      }
      assert.deepEqual(
        files(store).filter((f) => f.startsWith(id)),
        [],
      );
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: randomBytes(10), headers: OCTET })).status, 204);
    });
  });

  describe(`delayed_delete and the scrubber on ${dialect}`, () => {
    const server = useTestServer(dialect, { scrubber: { delayedDelete: true, scrubTimeSeconds: 0, poolSize: 2, wakeupSeconds: 300 } });

    it('delete hides the image at once, keeps the bytes until the scrubber runs', async () => {
      const s = server.current;
      const store = `${s.dataDir}/images`;
      const ids = [await queuedImage(s), await queuedImage(s), await queuedImage(s)];
      for (const id of ids) assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: randomBytes(64), headers: OCTET })).status, 204);
      for (const id of ids) assert.equal((await s.request('demo', 'DELETE', `/v2/images/${id}`)).status, 204);
      for (const id of ids) assert.equal((await s.request('demo', 'GET', `/v2/images/${id}`)).status, 404);
      assert.deepEqual(files(store).sort(), [...ids].sort(), 'bytes wait for the scrubber');
      const rows = await s.db.selectFrom('images').select(['id', 'status', 'deleted']).where('id', 'in', ids).execute();
      assert.ok(rows.every((r) => r.status === 'pending_delete' && r.deleted === 1));

      const [keep, ...scrub] = ids as [string, string, string];
      await s.scrubber.restore(keep);
      const restored = await show(s, keep);
      assert.equal(restored['status'], 'active');
      const back = await fetch(`${s.url}/v2/images/${keep}/file`, { headers: { 'x-auth-token': await s.token('demo') } });
      assert.equal(back.status, 200);
      assert.equal((await back.arrayBuffer()).byteLength, 64);

      const report = await s.scrubber.scrubOnce();
      assert.deepEqual([...report.scrubbed].sort(), [...scrub].sort());
      assert.deepEqual(files(store), [keep]);
      const after = await s.db.selectFrom('images').select(['id', 'status']).where('id', 'in', scrub).execute();
      assert.ok(after.every((r) => r.status === 'deleted'));
      await assert.rejects(s.scrubber.restore(scrub[0]), /cannot restore the image from deleted to active/);
    });
  });

  describe(`crash recovery pass on ${dialect}`, () => {
    const server = useTestServer(dialect);

    it('requeues images left in saving and removes temp files and unrecorded data', async () => {
      const s = server.current;
      const store = `${s.dataDir}/images`;
      const kept = await queuedImage(s);
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${kept}/file`, { rawBody: randomBytes(10), headers: OCTET })).status, 204);
      // What a SIGKILL mid-upload leaves: a status of saving, a temp file, or a published file
      // whose location the database never recorded.
      const interrupted = await queuedImage(s);
      const published = await queuedImage(s);
      await s.db.updateTable('images').set({ status: 'saving' }).where('id', 'in', [interrupted, published]).execute();
      writeFileSync(`${store}/${interrupted}.tmp-0123456789abcdef`, randomBytes(100));
      writeFileSync(`${store}/${published}`, randomBytes(100));
      const check = await s.recovery.run({ requeue: false, remove: false });
      assert.equal(check.orphans.length, 2);
      assert.deepEqual(await s.recovery.findLostData(), []);

      const report = await s.recovery.run({ requeue: true, remove: true });
      assert.deepEqual([...report.requeued].sort(), [interrupted, published].sort());
      assert.equal(report.removed, 2);
      assert.deepEqual(files(store), [kept]);
      for (const id of [interrupted, published]) {
        const image = await show(s, id);
        assert.equal(image['status'], 'queued');
        assert.match(String(image[FAILURE]), /INTERRUPTED/);
        assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: randomBytes(10), headers: OCTET })).status, 204, 'usable again');
      }
      writeFileSync(`${store}/${kept}`, '');
      await s.db.deleteFrom('image_locations').where('image_id', '=', kept).execute();
      await s.db
        .insertInto('image_locations')
        .values({ image_id: kept, store_id: 'file', url: `file://${store}/missing`, created_at: new Date().toISOString() })
        .execute();
      const lost = await s.recovery.findLostData();
      assert.deepEqual(
        lost.map((l) => l.imageId),
        [kept],
      );
    });
  });

  describe(`long uploads outlive the token on ${dialect}`, () => {
    const server = useTestServer(dialect, {}, { tokenExpirationSeconds: 2 });

    it('an upload that starts with a valid token finishes after the token expires', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      const token = await s.token('demo');
      const pieces = Array.from({ length: 8 }, () => randomBytes(1024));
      const status = await slowChunkedUpload(s, id, token, pieces, 3500);
      assert.equal(status, 204);
      const expired = await fetch(`${s.url}/v2/images/${id}`, { headers: { 'x-auth-token': token } });
      assert.equal(expired.status, 401, 'the token has expired by now');
      const admin = await s.request('admin', 'GET', `/v2/images/${id}`);
      assert.equal(admin.json()['status'], 'active');
      assert.equal(admin.json()['size'], 8 * 1024);
    });
  });
}

describe('multi-store (enabled_backends)', () => {
  const dir = `/tmp/glimpse-multistore-${process.pid}`;
  const backends = ['fast', 'cheap'].map((id) => ({
    id,
    type: 'file' as const,
    description: id === 'fast' ? 'Fast disks' : null,
    datadir: `${dir}/${id}`,
    filePerm: 0,
    durable: false,
    directIo: true,
  }));
  const server = useTestServer('sqlite', { stores: { multiStore: true, defaultBackend: 'fast', backends } });

  it('lists the stores, uploads where X-Image-Meta-Store says, and shows `stores`', async () => {
    const s = server.current;
    const info = await s.request('demo', 'GET', '/v2/info/stores');
    assert.equal(info.status, 200);
    assert.deepEqual(info.json(), { stores: [{ id: 'fast', description: 'Fast disks', default: 'true' }, { id: 'cheap' }] });
    assert.equal((await s.request('demo', 'GET', '/v2/info/stores/detail')).status, 403);
    const detail = await s.request('admin', 'GET', '/v2/info/stores/detail');
    assert.equal(detail.json<{ stores: { type: string }[] }>().stores[0]?.type, 'file');

    const created = await s.request('demo', 'POST', '/v2/images', { body: { name: 'm', disk_format: 'raw', container_format: 'bare' } });
    assert.equal(created.headers.get('openstack-image-store-ids'), 'fast,cheap');
    const onDefault = String(created.json()['id']);
    const onCheap = await queuedImage(s);
    assert.equal((await s.request('demo', 'PUT', `/v2/images/${onDefault}/file`, { rawBody: 'a', headers: OCTET })).status, 204);
    const unknown = await s.request('demo', 'PUT', `/v2/images/${onCheap}/file`, { rawBody: 'b', headers: { ...OCTET, 'x-image-meta-store': 'nowhere' } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /Unknown scheme 'nowhere'/);
    assert.equal(
      (await s.request('demo', 'PUT', `/v2/images/${onCheap}/file`, { rawBody: 'b', headers: { ...OCTET, 'x-image-meta-store': 'cheap' } })).status,
      204,
    );
    assert.deepEqual(files(`${dir}/fast`), [onDefault]);
    assert.deepEqual(files(`${dir}/cheap`), [onCheap]);
    assert.equal((await show(s, onDefault))['stores'], 'fast');
    assert.equal((await show(s, onCheap))['stores'], 'cheap');
    const listed = (await s.request('demo', 'GET', '/v2/images')).json<{ images: Record<string, unknown>[] }>().images;
    assert.equal(listed.find((i) => i['id'] === onCheap)?.['stores'], 'cheap');
    const got = await fetch(`${s.url}/v2/images/${onCheap}/file`, { headers: { 'x-auth-token': await s.token('demo') } });
    assert.equal(await got.text(), 'b');
    assert.equal((await s.request('demo', 'DELETE', `/v2/images/${onCheap}`)).status, 204);
    assert.deepEqual(files(`${dir}/cheap`), []);
  });
});

describe('single store', () => {
  const server = useTestServer('sqlite');

  it('has no /v2/info/stores, no store-ids header and no `stores` field', async () => {
    const s = server.current;
    const info = await s.request('demo', 'GET', '/v2/info/stores');
    assert.equal(info.status, 404);
    assert.match(info.text, /Multi backend is not supported at this site/);
    const created = await s.request('demo', 'POST', '/v2/images', { body: { name: 's', disk_format: 'raw', container_format: 'bare' } });
    assert.equal(created.headers.get('openstack-image-store-ids'), null);
    const id = String(created.json()['id']);
    assert.equal(
      (await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: 'x', headers: { ...OCTET, 'x-image-meta-store': 'ignored' } })).status,
      204,
    );
    assert.equal((await show(s, id))['stores'], undefined);
    assert.deepEqual((await s.request('demo', 'GET', '/v2/info/usage')).json(), { usage: {} });
  });
});

describe('hashing_threads = 0 (hashing on the event loop)', () => {
  const server = useTestServer('sqlite', { hashingThreads: 0 });

  it('gives the same checksum and os_hash_value as the default worker-thread hashing', async () => {
    const s = server.current;
    const id = await queuedImage(s);
    const data = randomBytes(5 * 1024 * 1024 + 3);
    assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: OCTET })).status, 204);
    const image = await show(s, id);
    assert.equal(image['checksum'], createHash('md5').update(data).digest('hex'));
    assert.equal(image['os_hash_value'], createHash('sha512').update(data).digest('hex'));
  });
});
