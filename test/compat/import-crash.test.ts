import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { after, before } from 'node:test';
import { request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { login, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';

/**
 * Imports survive SIGKILL (issue 13, item 7): the real glimpse-api process is killed while an
 * image is being staged and while an import job writes it to the store, then started again. A
 * stage is undone (the image queued, staging empty); an import job is taken over and finished,
 * byte-identical; nothing is left in `uploading` or `importing` without a job, no lock is left
 * behind, and `glimpse-manage data check` finds no orphan in the stores or in staging.
 */
const CONFIG = '[DEFAULT]\nbind_port = {port}\ndata_dir = {dir}/data\n[task]\njob_lease_seconds = 5\n[embedded_identity]\nuser_demo = pw demo member,reader\n';
const run = promisify(execFile);

interface Client {
  readonly token: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
}

async function client(glimpse: GlimpseProcess): Promise<Client> {
  const token = await login(glimpse.url, 'demo', 'pw', 'demo');
  return {
    token,
    async call(method, path, body) {
      const response = await fetch(`${glimpse.url}${path}`, {
        method,
        headers: { 'x-auth-token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
    },
  };
}

const files = (glimpse: GlimpseProcess, folder: 'images' | 'staging'): string[] => {
  const dir = join(glimpse.dir, 'data', folder);
  return existsSync(dir) ? readdirSync(dir) : [];
};

async function until(check: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 20) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for: ${what}`);
}

async function dataCheck(glimpse: GlimpseProcess): Promise<{ code: number; stdout: string }> {
  return run(process.execPath, [resolve('bin/glimpse-manage.js'), '--config-file', glimpse.configFile, 'data', 'check'], { cwd: glimpse.dir }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (error: unknown) => ({ code: (error as { code: number }).code, stdout: (error as { stdout: string }).stdout }),
  );
}

/** `glimpse-manage data check` finds no orphan in the stores or in staging, and no location without data. */
async function assertNothingOrphaned(glimpse: GlimpseProcess): Promise<void> {
  const check = await dataCheck(glimpse);
  assert.equal(check.code, 0, check.stdout);
  assert.match(check.stdout, /^0 orphan object\(s\); 0 image location\(s\) without data/m);
}

/** A multi-store config of file stores (the first the default) that lets web-download reach 127.0.0.1:`port`, plus `extra` lines. */
function storesConfig(stores: readonly string[], port: number, extra: readonly string[] = []): string {
  return [
    '[DEFAULT]',
    'bind_port = {port}',
    'data_dir = {dir}/data',
    `enabled_backends = ${stores.map((id) => `${id}:file`).join(', ')}`,
    '[glance_store]',
    `default_backend = ${stores[0] ?? ''}`,
    ...stores.flatMap((id) => [`[${id}]`, `filesystem_store_datadir = {dir}/${id}`]),
    '[import_filtering_opts]',
    'allowed_hosts = 127.0.0.1',
    `allowed_ports = ${port}`,
    ...extra,
    '[task]',
    'job_lease_seconds = 5',
    '[embedded_identity]',
    'user_demo = pw demo member,reader',
    '',
  ].join('\n');
}

/** Waits until the image's one task, resumed by the restarted `glimpse`, ended; asserts it succeeded; the image then. */
async function resumedToSuccess(glimpse: GlimpseProcess, id: string): Promise<Record<string, unknown>> {
  const api = await client(glimpse);
  const statuses = (): Promise<string> => taskSummary(api, id);
  await until(async () => /^(success|failure)/.test(await statuses()), 'the job ended after restart', 60_000);
  assert.equal(await statuses(), 'success ', 'one task, resumed to success');
  return (await api.call('GET', `/v2/images/${id}`)).json;
}

/** The image's tasks as `<status> <message>`, newest first, comma-separated. */
async function taskSummary(api: Client, id: string): Promise<string> {
  return ((await api.call('GET', `/v2/images/${id}/tasks`)).json['tasks'] as { status: string; message: string }[])
    .map((t) => `${t.status} ${t.message}`)
    .join();
}

/** `blocks` × 4 MiB of one random block, with the md5 of the whole. */
function bigBody(blocks: number): { body: () => Readable; md5: string; size: number } {
  const block = randomBytes(4 * 1024 * 1024);
  const hash = createHash('md5');
  for (let i = 0; i < blocks; i += 1) hash.update(block);
  return {
    body: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < blocks; i += 1) yield block;
        })(),
      ),
    md5: hash.digest('hex'),
    size: blocks * block.length,
  };
}

describe('import crash safety (SIGKILL)', () => {
  it('a stage killed midway is undone at restart: queued, staging empty, and it can be staged again', async () => {
    let glimpse = await startGlimpseProcess(CONFIG);
    try {
      let api = await client(glimpse);
      const id = String((await api.call('POST', '/v2/images', { name: 'stage-crash', disk_format: 'raw', container_format: 'bare' })).json['id']);
      const req = httpRequest(`${glimpse.url}/v2/images/${id}/stage`, {
        method: 'PUT',
        headers: { 'x-auth-token': api.token, 'content-type': 'application/octet-stream', 'content-length': String(256 * 1024 * 1024) },
      });
      req.on('error', () => undefined);
      for (let i = 0; i < 64; i += 1) req.write(randomBytes(64 * 1024));
      await until(
        async () => (await api.call('GET', `/v2/images/${id}`)).json['status'] === 'uploading' && files(glimpse, 'staging').length === 1,
        'staging begun',
      );
      await glimpse.kill();
      req.destroy();
      assert.match(files(glimpse, 'staging')[0] ?? '', /\.tmp-/, 'the kill left a partial staging file');

      glimpse = await glimpse.restart();
      api = await client(glimpse);
      const image = (await api.call('GET', `/v2/images/${id}`)).json;
      assert.equal(image['status'], 'queued');
      assert.match(String(image['os_glimpse_upload_failure']), /INTERRUPTED: the server stopped during the stage/);
      assert.deepEqual(files(glimpse, 'staging'), []);
      const again = await fetch(`${glimpse.url}/v2/images/${id}/stage`, {
        method: 'PUT',
        headers: { 'x-auth-token': api.token, 'content-type': 'application/octet-stream' },
        body: 'staged again',
      });
      assert.equal(again.status, 204);
      const check = await dataCheck(glimpse);
      assert.equal(check.code, 0, check.stdout);
      assert.match(check.stdout, /^0 orphan object\(s\)/m);
    } finally {
      await glimpse.stop();
    }
  });

  it('an import job killed while writing to the store is taken over at restart and finishes byte-identical', async () => {
    let glimpse = await startGlimpseProcess(CONFIG);
    try {
      let api = await client(glimpse);
      const id = String((await api.call('POST', '/v2/images', { name: 'import-crash', disk_format: 'raw', container_format: 'bare' })).json['id']);
      const data = bigBody(192);
      const staged = await fetch(`${glimpse.url}/v2/images/${id}/stage`, {
        method: 'PUT',
        headers: { 'x-auth-token': api.token, 'content-type': 'application/octet-stream', 'content-length': String(data.size) },
        body: Readable.toWeb(data.body()) as ReadableStream,
        duplex: 'half',
      });
      assert.equal(staged.status, 204);
      assert.equal((await api.call('POST', `/v2/images/${id}/import`, { method: { name: 'glance-direct' } })).status, 202);
      // Killed once the job writes into the store: its temporary file is there.
      await until(() => files(glimpse, 'images').some((f) => f.includes('.tmp-')), 'the job writing to the store');
      await glimpse.kill();
      const killedAt = (await fetch(`${glimpse.url}/healthcheck`).catch(() => null)) === null;
      assert.ok(killedAt, 'the server is gone');

      glimpse = await glimpse.restart();
      api = await client(glimpse);
      const taskStatuses = async (): Promise<string[]> =>
        ((await api.call('GET', `/v2/images/${id}/tasks`)).json['tasks'] as { status: string }[]).map((t) => t.status);
      await until(async () => (await taskStatuses()).join() === 'success', 'the import task finished after restart', 60_000);
      const image = (await api.call('GET', `/v2/images/${id}`)).json;
      assert.equal(image['checksum'], data.md5);
      assert.equal(image['size'], data.size);
      assert.equal(image['os_glance_import_task'], undefined, 'no lock left behind');
      assert.equal(image['status'], 'active');
      assert.deepEqual(await taskStatuses(), ['success'], 'one task, resumed, not a second one');
      const download = await fetch(`${glimpse.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': api.token } });
      const hash = createHash('md5');
      for await (const chunk of download.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
      assert.equal(hash.digest('hex'), data.md5);
      assert.deepEqual(files(glimpse, 'staging'), [], 'staging is cleared');
      assert.deepEqual(
        files(glimpse, 'images').filter((f) => f.includes('.tmp-')),
        [],
      );
      await assertNothingOrphaned(glimpse);
    } finally {
      await glimpse.stop();
    }
  });
});

/**
 * SIGKILL at each step of a web-download import into three stores with image_conversion,
 * deterministically: GLIMPSE_TEST_IMPORT_PAUSE stops the job at the step (src/imports/import-checkpoints.ts),
 * the test kills the process there and starts it again without the pause.
 */
describe('import crash safety at every step (SIGKILL at a pause point)', () => {
  const fixtures = mkdtempSync(join(tmpdir(), 'glimpse-crash-fixtures-'));
  const raw = randomBytes(3 * 1024 * 1024);
  let qcow2 = Buffer.alloc(0);
  let origin: Server;
  let port = 0;
  before(async () => {
    writeFileSync(join(fixtures, 'disk.raw'), raw);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(fixtures, 'disk.raw'), join(fixtures, 'disk.qcow2')]);
    qcow2 = readFileSync(join(fixtures, 'disk.qcow2'));
    origin = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': qcow2.length });
      response.end(qcow2);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    port = (origin.address() as AddressInfo).port;
  });
  after(() => {
    origin.close();
    rmSync(fixtures, { recursive: true, force: true });
  });

  const config = (): string => storesConfig(['a', 'b', 'c'], port, ['[image_import_opts]', 'image_import_plugins = image_conversion']);

  for (const step of ['after-fetch', 'after-plugins', 'after-store-1', 'before-success']) {
    it(`killed ${step}: finished after restart, byte-identical, nothing left behind`, async () => {
      let glimpse = await startGlimpseProcess(config(), undefined, { GLIMPSE_TEST_IMPORT_PAUSE: step });
      try {
        const api = await client(glimpse);
        const id = String((await api.call('POST', '/v2/images', { name: step, disk_format: 'qcow2', container_format: 'bare' })).json['id']);
        const accepted = await api.call('POST', `/v2/images/${id}/import`, {
          method: { name: 'web-download', uri: `http://127.0.0.1:${port}/disk.qcow2` },
          all_stores: true,
        });
        assert.equal(accepted.status, 202);
        await until(() => glimpse.output().includes(`import paused at ${step}`), `the job paused ${step}`).catch((error: unknown) => {
          throw new Error(`${String(error)}\n${glimpse.output().slice(-3000)}`);
        });
        await glimpse.kill();

        glimpse = await glimpse.restart({});
        const image = await resumedToSuccess(glimpse, id);
        assert.equal(image['status'], 'active');
        assert.equal(image['disk_format'], 'raw', 'converted once');
        assert.equal(image['checksum'], createHash('md5').update(raw).digest('hex'));
        assert.deepEqual(String(image['stores']).split(',').sort(), ['a', 'b', 'c']);
        assert.equal(image['os_glance_import_task'], undefined);
        assert.equal(image['os_glance_importing_to_stores'], '');
        assert.deepEqual(files(glimpse, 'staging'), []);
        const work = join(glimpse.dir, 'data', 'import-work');
        assert.deepEqual(existsSync(work) ? readdirSync(work) : [], []);
        await assertNothingOrphaned(glimpse);
      } finally {
        await glimpse.stop();
      }
    });
  }
});

