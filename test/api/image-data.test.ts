import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

const OCTET = { 'content-type': 'application/octet-stream' };

async function queuedImage(server: TestServer, body: Record<string, unknown> = {}): Promise<string> {
  const reply = await server.request('demo', 'POST', '/v2/images', { body: { name: 'data', disk_format: 'raw', container_format: 'bare', ...body } });
  assert.equal(reply.status, 201, reply.text);
  return String(reply.json()['id']);
}

async function download(server: TestServer, id: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const response = await fetch(`${server.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': await server.token('demo'), ...headers } });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

async function status(server: TestServer, id: string): Promise<unknown> {
  return (await server.request('demo', 'GET', `/v2/images/${id}`)).json()['status'];
}

function storeFiles(server: TestServer): string[] {
  return readdirSync(`${server.dataDir}/images`);
}

for (const dialect of testDialects()) {
  describe(`image data on ${dialect}`, () => {
    const server = useTestServer(dialect, { imageSizeCap: 4 * 1024 * 1024 });

    it('uploads, then downloads the same bytes with size, checksum and sha512', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      assert.equal((await download(s, id)).status, 204, 'no data yet');
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const put = await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: OCTET });
      assert.equal(put.status, 204, put.text);
      const image = (await s.request('demo', 'GET', `/v2/images/${id}`)).json();
      assert.equal(image['status'], 'active');
      assert.equal(image['size'], data.length);
      assert.equal(image['checksum'], createHash('md5').update(data).digest('hex'));
      assert.equal(image['os_hash_algo'], 'sha512');
      assert.equal(image['os_hash_value'], createHash('sha512').update(data).digest('hex'));
      const got = await download(s, id);
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-length'), String(data.length));
      assert.equal(got.headers.get('content-md5'), image['checksum']);
      assert.ok(got.bytes.equals(data));
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: OCTET })).status, 409, 'a second upload is refused');
    });

    it('serves single byte ranges and refuses bad ones', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      const data = randomBytes(1000);
      await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: data, headers: OCTET });
      const part = await download(s, id, { range: 'bytes=10-19' });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), 'bytes 10-19/1000');
      assert.ok(part.bytes.equals(data.subarray(10, 20)));
      const suffix = await download(s, id, { range: 'bytes=-5' });
      assert.ok(suffix.bytes.equals(data.subarray(995)));
      const open = await download(s, id, { range: 'bytes=990-' });
      assert.ok(open.bytes.equals(data.subarray(990)));
      assert.equal((await download(s, id, { range: 'bytes=1000-' })).status, 416);
      assert.equal((await download(s, id, { range: 'pages=1-2' })).status, 416);
      assert.equal((await download(s, id, { range: 'bytes=1-2,5-6' })).status, 400);
    });

    it('refuses wrong content types and missing formats, leaving the image queued', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      const wrong = await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: 'x', headers: { 'content-type': 'application/json' } });
      assert.equal(wrong.status, 415);
      const bare = await queuedImage(s, { disk_format: null });
      const noFormat = await s.request('demo', 'PUT', `/v2/images/${bare}/file`, { rawBody: 'x', headers: OCTET });
      assert.equal(noFormat.status, 400);
      assert.equal(await status(s, id), 'queued');
      assert.equal(await status(s, bare), 'queued');
      assert.equal((await s.request('alt', 'PUT', `/v2/images/${id}/file`, { rawBody: 'x', headers: OCTET })).status, 404);
    });

    it('over image_size_cap: 413, image queued again, no bytes left', async () => {
      const s = server.current;
      const before = storeFiles(s).length;
      const id = await queuedImage(s);
      const reply = await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: randomBytes(4 * 1024 * 1024 + 1), headers: OCTET });
      assert.equal(reply.status, 413);
      assert.equal(await status(s, id), 'queued');
      assert.equal(storeFiles(s).length, before);
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: 'retry', headers: OCTET })).status, 204, 'the owner can retry');
    });

    it('over the cap with a chunked body: answers while the client still sends, then reads and drops the rest', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      const token = await s.token('demo');
      const req = httpRequest(`${s.url}/v2/images/${id}/file`, { method: 'PUT', headers: { ...OCTET, 'x-auth-token': token } });
      const answered = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      const block = randomBytes(1024 * 1024);
      const send = (): Promise<void> => new Promise((resolve) => req.write(block, () => resolve()));
      for (let i = 0; i < 5; i += 1) await send();
      assert.equal(await answered, 413);
      // Left paused, the body would fill the socket buffers and these writes would never be taken.
      for (let i = 0; i < 32; i += 1) await send();
      req.destroy();
      assert.equal(await status(s, id), 'queued');
    });

    it('a client that disconnects mid-upload leaves the image queued and no bytes', async () => {
      const s = server.current;
      const before = storeFiles(s).length;
      const id = await queuedImage(s);
      const token = await s.token('demo');
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${s.url}/v2/images/${id}/file`, {
          method: 'PUT',
          headers: { ...OCTET, 'x-auth-token': token, 'content-length': String(10 * 1024 * 1024) },
        });
        req.on('error', () => {
          resolve();
        });
        req.write(randomBytes(256 * 1024), () => {
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 100);
        });
      });
      for (let i = 0; i < 50 && (await status(s, id)) !== 'queued'; i += 1) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await status(s, id), 'queued');
      assert.equal(storeFiles(s).length, before);
    });

    it('deleting an image removes its data; a deactivated image is not downloadable by non-admins', async () => {
      const s = server.current;
      const id = await queuedImage(s);
      await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: randomBytes(100), headers: OCTET });
      assert.equal((await s.request('demo', 'POST', `/v2/images/${id}/actions/deactivate`)).status, 204);
      assert.equal((await download(s, id)).status, 403);
      assert.equal((await s.request('demo', 'POST', `/v2/images/${id}/actions/reactivate`)).status, 204);
      const files = storeFiles(s);
      assert.ok(files.includes(id));
      assert.equal((await s.request('demo', 'DELETE', `/v2/images/${id}`)).status, 204);
      assert.ok(!storeFiles(s).includes(id));
      const locations = await s.db.selectFrom('image_locations').selectAll().where('image_id', '=', id).execute();
      assert.equal(locations.length, 0);
    });
  });
}
