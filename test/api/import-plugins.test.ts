import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { DEFAULT_URL_FILTER_SETTINGS } from '../../src/fetching/url-filter-settings.js';
import { testDialects } from '../support/test-databases.js';
import { useTestServer, type TestServer } from '../support/test-server.js';

/**
 * The import plugins run by the import job (reference §9.7): a gzipped qcow2 is decompressed,
 * converted to raw by the real qemu-img and stored as raw, with a property injected; a qcow2
 * with a backing file is refused before qemu-img converts anything, and the image is queued again
 * with the reason. Sources are served on loopback, allowed by the config.
 */
const fixtures = mkdtempSync(join(tmpdir(), 'glimpse-plugins-'));
const raw = randomBytes(2 * 1024 * 1024);
const files = new Map<string, Buffer>();
let origin: Server;
let port = 0;

before(async () => {
  writeFileSync(join(fixtures, 'disk.raw'), raw);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(fixtures, 'disk.raw'), join(fixtures, 'disk.qcow2')]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(fixtures, 'disk.qcow2'), '-F', 'qcow2', join(fixtures, 'child.qcow2')]);
  files.set('/disk.qcow2.gz', gzipSync(readFileSync(join(fixtures, 'disk.qcow2'))));
  files.set('/child.qcow2', readFileSync(join(fixtures, 'child.qcow2')));
  origin = createServer((request, response) => {
    const body = files.get(request.url ?? '');
    if (body === undefined) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-length': body.length });
    response.end(body);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  port = (origin.address() as AddressInfo).port;
});

after(() => {
  origin.close();
  rmSync(fixtures, { recursive: true, force: true });
});

async function importFrom(s: TestServer, path: string, diskFormat: string): Promise<{ id: string; task: { status: string; message: string } }> {
  const id = (await s.request('demo', 'POST', '/v2/images', { body: { name: path, disk_format: diskFormat, container_format: 'bare' } })).json<{ id: string }>()
    .id;
  const accepted = await s.request('demo', 'POST', `/v2/images/${id}/import`, {
    body: { method: { name: 'web-download', uri: `http://127.0.0.1:${port}${path}` } },
  });
  assert.equal(accepted.status, 202, accepted.text);
  for (let waited = 0; waited < 30_000; waited += 50) {
    const tasks = (await s.request('demo', 'GET', `/v2/images/${id}/tasks`)).json<{ tasks: { status: string; message: string }[] }>().tasks;
    const task = tasks.at(-1);
    if (task !== undefined && (task.status === 'success' || task.status === 'failure')) return { id, task };
    await sleep(50);
  }
  throw new Error(`the import of ${path} did not finish`);
}

for (const dialect of testDialects()) {
  describe(`import plugins on ${dialect}`, () => {
    const server = useTestServer(dialect, {
      imports: {
        urlFilter: { ...DEFAULT_URL_FILTER_SETTINGS, allowedHosts: ['127.0.0.1'], allowedPorts: [] },
        plugins: ['image_decompression', 'image_conversion', 'inject_image_metadata'],
        conversionFormat: 'raw',
        inject: { properties: { imported_by: 'glimpse' }, ignoreUserRoles: ['admin'] },
      },
    });

    it('decompresses, converts qcow2 to raw with qemu-img, injects metadata, and stores the raw disk', async () => {
      const s = server.current;
      const { id, task } = await importFrom(s, '/disk.qcow2.gz', 'qcow2');
      assert.equal(task.status, 'success', task.message);
      const image = (await s.request('demo', 'GET', `/v2/images/${id}`)).json();
      assert.equal(image['status'], 'active');
      assert.equal(image['disk_format'], 'raw');
      assert.equal(image['container_format'], 'bare');
      assert.equal(image['size'], raw.length);
      assert.equal(image['virtual_size'], raw.length);
      assert.equal(image['checksum'], createHash('md5').update(raw).digest('hex'));
      assert.equal(image['imported_by'], 'glimpse');
      const data = await fetch(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': await s.token('demo') } });
      const got = Buffer.from(await data.arrayBuffer());
      assert.ok(got.equals(raw), 'the stored disk is the raw content of the qcow2');
      assert.deepEqual(readdirSync(`${s.dataDir}/import-work`), [], 'no plugin file is left behind');
      assert.deepEqual(readdirSync(`${s.dataDir}/staging`), []);
    });

    it('refuses a qcow2 with a backing file before converting it; the image is queued with the reason', async () => {
      const s = server.current;
      const { id, task } = await importFrom(s, '/child.qcow2', 'qcow2');
      assert.equal(task.status, 'failure');
      assert.match(task.message, /Import plugin image_conversion failed: .*backing/i);
      const image = (await s.request('demo', 'GET', `/v2/images/${id}`)).json();
      assert.equal(image['status'], 'queued');
      assert.match(String(image['os_glimpse_import_failure']), /backing/i);
      assert.deepEqual(readdirSync(`${s.dataDir}/import-work`), []);
      assert.deepEqual(readdirSync(`${s.dataDir}/staging`), []);
    });
  });
}
