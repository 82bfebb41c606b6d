import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_URL_FILTER_SETTINGS } from '../../src/fetching/url-filter-settings.js';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

/**
 * Interoperable import through HTTP (reference §9, §10): discovery, stage, glance-direct and
 * web-download run as durable tasks, the tasks API, and every refusal with Glance's code and
 * message. The web-download source is a real HTTP server on loopback, allowed by the config.
 */
const source = randomBytes(3 * 1024 * 1024 + 17);
const served = { connections: 0 };
let origin: Server;
let port = 0;

before(async () => {
  origin = createServer((request, response) => {
    served.connections += 1;
    if (request.url === '/image.raw') {
      response.writeHead(200, { 'content-length': source.length });
      response.end(source);
    } else if (request.url === '/slow.raw') {
      // A source slower than the progress interval: 3 MiB over about seven seconds.
      response.writeHead(200, { 'content-length': 48 * 65536 });
      let sent = 0;
      const timer = setInterval(() => {
        response.write(source.subarray(sent * 65536, (sent + 1) * 65536));
        sent += 1;
        if (sent === 48) {
          clearInterval(timer);
          response.end();
        }
      }, 150);
      response.on('close', () => clearInterval(timer));
    } else if (request.url === '/short.raw') {
      // Promises more than it sends, then hangs up.
      response.writeHead(200, { 'content-length': source.length });
      response.end(source.subarray(0, 1000));
      response.socket?.destroy();
    } else {
      response.writeHead(404).end('no such image');
    }
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  port = (origin.address() as AddressInfo).port;
});

after(() => {
  origin.close();
});

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');
const sha512 = (data: Buffer): string => createHash('sha512').update(data).digest('hex');
const octets = { 'content-type': 'application/octet-stream' };

async function newImage(s: TestServer, body: Record<string, unknown> = { disk_format: 'raw', container_format: 'bare' }): Promise<string> {
  const created = await s.request('demo', 'POST', '/v2/images', { body: { name: 'imported', ...body } });
  assert.equal(created.status, 201, created.text);
  return created.json<{ id: string }>().id;
}

async function image(s: TestServer, id: string): Promise<Record<string, unknown>> {
  return (await s.request('demo', 'GET', `/v2/images/${id}`)).json();
}

interface TaskBody {
  id: string;
  status: string;
  message: string;
  result: Record<string, unknown> | null;
  type: string;
}

/** The image's import task, once it finished. */
async function finishedTask(s: TestServer, id: string): Promise<TaskBody> {
  for (let waited = 0; waited < 20_000; waited += 50) {
    const tasks = (await s.request('demo', 'GET', `/v2/images/${id}/tasks`)).json<{ tasks: TaskBody[] }>().tasks;
    const last = tasks.at(-1);
    if (last !== undefined && (last.status === 'success' || last.status === 'failure')) return last;
    await sleep(50);
  }
  throw new Error(`the import of ${id} did not finish`);
}

function importBody(method: Record<string, unknown>): { body: Record<string, unknown> } {
  return { body: { method } };
}

for (const dialect of testDialects()) {
  describe(`image import on ${dialect}`, () => {
    // Loopback is refused unless named (reference §9.5); the source's port is any port.
    const server = useTestServer(dialect, { imports: { urlFilter: { ...DEFAULT_URL_FILTER_SETTINGS, allowedHosts: ['127.0.0.1'], allowedPorts: [] } } });

    it('lists the import methods, and names them on image create', async () => {
      const s = server.current;
      const info = await s.request('demo', 'GET', '/v2/info/import');
      assert.equal(info.status, 200);
      assert.deepEqual(info.json(), {
        'import-methods': { description: 'Import methods available.', type: 'array', value: ['glance-direct', 'web-download', 'copy-image'] },
      });
      const created = await s.request('demo', 'POST', '/v2/images', { body: { name: 'x' } });
      assert.equal(created.headers.get('openstack-image-import-methods'), 'glance-direct,web-download,copy-image');
    });

    it('stages and imports with glance-direct: the image is active with the bytes, md5 and multihash', async () => {
      const s = server.current;
      const id = await newImage(s);
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/stage`, { rawBody: source, headers: { 'content-type': 'text/plain' } })).status, 415);
      assert.equal((await s.request('alt', 'PUT', `/v2/images/${id}/stage`, { rawBody: source, headers: octets })).status, 404);
      const early = await s.request('demo', 'POST', `/v2/images/${id}/import`, importBody({ name: 'glance-direct' }));
      assert.equal(early.status, 409);
      assert.match(early.text, /Image needs to be staged before 'glance-direct' method can be used/);
      const staged = await s.request('demo', 'PUT', `/v2/images/${id}/stage`, { rawBody: source, headers: octets });
      assert.equal(staged.status, 204, staged.text);
      const afterStage = await image(s, id);
      assert.equal(afterStage['status'], 'uploading');
      assert.equal(afterStage['size'], source.length);
      assert.equal(afterStage['checksum'], null, 'staging computes no checksum (reference §9.2)');
      const again = await s.request('demo', 'PUT', `/v2/images/${id}/stage`, { rawBody: source, headers: octets });
      assert.equal(again.status, 409);
      assert.match(again.text, /Image status transition from uploading to uploading is not allowed/);

      const accepted = await s.request('demo', 'POST', `/v2/images/${id}/import`, importBody({ name: 'glance-direct' }));
      assert.equal(accepted.status, 202, accepted.text);
      assert.equal(accepted.text, '');
      const task = await finishedTask(s, id);
      assert.equal(task.status, 'success', task.message);
      assert.deepEqual(task.result, { image_id: id });
      assert.equal(task.type, 'api_image_import');
      const done = await image(s, id);
      assert.equal(done['status'], 'active');
      assert.equal(done['checksum'], md5(source));
      assert.equal(done['os_hash_value'], sha512(source));
      assert.equal(done['os_glance_import_task'], undefined, 'the lock is released');
      assert.equal(done['os_glance_importing_to_stores'], '');
      const data = await fetch(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': await s.token('demo') } });
      assert.equal(md5(Buffer.from(await data.arrayBuffer())), md5(source));
      assert.deepEqual(readdirSync(`${s.dataDir}/staging`), [], 'nothing is left in staging');
    });

    it('imports with web-download from an allowed host, and fails cleanly on a bad source', async () => {
      const s = server.current;
      const id = await newImage(s);
      const accepted = await s.request(
        'demo',
        'POST',
        `/v2/images/${id}/import`,
        importBody({ name: 'web-download', uri: `http://127.0.0.1:${port}/image.raw` }),
      );
      assert.equal(accepted.status, 202, accepted.text);
      const task = await finishedTask(s, id);
      assert.equal(task.status, 'success', task.message);
      const done = await image(s, id);
      assert.equal(done['status'], 'active');
      assert.equal(done['checksum'], md5(source));
      assert.equal(done['size'], source.length);

      for (const [path, reason] of [
        ['/missing.raw', /404/],
        ['/short.raw', /web-download failed/],
      ] as const) {
        const failing = await newImage(s);
        assert.equal(
          (await s.request('demo', 'POST', `/v2/images/${failing}/import`, importBody({ name: 'web-download', uri: `http://127.0.0.1:${port}${path}` })))
            .status,
          202,
        );
        const failed = await finishedTask(s, failing);
        assert.equal(failed.status, 'failure');
        assert.match(failed.message, reason);
        const back = await image(s, failing);
        assert.equal(back['status'], 'queued', 'the image can be imported again');
        assert.equal(back['os_glance_import_task'], undefined);
        assert.match(String(back['os_glimpse_import_failure']), reason);
        assert.equal(back['os_glance_failed_import'], 'file');
        // Retrying works once the source is right.
        assert.equal(
          (await s.request('demo', 'POST', `/v2/images/${failing}/import`, importBody({ name: 'web-download', uri: `http://127.0.0.1:${port}/image.raw` })))
            .status,
          202,
        );
        assert.equal((await finishedTask(s, failing)).status, 'success');
      }
      assert.equal(readdirSync(`${s.dataDir}/staging`).length, 0);
    });

    it('says on the task how far a running download got', async () => {
      const s = server.current;
      const id = await newImage(s);
      assert.equal(
        (await s.request('demo', 'POST', `/v2/images/${id}/import`, importBody({ name: 'web-download', uri: `http://127.0.0.1:${port}/slow.raw` }))).status,
        202,
      );
      const seen = new Set<string>();
      for (let waited = 0; waited < 20_000; waited += 100) {
        const task = (await s.request('demo', 'GET', `/v2/images/${id}/tasks`)).json<{ tasks: TaskBody[] }>().tasks[0];
        if (task !== undefined) seen.add(task.message);
        if (task?.status === 'success') break;
        await sleep(100);
      }
      assert.ok(
        // Without plugins the download goes straight into the store.
        [...seen].some((m) => /^Downloaded [1-3] of 3 MiB into store file$/.test(m)),
        `a progress message while it ran: ${JSON.stringify([...seen])}`,
      );
      assert.equal((await finishedTask(s, id)).status, 'success');
    });

    it("refuses what Glance refuses, with Glance's codes and messages", async () => {
      const s = server.current;
      const id = await newImage(s);
      const post = (body: unknown, user: 'demo' | 'alt' = 'demo') => s.request(user, 'POST', `/v2/images/${id}/import`, { body });
      const cases: [unknown, number, RegExp][] = [
        [{}, 400, /Import request requires a 'method' field\./],
        [{ method: {} }, 400, /Import request requires a 'name' field\./],
        [{ method: { name: 'glance-download' } }, 400, /Unknown import method name 'glance-download'\./],
        [{ method: { name: 'web-download', uri: 'http://x' }, all_stores: 'yes' }, 400, /'all_stores' must be boolean value only/],
        [
          { method: { name: 'web-download', uri: 'http://x' }, all_stores_must_succeed: false },
          400,
          /All_stores_must_succeed can only be set with enabled_backends/,
        ],
        [{ method: { name: 'web-download', uri: 'http://169.254.169.254/latest/meta-data' } }, 400, /URI for web-download does not pass filtering/],
        [{ method: { name: 'web-download', uri: 'file:///etc/passwd' } }, 400, /does not pass filtering/],
        [{ method: { name: 'web-download', uri: 'http://2130706433/' } }, 400, /does not pass filtering/],
      ];
      for (const [body, status, message] of cases) {
        const answer = await post(body);
        assert.equal(answer.status, status, `${JSON.stringify(body)}: ${answer.text}`);
        assert.match(answer.text, message, JSON.stringify(body));
      }
      assert.equal((await post({ method: { name: 'web-download', uri: `http://127.0.0.1:${port}/image.raw` } }, 'alt')).status, 404, 'not visible to alt');
      const noFormats = await newImage(s, {});
      const formats = await s.request('demo', 'POST', `/v2/images/${noFormats}/import`, importBody({ name: 'web-download', uri: 'http://127.0.0.1/x' }));
      assert.equal(formats.status, 409);
      assert.match(formats.text, /'container_format' needs to be set before import/);
      // An active image cannot be imported into.
      assert.equal((await s.request('demo', 'PUT', `/v2/images/${id}/file`, { rawBody: Buffer.alloc(10), headers: octets })).status, 204);
      const active = await post({ method: { name: 'web-download', uri: `http://127.0.0.1:${port}/image.raw` } });
      assert.equal(active.status, 409);
      assert.match(active.text, /Image with status active cannot be target for import/);
      // The stage route is 404 when glance-direct is off, with Glance's words: see the unit of settings.
      assert.equal(existsSync(`${s.dataDir}/staging`), true);
    });

    it('runs a legacy import task from POST /v2/tasks; its faults are the task failure', async () => {
      const s = server.current;
      const post = (body: unknown, user: 'admin' | 'demo' = 'admin') => s.request(user, 'POST', '/v2/tasks', { body });
      assert.equal((await post({ input: {} })).status, 400);
      assert.match((await post({ input: {} })).text, /Task 'type' is required/);
      assert.match((await post({ type: 'import' })).text, /Task 'input' is required/);
      assert.equal((await post({ type: 'import', input: {} }, 'demo')).status, 403);
      const legacyInput = (from: string) => ({ import_from: from, import_from_format: 'raw', image_properties: { name: 'legacy', container_format: 'bare' } });
      const created = await post({ type: 'import', input: legacyInput(`http://127.0.0.1:${port}/image.raw`) });
      assert.equal(created.status, 201, created.text);
      const task = created.json<{ id: string; status: string; self: string }>();
      assert.equal(task.status, 'pending');
      assert.match(created.headers.get('location') ?? '', new RegExp(`/v2/tasks/${task.id}$`));
      const finished = async (id: string): Promise<{ status: string; message: string; result: { image_id?: string } | null }> => {
        for (let waited = 0; waited < 20_000; waited += 50) {
          const body = (await s.request('admin', 'GET', `/v2/tasks/${id}`)).json<{ status: string; message: string; result: { image_id?: string } | null }>();
          if (body.status === 'success' || body.status === 'failure') return body;
          await sleep(50);
        }
        throw new Error(`task ${id} did not finish`);
      };
      const done = await finished(task.id);
      assert.equal(done.status, 'success', done.message);
      const imageId = done.result?.image_id ?? '';
      const made = (await s.request('admin', 'GET', `/v2/images/${imageId}`)).json();
      assert.equal(made['status'], 'active');
      assert.equal(made['name'], 'legacy');
      assert.equal(made['checksum'], md5(source));
      const local = await post({ type: 'import', input: legacyInput('file:///etc/passwd') });
      assert.equal(local.status, 201, 'the fault is the task, not the answer');
      const refused = await finished(local.json<{ id: string }>().id);
      assert.equal(refused.status, 'failure');
      assert.equal(refused.message, 'File based imports are not allowed. Please use a non-local source of image data.');
    });

    it('serves the tasks API to admins only, and each image its own tasks', async () => {
      const s = server.current;
      const id = await newImage(s);
      assert.equal(
        (await s.request('demo', 'POST', `/v2/images/${id}/import`, importBody({ name: 'web-download', uri: `http://127.0.0.1:${port}/image.raw` }))).status,
        202,
      );
      const task = await finishedTask(s, id);
      assert.equal((await s.request('demo', 'GET', '/v2/tasks')).status, 403, 'tasks_api_access is role:admin');
      const list = await s.request('admin', 'GET', '/v2/tasks?limit=1');
      assert.equal(list.status, 200);
      const page = list.json<{ tasks: Record<string, unknown>[]; first: string; schema: string; next?: string }>();
      assert.equal(page.tasks.length, 1);
      assert.equal(page.schema, '/v2/schemas/tasks');
      assert.equal(page.first, '/v2/tasks?limit=1');
      assert.ok(page.next?.startsWith('/v2/tasks?limit=1&marker='));
      assert.equal(page.tasks[0]?.['input'], undefined, 'stubs omit input, result and message');
      const shown = await s.request('admin', 'GET', `/v2/tasks/${task.id}`);
      assert.equal(shown.status, 200);
      const body = shown.json();
      assert.equal(body['status'], 'success');
      assert.equal(body['self'], `/v2/tasks/${task.id}`);
      assert.match(String(body['expires_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.deepEqual((body['input'] as Record<string, unknown>)['backend'], ['file']);
      const removed = await s.request('admin', 'DELETE', `/v2/tasks/${task.id}`);
      assert.equal(removed.status, 405);
      assert.equal(removed.headers.get('allow'), 'GET');
      assert.equal((await s.request('admin', 'GET', '/v2/tasks?status=bogus')).status, 400);
      assert.equal((await s.request('admin', 'GET', '/v2/tasks?marker=nope')).status, 400);
      assert.equal((await s.request('admin', 'GET', `/v2/tasks/${'0'.repeat(8)}-0000-0000-0000-000000000000`)).status, 404);
      const ofImage = (await s.request('demo', 'GET', `/v2/images/${id}/tasks`)).json<{ tasks: Record<string, unknown>[] }>().tasks;
      assert.equal(ofImage.length, 1);
      assert.match(String(ofImage[0]?.['created_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/, 'raw database datetimes, as Glance');
      assert.equal((await s.request('alt', 'GET', `/v2/images/${id}/tasks`)).status, 404);
    });
  });
}

for (const dialect of testDialects()) {
  describe(`tasks API under secure RBAC on ${dialect}`, () => {
    const server = useTestServer(dialect, { enforceNewDefaults: true });

    it('keeps tasks_api_access admin-only, and an image its own tasks for its project', async () => {
      const s = server.current;
      assert.equal((await s.request('demo', 'GET', '/v2/tasks')).status, 403);
      assert.equal((await s.request('admin', 'GET', '/v2/tasks')).status, 200);
      const id = await newImage(s);
      const tasks = await s.request('demo', 'GET', `/v2/images/${id}/tasks`);
      assert.equal(tasks.status, 200);
      assert.deepEqual(tasks.json(), { tasks: [] });
      assert.equal((await s.request('alt', 'GET', `/v2/images/${id}/tasks`)).status, 404);
    });
  });
}
