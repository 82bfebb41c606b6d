import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Readable } from 'node:stream';
import type { ImageStore, StoredObject } from '../../src/stores/image-store.js';
import type { Chunk } from '../../src/buffers/chunk-lease.js';
import {
  StoreAbortedError,
  StoreDuplicateError,
  StoreNotFoundError,
  StoreRangeError,
  StoreSizeLimitError,
  StoreUnsupportedError,
} from '../../src/stores/store-errors.js';

/**
 * The one conformance suite every image store runs (file now; Swift and S3 later): round trips,
 * ranges, limits, aborts, duplicates, deletes — and after every failure, nothing left behind.
 */
export interface StoreUnderTest {
  readonly store: ImageStore;
  cleanup(): Promise<void>;
}

/** Reads a stream whole, as a consumer that honours leases does: a leased chunk is copied and released. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer & Chunk>) {
    if (chunk.lease === undefined) chunks.push(chunk);
    else {
      chunks.push(Buffer.from(chunk));
      chunk.lease.release();
    }
  }
  return Buffer.concat(chunks);
}

/** `data` as a stream of `size`-byte chunks, one per turn of the event loop. */
export async function* chunks(data: Buffer, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) {
    yield data.subarray(i, i + size);
    await Promise.resolve();
  }
}

async function objects(store: ImageStore): Promise<StoredObject[]> {
  const all: StoredObject[] = [];
  for await (const o of store.list()) all.push(o);
  return all;
}

