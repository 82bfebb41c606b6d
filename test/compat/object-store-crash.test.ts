import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { login, startGlimpseProcess, type GlimpseProcess } from '../support/glimpse-process.js';
import { startSwift, SWIFT_TESTER, type SwiftServer } from '../support/swift-server.js';

/**
 * SIGKILL during a segmented Swift upload and during an S3 multipart upload (one glimpse-api
 * with both stores, multi-store): after the restart the image is queued with its failure note,
 * and Swift's own listings show no segment, manifest or multipart upload of it. Then the upload
 * is repeated and works. The stores' properties are in /v2/info/stores/detail.
 */
const MB = 1024 * 1024;

describe('object stores: SIGKILL in the middle of an upload', () => {
  let swift: SwiftServer;
  let glimpse: GlimpseProcess;
  const bucket = 'glimpse-crash';

  before(async () => {
    swift = await startSwift();
    glimpse = await startGlimpseProcess(
      [
        '[DEFAULT]',
        'bind_port = {port}',
        'data_dir = {dir}/data',
        'enabled_backends = swift:swift, s3:s3',
        '[glance_store]',
        'default_backend = swift',
        '[swift]',
        'store_description = Swift',
        'swift_store_config_file = glance-swift.conf',
        'swift_store_create_container_on_put = True',
        'swift_store_large_object_size = 8',
        'swift_store_large_object_chunk_size = 2',
        '[s3]',
        'store_description = S3',
        `s3_store_host = ${swift.url}`,
        `s3_store_access_key = ${SWIFT_TESTER.user}`,
        `s3_store_secret_key = ${SWIFT_TESTER.key}`,
        `s3_store_bucket = ${bucket}`,
        's3_store_create_bucket_on_put = True',
        's3_store_large_object_chunk_size = 5',
        's3_store_thread_pools = 2',
        '[embedded_identity]',
        'user_demo = pw demo member,reader',
        'user_admin = pw admin admin,member,reader',
        '',
      ].join('\n'),
      undefined,
      {},
      { 'glance-swift.conf': readFileSync(swift.referenceFile(SWIFT_TESTER), 'utf8') },
    );
  });
  after(async () => {
    await glimpse.stop();
    await swift.stop();
  });

  async function call(user: 'demo' | 'admin', method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const token = await login(glimpse.url, user, 'pw', user);
    const response = await fetch(`${glimpse.url}${path}`, {
      method,
      headers: { 'x-auth-token': token, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  }

  /** Every object of the image in the account: in the Swift container, the S3 bucket and its segments. */
  async function objectsOf(id: string): Promise<string[]> {
    const names: string[] = [];
    for (const container of ['glance', bucket, `${bucket}+segments`])
      names.push(...((await swift.list(SWIFT_TESTER, container)) ?? []).map((n) => `${container}/${n}`));
    return names.filter((n) => n.includes(id));
  }

  /** Sends `sent` bytes of a chunked upload into `store` and kills glimpse-api once `seen` says the store has some of it. */
  async function killMidUpload(id: string, store: string, seen: () => Promise<boolean>): Promise<void> {
    const token = await login(glimpse.url, 'demo', 'pw', 'demo');
    const req = httpRequest(`${glimpse.url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'x-image-meta-store': store },
    });
    req.on('error', () => undefined);
    for (let i = 0; i < 12; i += 1) await new Promise<void>((resolve) => req.write(randomBytes(MB), () => resolve()));
    for (let i = 0; i < 100 && !(await seen()); i += 1) await new Promise((r) => setTimeout(r, 50));
    assert.ok(await seen(), 'the store holds part of the upload before the kill');
    await glimpse.kill();
    req.destroy();
    glimpse = await glimpse.restart();
  }

  async function uploadAgain(id: string, store: string): Promise<void> {
    const token = await login(glimpse.url, 'demo', 'pw', 'demo');
    const data = randomBytes(11 * MB);
    const response = await fetch(`${glimpse.url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'x-image-meta-store': store },
      body: data,
    });
    assert.equal(response.status, 204);
    const image = await call('demo', 'GET', `/v2/images/${id}`);
    assert.equal(image['status'], 'active');
    assert.equal(image['checksum'], createHash('md5').update(data).digest('hex'));
    assert.equal(image['stores'], store);
  }

  it('shows each store with its properties in /v2/info/stores/detail', async () => {
    const detail = (await call('admin', 'GET', '/v2/info/stores/detail'))['stores'] as { id: string; type: string; properties: Record<string, unknown> }[];
    const byId = (id: string): { type: string; properties: Record<string, unknown> } | undefined => detail.find((s) => s.id === id);
    assert.equal(byId('swift')?.type, 'swift');
    assert.deepEqual(byId('swift')?.properties, {
      container: 'glance',
      multiple_containers_seed: 0,
      large_object_size: 8,
      large_object_chunk_size: 2,
      multi_tenant: false,
    });
    assert.equal(byId('s3')?.type, 's3');
    assert.deepEqual(byId('s3')?.properties, { bucket, large_object_chunk_size: 5, thread_pools: 2 });
    assert.ok(!JSON.stringify(detail).includes(SWIFT_TESTER.key), 'no credentials in the store detail');
  });

  it('a segmented Swift upload killed midway leaves no segment behind, and the image can be uploaded again', async () => {
    const id = String((await call('demo', 'POST', '/v2/images', { name: 'swift-crash', disk_format: 'raw', container_format: 'bare' }))['id']);
    await killMidUpload(id, 'swift', async () => (await objectsOf(id)).some((n) => n.startsWith(`glance/${id}/`)));
    const image = await call('demo', 'GET', `/v2/images/${id}`);
    assert.equal(image['status'], 'queued');
    assert.match(String(image['os_glimpse_upload_failure']), /INTERRUPTED/);
    assert.deepEqual(await objectsOf(id), []);
    await uploadAgain(id, 'swift');
  });

  it('an S3 multipart upload killed midway is aborted at restart, and the image can be uploaded again', async () => {
    const id = String((await call('demo', 'POST', '/v2/images', { name: 's3-crash', disk_format: 'raw', container_format: 'bare' }))['id']);
    // s3api keeps the parts of an unfinished upload in <bucket>+segments.
    await killMidUpload(id, 's3', async () => (await objectsOf(id)).some((n) => n.startsWith(`${bucket}+segments/`)));
    const image = await call('demo', 'GET', `/v2/images/${id}`);
    assert.equal(image['status'], 'queued');
    assert.match(String(image['os_glimpse_upload_failure']), /INTERRUPTED/);
    assert.deepEqual(await objectsOf(id), []);
    assert.match(glimpse.output(), /orphan object\(s\) removed/);
    await uploadAgain(id, 's3');
  });
});
