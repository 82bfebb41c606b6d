import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SWIFT_STORE_OPTIONS, type SectionValues } from '../../../src/config/options.js';
import type { ImageStore } from '../../../src/stores/image-store.js';
import { StoreFullError, StoreNotFoundError, StoreUnavailableError } from '../../../src/stores/store-errors.js';
import { ingest } from '../../../src/images/ingest.js';
import { inlineHashingStream } from '../../../src/hashing/inline-hashing.js';
import { storeDriver } from '../../../src/stores/store-drivers.js';
import type { SwiftBackendSettings } from '../../../src/stores/store-settings.js';
import { chunks, collect, describeImageStore } from '../../support/store-conformance.js';
import { startSwift, SWIFT_TESTER, type SwiftServer } from '../../support/swift-server.js';

/**
 * The Swift driver against a real Swift (scripts/swift-test-server.sh, tempauth), started once
 * for the file: the conformance suite in two layouts, then what only an object store has.
 */
let swiftStarted: Promise<SwiftServer> | null = null;
const swift = (): Promise<SwiftServer> => (swiftStarted ??= startSwift());
after(async () => {
  await (await swiftStarted)?.stop();
});

const DEFAULTS = Object.fromEntries(Object.entries(SWIFT_STORE_OPTIONS).map(([k, o]) => [k, o.default])) as SectionValues<typeof SWIFT_STORE_OPTIONS>;

/** A Swift store read from options as the config gives them, in a container of its own. */
async function openSwiftStore(options: Partial<SectionValues<typeof SWIFT_STORE_OPTIONS>>): Promise<{ store: ImageStore; settings: SwiftBackendSettings }> {
  const server = await swift();
  const driver = storeDriver('swift');
  const settings = driver.settings(
    'swift',
    { ...DEFAULTS, swift_store_config_file: server.referenceFile(SWIFT_TESTER), swift_store_create_container_on_put: true, ...options },
    { defaultDir: '/nonexistent', configDir: '/' },
  ) as SwiftBackendSettings;
  return { store: await driver.open(settings), settings };
}

const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describeImageStore('swift single-tenant (tempauth, 1 MB segments)', async () => {
  const { store } = await openSwiftStore({
    swift_store_container: `c${randomUUID().slice(0, 8)}`,
    swift_store_large_object_size: 1,
    swift_store_large_object_chunk_size: 1,
  });
  return { store, cleanup: () => Promise.resolve() };
});

describeImageStore('swift single-tenant (tempauth, containers seeded by 2 id characters)', async () => {
  const { store } = await openSwiftStore({ swift_store_container: `s${randomUUID().slice(0, 8)}`, swift_store_multiple_containers_seed: 2 });
  return { store, cleanup: () => Promise.resolve() };
});