/**
 * Without plugins a web-download goes straight into the first store and the second copies from
 * it (README "Import"); nothing is staged. SIGKILL while the download is being written (random
 * timing: once the store's temporary file appears) and between the stores (pause point).
 */
describe('import crash safety of a download straight into the stores (SIGKILL)', () => {
  const data = bigBody(16);
  let origin: Server;
  let port = 0;
  before(async () => {
    // Slow enough (about 16 MiB/s) for the kill to land while the download is written.
    origin = createServer((_request, response) => {
      response.writeHead(200, { 'content-length': data.size });
      void (async () => {
        for await (const block of data.body() as AsyncIterable<Buffer>) {
          for (let at = 0; at < block.length && !response.destroyed; at += 256 * 1024) {
            if (!response.write(block.subarray(at, at + 256 * 1024))) await once(response, 'drain');
            await sleep(15);
          }
        }
        response.end();
      })().catch(() => response.destroy());
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    port = (origin.address() as AddressInfo).port;
  });
  after(() => {
    origin.closeAllConnections();
    origin.close();
  });

  const config = (): string => storesConfig(['a', 'b'], port);
  const storeFiles = (glimpse: GlimpseProcess, store: string): string[] => {
    const dir = join(glimpse.dir, store);
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  for (const step of ['while downloading into store a', 'after-store-1']) {
    it(`killed ${step}: finished after restart, byte-identical in both stores, nothing staged or left behind`, async () => {
      const pause: Record<string, string> = step === 'after-store-1' ? { GLIMPSE_TEST_IMPORT_PAUSE: step } : {};
      let glimpse = await startGlimpseProcess(config(), undefined, pause);
      try {
        const api = await client(glimpse);
        const id = String((await api.call('POST', '/v2/images', { name: step, disk_format: 'raw', container_format: 'bare' })).json['id']);
        const accepted = await api.call('POST', `/v2/images/${id}/import`, {
          method: { name: 'web-download', uri: `http://127.0.0.1:${port}/disk.raw` },
          all_stores: true,
        });
        assert.equal(accepted.status, 202);
        const running =
          step === 'after-store-1'
            ? () => glimpse.output().includes(`import paused at ${step}`)
            : () => storeFiles(glimpse, 'a').some((f) => f.includes('.tmp-'));
        await until(running, step).catch((error: unknown) => {
          throw new Error(`${String(error)}\n${glimpse.output().slice(-3000)}`);
        });
        assert.deepEqual(files(glimpse, 'staging'), [], 'nothing is staged');
        await glimpse.kill();

        glimpse = await glimpse.restart({});
        const image = await resumedToSuccess(glimpse, id);
        assert.equal(image['status'], 'active');
        assert.equal(image['checksum'], data.md5);
        assert.deepEqual(String(image['stores']).split(',').sort(), ['a', 'b']);
        for (const store of ['a', 'b']) assert.deepEqual(storeFiles(glimpse, store), [id], `store ${store} holds the image and nothing else`);
        for (const store of ['a', 'b'])
          assert.equal(
            createHash('md5')
              .update(readFileSync(join(glimpse.dir, store, id)))
              .digest('hex'),
            data.md5,
          );
        assert.deepEqual(files(glimpse, 'staging'), []);
        await assertNothingOrphaned(glimpse);
      } finally {
        await glimpse.stop();
      }
    });
  }
});
