import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { login, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';

/**
 * Distributed staging (reference §9.6): two glimpse-api nodes on one database, each with its own
 * staging directory and `worker_self_reference_url`. Data staged on A and imported or deleted
 * through B is imported or deleted by A, which holds the bytes; with A down, B answers 504 for
 * the import and deletes the image itself, and A removes the leftover bytes when it is back.
 */
const config = (dataDir: string): string =>
  [
    '[DEFAULT]',
    'bind_port = {port}',
    `data_dir = ${dataDir}`,
    'worker_self_reference_url = http://127.0.0.1:{port}',
    'node_staging_uri = file://{dir}/staging',
    '[embedded_identity]',
    'user_demo = pw demo member,reader',
    '',
  ].join('\n');

const bytes = randomBytes(2 * 1024 * 1024 + 1);

async function call(node: GlimpseProcess, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${node.url}${path}`, {
    method,
    headers: { 'x-auth-token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const staged = (node: GlimpseProcess): string[] => (existsSync(join(node.dir, 'staging')) ? readdirSync(join(node.dir, 'staging')) : []);

describe('distributed staging (two nodes, one database)', () => {
  it('imports and deletes through the node that holds the staged data; 504 while it is away', async () => {
    let a = await startGlimpseProcess(config('{dir}/data'));
    const b = await startGlimpseProcess(config(join(a.dir, 'data')));
    try {
      const token = await login(a.url, 'demo', 'pw', 'demo');
      const newStaged = async (): Promise<string> => {
        const id = ((await (await call(a, token, 'POST', '/v2/images', { name: 'ds', disk_format: 'raw', container_format: 'bare' })).json()) as { id: string })
          .id;
        const stage = await fetch(`${a.url}/v2/images/${id}/stage`, {
          method: 'PUT',
          headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
          body: bytes,
        });
        assert.equal(stage.status, 204);
        return id;
      };

      // Staged on A, imported through B: A runs the import (only it has the bytes).
      const imported = await newStaged();
      assert.ok(staged(a).includes(imported));
      const accepted = await call(b, token, 'POST', `/v2/images/${imported}/import`, { method: { name: 'glance-direct' } });
      assert.equal(accepted.status, 202, await accepted.text());
      const requestId = accepted.headers.get('x-openstack-request-id') ?? '';
      assert.match(requestId, /^req-/);
      let status = '';
      for (let waited = 0; waited < 20_000 && status !== 'active'; waited += 100) {
        status = ((await (await call(b, token, 'GET', `/v2/images/${imported}`)).json()) as { status: string }).status;
        if (status !== 'active') await sleep(100);
      }
      assert.equal(status, 'active');
      // The task was made by the node that answered, under the request id B passed back.
      const tasks = ((await (await call(b, token, 'GET', `/v2/images/${imported}/tasks`)).json()) as { tasks: { request_id: string; status: string }[] }).tasks;
      assert.deepEqual(
        tasks.map((t) => [t.request_id, t.status]),
        [[requestId, 'success']],
      );
      const data = Buffer.from(await (await call(b, token, 'GET', `/v2/images/${imported}/file`)).arrayBuffer());
      assert.equal(createHash('md5').update(data).digest('hex'), createHash('md5').update(bytes).digest('hex'));

      // Staged on A, deleted through B: A deletes it, staged bytes included.
      const deleted = await newStaged();
      assert.equal((await call(b, token, 'DELETE', `/v2/images/${deleted}`)).status, 204);
      assert.equal((await call(b, token, 'GET', `/v2/images/${deleted}`)).status, 404);
      assert.ok(!staged(a).includes(deleted), 'A removed the staged bytes');

      // A away: the import through B is a 504; a delete through B goes on without A.
      const stranded = await newStaged();
      await a.kill();
      const away = await call(b, token, 'POST', `/v2/images/${stranded}/import`, { method: { name: 'glance-direct' } });
      assert.equal(away.status, 504);
      assert.match(await away.text(), /Stage host is unavailable/);
      assert.equal((await call(b, token, 'DELETE', `/v2/images/${stranded}`)).status, 204);
      assert.ok(staged(a).includes(stranded), "the bytes wait on A's disk");
      a = await a.restart();
      assert.ok(!staged(a).includes(stranded), "A's recovery removed them at its start");
    } finally {
      await b.stop();
      await a.stop();
    }
  });
});
