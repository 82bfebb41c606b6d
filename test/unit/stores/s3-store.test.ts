import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { S3_STORE_OPTIONS, type SectionValues } from '../../../src/config/options.js';
import type { ImageStore } from '../../../src/stores/image-store.js';
import { StoreNotFoundError, StoreUnavailableError } from '../../../src/stores/store-errors.js';
import { storeDriver } from '../../../src/stores/store-drivers.js';
import type { S3BackendSettings } from '../../../src/stores/store-settings.js';
import { chunks, collect, describeImageStore } from '../../support/store-conformance.js';
import { startSwift, SWIFT_TESTER, type SwiftServer } from '../../support/swift-server.js';

/**
 * The S3 driver against a real S3 server: Swift's s3api on the test Swift (tempauth account
 * test:tester), started once for the file. Multipart uploads are checked by S3's own listing.
 */
let swiftStarted: Promise<SwiftServer> | null = null;
const swift = (): Promise<SwiftServer> => (swiftStarted ??= startSwift());
after(async () => {
  await (await swiftStarted)?.stop();
});

const DEFAULTS = Object.fromEntries(Object.entries(S3_STORE_OPTIONS).map(([k, o]) => [k, o.default])) as SectionValues<typeof S3_STORE_OPTIONS>;

async function openS3Store(
  options: Partial<SectionValues<typeof S3_STORE_OPTIONS>>,
  partSize?: number,
): Promise<{ store: ImageStore; settings: S3BackendSettings }> {
  const server = await swift();
  const driver = storeDriver('s3');
  const read = driver.settings(
    's3',
    {
      ...DEFAULTS,
      s3_store_host: server.url,
      s3_store_access_key: SWIFT_TESTER.user,
      s3_store_secret_key: SWIFT_TESTER.key,
      s3_store_bucket: `b${randomUUID().slice(0, 8)}`,
      s3_store_create_bucket_on_put: true,
      ...options,
    },
    { defaultDir: '/nonexistent', configDir: '/' },
  ) as S3BackendSettings;
  // Parts smaller than the options allow (5 MB), so small test data takes the multipart path.
  const settings = partSize === undefined ? read : { ...read, partSize, parallelParts: 3 };
  return { store: await driver.open(settings), settings };
}

describeImageStore('s3 (Swift s3api, one PUT per image)', async () => {
  const { store } = await openS3Store({});
  return { store, cleanup: () => Promise.resolve() };
});

describeImageStore('s3 (Swift s3api, multipart in 256 KiB parts, 3 at once)', async () => {
  const { store } = await openS3Store({}, 256 * 1024);
  return { store, cleanup: () => Promise.resolve() };
});

describe('s3 store: multipart uploads and failures', () => {
  let server: SwiftServer;
  let store: ImageStore;
  let settings: S3BackendSettings;
  before(async () => {
    server = await swift();
    ({ store, settings } = await openS3Store({}, 256 * 1024));
  });

  /** Unfinished multipart uploads of the bucket, as S3 lists them. */
  async function uploads(): Promise<unknown[]> {
    const listed: unknown[] = [];
    for await (const o of store.list()) if (o.partial) listed.push(o);
    return listed;
  }

  it('never carries the keys in a location', async () => {
    const written = await store.write(randomUUID(), chunks(randomBytes(1000)), { maxBytes: 1000 });
    assert.match(written.location, new RegExp(`^s3\\+http://127\\.0\\.0\\.1:\\d+/${settings.bucket}/[0-9a-f-]{36}$`));
    assert.ok(!written.location.includes(SWIFT_TESTER.key) && !written.location.includes('tester'));
  });

  it('assembles a multipart image whole, and S3 reports it as multipart (ETag -N)', async () => {
    const data = randomBytes(1024 * 1024 + 77);
    const imageId = randomUUID();
    const written = await store.write(imageId, chunks(data), { maxBytes: data.length });
    assert.equal(
      createHash('md5')
        .update(await collect(await store.read(written.location)))
        .digest('hex'),
      createHash('md5').update(data).digest('hex'),
    );
    const { token, storageUrl } = await server.login(SWIFT_TESTER);
    // s3api keeps a multipart object as a static large object with its parts in <bucket>+segments.
    const head = await fetch(`${storageUrl}/${settings.bucket}/${imageId}`, { method: 'HEAD', headers: { 'x-auth-token': token } });
    assert.equal(head.headers.get('x-static-large-object'), 'True');
    await store.delete(written.location);
    await assert.rejects(store.stat(written.location), StoreNotFoundError);
  });

  it('aborts the multipart upload of a write that fails half way: S3 lists none', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield* chunks(randomBytes(700 * 1024));
      throw new Error('the client went away');
    }
    await assert.rejects(store.write(randomUUID(), failing(), { maxBytes: 1e9 }), /client went away/);
    assert.deepEqual(await uploads(), []);
  });

  it('lists a multipart upload a crash left as partial, and aborts it by that location', async () => {
    const imageId = randomUUID();
    // What a killed process leaves: an upload created, one part sent, never completed.
    const { S3Client, CreateMultipartUploadCommand, UploadPartCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({
      endpoint: server.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: SWIFT_TESTER.user, secretAccessKey: SWIFT_TESTER.key },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: settings.bucket, Key: imageId }));
    await client.send(new UploadPartCommand({ Bucket: settings.bucket, Key: imageId, UploadId: created.UploadId, PartNumber: 1, Body: randomBytes(1000) }));
    const listed = await uploads();
    assert.equal(listed.length, 1);
    const left = (listed as { location: string; imageId: string }[]).at(0);
    assert.ok(left !== undefined);
    assert.equal(left.imageId, imageId);
    assert.match(left.location, /\?upload=/);
    await store.delete(left.location);
    assert.deepEqual(await uploads(), []);
    client.destroy();
  });

  it('answers unavailable with the reason while S3 is down, and works once it is back', async () => {
    const data = randomBytes(600 * 1024);
    const written = await store.write(randomUUID(), chunks(data), { maxBytes: data.length });
    await server.proxyDown();
    try {
      await assert.rejects(
        store.stat(written.location),
        (e: unknown) => e instanceof StoreUnavailableError && /S3 at http:\/\/127\.0\.0\.1:\d+ is unavailable/.test(e.message),
      );
      await assert.rejects(store.write(randomUUID(), chunks(randomBytes(10)), { maxBytes: 10 }), StoreUnavailableError);
    } finally {
      await server.proxyUp();
    }
    assert.ok((await collect(await store.read(written.location))).equals(data));
  });

  it('refuses to write into a missing bucket unless told to create it, naming the option', async () => {
    const { store: strict } = await openS3Store({ s3_store_create_bucket_on_put: false });
    await assert.rejects(
      strict.write(randomUUID(), chunks(randomBytes(10)), { maxBytes: 10 }),
      (e: unknown) => e instanceof StoreUnavailableError && /s3_store_create_bucket_on_put/.test(e.message),
    );
  });
});
