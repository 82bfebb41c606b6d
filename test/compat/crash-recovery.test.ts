import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { login, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';

/**
 * The crash test of the image-data issue: the real glimpse-api process is killed with SIGKILL in
 * the middle of an upload and in the middle of deletes, restarted, and must come back with
 * nothing stuck in `saving` and no byte in the store that no image owns.
 */
const CONFIG = '[DEFAULT]\nbind_port = {port}\ndata_dir = {dir}/data\n[embedded_identity]\nuser_demo = pw demo member,reader\n';

interface Api {
  readonly call: (method: string, path: string, body?: unknown) => Promise<{ status: number; json: Record<string, unknown> }>;
}

async function api(glimpse: GlimpseProcess): Promise<Api & { token: string }> {
  const token = await login(glimpse.url, 'demo', 'pw', 'demo');
  return {
    token,
    call: async (method, path, body) => {
      const response = await fetch(`${glimpse.url}${path}`, {
        method,
        headers: { 'x-auth-token': token, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
    },
  };
}

function storeFiles(glimpse: GlimpseProcess): string[] {
  return readdirSync(join(glimpse.dir, 'data', 'images'));
}

async function upload(glimpse: GlimpseProcess, token: string, id: string, data: Buffer): Promise<number> {
  const response = await fetch(`${glimpse.url}/v2/images/${id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
    body: data,
  });
  return response.status;
}

describe('crash safety (SIGKILL)', () => {
  it('an upload killed midway: after restart the image is queued, no bytes remain, and it can be uploaded', async () => {
    let glimpse = await startGlimpseProcess(CONFIG);
    try {
      let client = await api(glimpse);
      const created = await client.call('POST', '/v2/images', { name: 'crash', disk_format: 'raw', container_format: 'bare' });
      const id = String(created.json['id']);
      // Stream part of a large body, wait until the server has written some of it, then kill it.
      const req = httpRequest(`${glimpse.url}/v2/images/${id}/file`, {
        method: 'PUT',
        headers: { 'x-auth-token': client.token, 'content-type': 'application/octet-stream', 'content-length': String(256 * 1024 * 1024) },
      });
      req.on('error', () => undefined);
      for (let i = 0; i < 64; i += 1) req.write(randomBytes(64 * 1024));
      for (let i = 0; i < 100 && (await client.call('GET', `/v2/images/${id}`)).json['status'] !== 'saving'; i += 1)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal((await client.call('GET', `/v2/images/${id}`)).json['status'], 'saving');
      for (let i = 0; i < 100 && storeFiles(glimpse).length === 0; i += 1) await new Promise((r) => setTimeout(r, 50));
      assert.equal(storeFiles(glimpse).length, 1, 'a temporary file is being written');
      await glimpse.kill();
      req.destroy();
      assert.equal(storeFiles(glimpse).length, 1, 'the kill left the temporary file behind');

      glimpse = await glimpse.restart();
      client = await api(glimpse);
      const after = (await client.call('GET', `/v2/images/${id}`)).json;
      assert.equal(after['status'], 'queued');
      assert.match(String(after['os_glimpse_upload_failure']), /INTERRUPTED/);
      assert.deepEqual(storeFiles(glimpse), []);
      assert.match(glimpse.output(), /1 upload\(s\) interrupted and requeued, 1 of 1 orphan object\(s\) removed/);
      const data = randomBytes(1024 * 1024);
      assert.equal(await upload(glimpse, client.token, id, data), 204);
      const active = (await client.call('GET', `/v2/images/${id}`)).json;
      assert.equal(active['status'], 'active');
      assert.equal(active['checksum'], createHash('md5').update(data).digest('hex'));
    } finally {
      await glimpse.stop();
    }
  });

  it('deletes killed midway: after restart every image is either intact or gone with its bytes', async () => {
    let glimpse = await startGlimpseProcess(CONFIG);
    try {
      let client = await api(glimpse);
      const images = new Map<string, Buffer>();
      for (let i = 0; i < 100; i += 1) {
        const id = String((await client.call('POST', '/v2/images', { name: `d${i}`, disk_format: 'raw', container_format: 'bare' })).json['id']);
        const data = randomBytes(64 * 1024);
        assert.equal(await upload(glimpse, client.token, id, data), 204);
        images.set(id, data);
      }
      // Fire every delete at once and kill the server as soon as the first one answers.
      const deletes = [...images.keys()].map((id) => client.call('DELETE', `/v2/images/${id}`).catch(() => ({ status: 0, json: {} })));
      await Promise.race(deletes);
      await glimpse.kill();
      const answered = (await Promise.all(deletes)).filter((r) => r.status === 204).length;
      assert.ok(answered < images.size, `the kill landed before all ${images.size} deletes finished (${answered} answered)`);

      glimpse = await glimpse.restart();
      client = await api(glimpse);
      const files = new Set(storeFiles(glimpse));
      let intact = 0;
      for (const [id, data] of images) {
        const shown = await client.call('GET', `/v2/images/${id}`);
        if (shown.status === 404) {
          assert.ok(!files.has(id), `deleted image ${id} left its bytes`);
          continue;
        }
        assert.equal(shown.json['status'], 'active');
        const body = Buffer.from(await (await fetch(`${glimpse.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': client.token } })).arrayBuffer());
        assert.ok(body.equals(data), `image ${id} survived but its data changed`);
        intact += 1;
      }
      assert.equal(files.size, intact, 'no file without a live image');
    } finally {
      await glimpse.stop();
    }
  });

  it('two glimpse-api nodes on one database and data directory: a live upload on A survives B starting', async () => {
    const a = await startGlimpseProcess(CONFIG);
    let b: GlimpseProcess | null = null;
    try {
      const client = await api(a);
      const id = String((await client.call('POST', '/v2/images', { name: 'two-nodes', disk_format: 'raw', container_format: 'bare' })).json['id']);
      const size = 32 * 1024 * 1024;
      const data = randomBytes(size);
      const req = httpRequest(`${a.url}/v2/images/${id}/file`, {
        method: 'PUT',
        headers: { 'x-auth-token': client.token, 'content-type': 'application/octet-stream', 'content-length': String(size) },
      });
      const answered = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
      req.write(data.subarray(0, size / 2));
      for (let i = 0; i < 100 && (storeFiles(a).length === 0 || (await client.call('GET', `/v2/images/${id}`)).json['status'] !== 'saving'); i += 1)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(storeFiles(a).length, 1, 'node A is writing');

      // Node B: another host's glimpse-api (its own port, so its own node id) on the same database and files.
      b = await startGlimpseProcess(CONFIG.replace('data_dir = {dir}/data', `data_dir = ${a.dir}/data`));
      const onB = await api(b);
      assert.equal((await onB.call('GET', `/v2/images/${id}`)).json['status'], 'saving', "B's startup recovery left A's upload alone");
      assert.equal(storeFiles(a).length, 1, "and A's temporary file");
      assert.doesNotMatch(b.output(), /interrupted and requeued/);

      req.end(data.subarray(size / 2));
      assert.equal(await answered, 204);
      const done = (await onB.call('GET', `/v2/images/${id}`)).json;
      assert.equal(done['status'], 'active');
      assert.equal(done['checksum'], createHash('md5').update(data).digest('hex'));
    } finally {
      await b?.stop();
      await a.stop();
    }
  });
});