const id = (): string => crypto.randomUUID();
const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export function describeImageStore(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`image store conformance: ${name}`, () => {
    let subject: StoreUnderTest;
    before(async () => {
      subject = await open();
    });
    after(async () => {
      await subject.cleanup();
    });

    it('writes and reads back the same bytes, and reports the size', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const imageId = id();
      const written = await subject.store.write(imageId, chunks(data), { maxBytes: data.length });
      assert.equal(written.size, data.length);
      assert.equal((await subject.store.stat(written.location)).size, data.length);
      assert.equal(digest(await collect(await subject.store.read(written.location))), digest(data));
      const listed = (await objects(subject.store)).find((o) => o.location === written.location);
      assert.deepEqual(listed, { location: written.location, size: data.length, imageId, partial: false });
    });

    it('stores an empty image', async () => {
      const written = await subject.store.write(id(), chunks(Buffer.alloc(0)), { maxBytes: 0 });
      assert.equal(written.size, 0);
      assert.equal((await collect(await subject.store.read(written.location))).length, 0);
    });

    it('reads inclusive byte ranges and refuses ranges outside the object', async () => {
      const data = randomBytes(10_000);
      const { location } = await subject.store.write(id(), chunks(data, 999), { maxBytes: 10_000 });
      assert.deepEqual(await collect(await subject.store.read(location, { range: { start: 100, end: 199 } })), data.subarray(100, 200));
      assert.deepEqual(await collect(await subject.store.read(location, { range: { start: 9_999, end: 9_999 } })), data.subarray(9_999));
      await assert.rejects(subject.store.read(location, { range: { start: 5, end: 10_000 } }), StoreRangeError);
      await assert.rejects(subject.store.read(location, { range: { start: 50, end: 10 } }), StoreRangeError);
    });

    it('opens an object as a local file with the same bytes, when the store has local files', async (t) => {
      const store = subject.store;
      if (!store.capabilities.localFiles) {
        t.diagnostic(`${name} has no local files; downloads stream through Node`);
        const { location } = await subject.store.write(id(), chunks(randomBytes(10)), { maxBytes: 10 });
        await assert.rejects(store.openLocal(location), StoreUnsupportedError);
        return;
      }
      const data = randomBytes(1024 * 1024 + 5);
      const { location } = await subject.store.write(id(), chunks(data), { maxBytes: data.length });
      const local = await store.openLocal(location);
      try {
        assert.equal(local.size, data.length);
        const copy = Buffer.alloc(data.length);
        const { bytesRead } = await local.handle.read(copy, 0, data.length, 0);
        assert.equal(bytesRead, data.length);
        assert.equal(digest(copy), digest(data));
      } finally {
        await local.handle.close();
      }
      await subject.store.delete(location);
      await assert.rejects(store.openLocal(location), StoreNotFoundError);
    });

    it('fails a write past its byte limit and keeps nothing', async () => {
      const before = await objects(subject.store);
      await assert.rejects(subject.store.write(id(), chunks(randomBytes(200_000)), { maxBytes: 199_999 }), StoreSizeLimitError);
      assert.deepEqual(await objects(subject.store), before);
    });

    it('fails an aborted write and keeps nothing', async () => {
      const before = await objects(subject.store);
      const controller = new AbortController();
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield randomBytes(100_000);
        controller.abort();
        await new Promise((r) => setTimeout(r, 10));
        yield randomBytes(100_000);
      }
      await assert.rejects(subject.store.write(id(), slow(), { maxBytes: 1e9, signal: controller.signal }), StoreAbortedError);
      assert.deepEqual(await objects(subject.store), before);
    });

    it('fails when the source stream fails, and keeps nothing', async () => {
      const before = await objects(subject.store);
      async function* broken(): AsyncGenerator<Uint8Array> {
        yield randomBytes(50_000);
        await Promise.resolve();
        throw new Error('client went away');
      }
      await assert.rejects(subject.store.write(id(), broken(), { maxBytes: 1e9 }));
      assert.deepEqual(await objects(subject.store), before);
    });

    it('refuses a second object for the same image and keeps the first intact', async () => {
      const imageId = id();
      const first = randomBytes(1000);
      const { location } = await subject.store.write(imageId, chunks(first), { maxBytes: 1000 });
      await assert.rejects(subject.store.write(imageId, chunks(randomBytes(1000)), { maxBytes: 1000 }), StoreDuplicateError);
      assert.deepEqual(await collect(await subject.store.read(location)), first);
      assert.equal((await objects(subject.store)).filter((o) => o.imageId === imageId).length, 1);
    });

    it('settles two racing writes of one image into one whole object', async () => {
      const imageId = id();
      const data = [randomBytes(300_000), randomBytes(300_000)];
      const results = await Promise.allSettled(data.map((d) => subject.store.write(imageId, chunks(d), { maxBytes: 300_000 })));
      const won = results.filter((r) => r.status === 'fulfilled');
      for (const r of results) assert.ok(r.status === 'fulfilled' || r.reason instanceof StoreDuplicateError);
      // An atomic publish (link(2)) lets exactly one win. An eventually consistent object store
      // cannot refuse a second PUT that started before the first finished (Swift's If-None-Match
      // sees only finished objects): both may report success, and the newer copy stands. Glimpse
      // never races two writes of one image into one store (the status compare-and-set, the
      // import job's lease); what every store must give is one whole copy and no leftovers.
      // The loser's parts, if it did not see that it lost, are listed as partial: what recovery
      // and the scrubber remove.
      if (subject.store.capabilities.exclusivePublish) assert.equal(won.length, 1);
      else {
        assert.ok(won.length >= 1);
        for (const o of await objects(subject.store)) if (o.imageId === imageId && o.partial) await subject.store.delete(o.location);
      }
      const held = (await objects(subject.store)).filter((o) => o.imageId === imageId);
      assert.equal(held.length, 1);
      const [only] = held;
      assert.ok(only !== undefined && !only.partial);
      const stored = await collect(await subject.store.read(only.location));
      assert.ok(
        data.some((d) => d.equals(stored)),
        'the stored copy is one of the two writes, whole',
      );
    });

    it('deletes, after which the object is gone', async () => {
      const { location } = await subject.store.write(id(), chunks(randomBytes(10)), { maxBytes: 10 });
      await subject.store.delete(location);
      await assert.rejects(subject.store.stat(location), StoreNotFoundError);
      await assert.rejects(subject.store.read(location), StoreNotFoundError);
      await assert.rejects(subject.store.delete(location), StoreNotFoundError);
    });

    it('treats locations it does not own as not found', async () => {
      for (const location of ['file:///etc/passwd', 'not a url', 'http://example.invalid/x']) {
        await assert.rejects(subject.store.read(location), StoreNotFoundError, location);
        await assert.rejects(subject.store.delete(location), StoreNotFoundError, location);
      }
    });
  });
}