describe('swift store: what only an object store has', () => {
  let server: SwiftServer;
  let store: ImageStore;
  let container: string;
  before(async () => {
    server = await swift();
    container = `x${randomUUID().slice(0, 8)}`;
    ({ store } = await openSwiftStore({ swift_store_container: container, swift_store_large_object_size: 1, swift_store_large_object_chunk_size: 1 }));
  });

  it('names the account by its reference, never by its credentials, and splits large data into segments it removes on delete', async () => {
    const data = randomBytes(2.5 * 1024 * 1024);
    const imageId = randomUUID();
    const written = await store.write(imageId, chunks(data), { maxBytes: data.length });
    assert.equal(written.location, `swift+config://ref1/${container}/${imageId}`);
    assert.ok(!written.location.includes(SWIFT_TESTER.key) && !written.location.includes('tester'));
    const names = (await server.list(SWIFT_TESTER, container)) ?? [];
    const segments = names.filter((n) => n.startsWith(`${imageId}/`));
    assert.equal(segments.length, 3, 'a 2.5 MiB image in 1 MiB segments');
    assert.ok(names.includes(imageId));
    assert.equal(digest(await collect(await store.read(written.location))), digest(data));
    await store.delete(written.location);
    // Checked by listing the container, not by trusting a delete that reported success.
    assert.deepEqual(
      (await server.list(SWIFT_TESTER, container))?.filter((n) => n.startsWith(imageId)),
      [],
    );
  });

  it('writes data of a declared small size as one object', async () => {
    const data = randomBytes(300_000);
    const imageId = randomUUID();
    const written = await store.write(imageId, chunks(data), { maxBytes: data.length, expectedSize: data.length });
    assert.deepEqual(
      (await server.list(SWIFT_TESTER, container))?.filter((n) => n.startsWith(imageId)),
      [imageId],
    );
    assert.equal(digest(await collect(await store.read(written.location))), digest(data));
    await store.delete(written.location);
  });

  it('removes the segments of a write that fails half way, as Swift lists them', async () => {
    const imageId = randomUUID();
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(1024 * 1024);
      yield randomBytes(700 * 1024);
      await Promise.resolve();
      throw new Error('the client went away');
    }
    await assert.rejects(store.write(imageId, failing(), { maxBytes: 1e9 }), /client went away/);
    assert.deepEqual(
      (await server.list(SWIFT_TESTER, container))?.filter((n) => n.startsWith(imageId)),
      [],
    );
  });

  it('lists the segments a crashed write left as one partial object, and deletes them by that location', async () => {
    const imageId = randomUUID();
    const { token, storageUrl } = await server.login(SWIFT_TESTER);
    for (const n of ['00001', '00002']) {
      const put = await fetch(`${storageUrl}/${container}/${imageId}/0123456789abcdef/${n}`, {
        method: 'PUT',
        headers: { 'x-auth-token': token },
        body: 'seg',
      });
      assert.equal(put.status, 201);
    }
    const listed: unknown[] = [];
    for await (const object of store.list(imageId)) listed.push(object);
    assert.deepEqual(listed, [{ location: `swift+config://ref1/${container}/${imageId}/0123456789abcdef/`, size: 6, imageId, partial: true }]);
    await store.delete(`swift+config://ref1/${container}/${imageId}/0123456789abcdef/`);
    assert.deepEqual(
      (await server.list(SWIFT_TESTER, container))?.filter((n) => n.startsWith(imageId)),
      [],
    );
  });

  it('reads and deletes an image Glance wrote as a dynamic large object (<id>-00001… segments)', async () => {
    const imageId = randomUUID();
    const { token, storageUrl } = await server.login(SWIFT_TESTER);
    const parts = [randomBytes(1000), randomBytes(500)];
    for (const [i, part] of parts.entries()) {
      await fetch(`${storageUrl}/${container}/${imageId}-0000${i + 1}`, { method: 'PUT', headers: { 'x-auth-token': token }, body: part });
    }
    await fetch(`${storageUrl}/${container}/${imageId}`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'x-object-manifest': `${container}/${imageId}-` },
      body: '',
    });
    const location = `swift+config://ref1/${container}/${imageId}`;
    assert.equal((await store.stat(location)).size, 1500);
    assert.deepEqual(await collect(await store.read(location)), Buffer.concat(parts));
    await store.delete(location);
    assert.deepEqual(
      (await server.list(SWIFT_TESTER, container))?.filter((n) => n.startsWith(imageId)),
      [],
    );
    await assert.rejects(store.stat(location), StoreNotFoundError);
  });

  it('refuses to write into a missing container unless told to create it, naming the option', async () => {
    const { store: strict } = await openSwiftStore({ swift_store_container: `m${randomUUID().slice(0, 8)}`, swift_store_create_container_on_put: false });
    await assert.rejects(
      strict.write(randomUUID(), chunks(randomBytes(10)), { maxBytes: 10 }),
      (e: unknown) => e instanceof StoreUnavailableError && /swift_store_create_container_on_put/.test(e.message),
    );
  });

  it('reports a container Swift says is full as full, through the ingest pipeline, with no segments left', async () => {
    const full = `q${randomUUID().slice(0, 8)}`;
    const { store: quota } = await openSwiftStore({ swift_store_container: full, swift_store_large_object_size: 1, swift_store_large_object_chunk_size: 1 });
    const { token, storageUrl } = await server.login(SWIFT_TESTER);
    // A container already over its byte quota: Swift refuses the upload's segment (413) while
    // the pipeline is still reading the source. (Swift caches container counts for a minute,
    // so the quota is set once the container holds more than it allows.)
    const swiftCall = (method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<number> =>
      fetch(`${storageUrl}/${path}`, { method, headers: { 'x-auth-token': token, ...headers }, ...(body === undefined ? {} : { body }) }).then((r) => r.status);
    assert.equal(await swiftCall('PUT', full), 201);
    assert.equal(await swiftCall('PUT', `${full}/filler`, {}, 'filler'), 201);
    assert.equal(await swiftCall('POST', full, { 'x-container-meta-quota-bytes': '1' }), 204);
    const imageId = randomUUID();
    const controller = new AbortController();
    await assert.rejects(
      ingest({
        imageId,
        source: Readable.from(chunks(randomBytes(3 * 1024 * 1024 + 10))),
        store: quota,
        maxBytes: 1e9,
        signal: controller.signal,
        hashing: inlineHashingStream(['md5']),
        observers: [],
      }),
      StoreFullError,
    );
    assert.deepEqual(await server.list(SWIFT_TESTER, full), ['filler']);
  });

  it('answers unavailable with the reason while the proxy is down, cuts a read short as an error, and works once it is back', async () => {
    // Far more than the socket buffers between Swift and here hold, so the proxy's end cuts the read.
    const data = randomBytes(40 * 1024 * 1024);
    const written = await store.write(randomUUID(), chunks(data, 1024 * 1024), { maxBytes: data.length });
    const reading = await store.read(written.location);
    const first = await new Promise<Buffer>((resolve) => reading.once('data', resolve));
    reading.pause();
    await server.proxyDown();
    try {
      // The rest of the body never comes: the stream ends in an error, never as if complete.
      const rest = collect(reading.resume());
      await assert.rejects(rest);
      assert.ok(first.length < data.length);
      await assert.rejects(
        store.stat(written.location),
        (e: unknown) => e instanceof StoreUnavailableError && /Swift at http:\/\/127\.0\.0\.1:\d+ is unavailable/.test(e.message),
      );
      await assert.rejects(store.write(randomUUID(), chunks(randomBytes(10)), { maxBytes: 10 }), StoreUnavailableError);
    } finally {
      await server.proxyUp();
    }
    assert.equal(digest(await collect(await store.read(written.location))), digest(data));
    await store.delete(written.location);
  });
});
