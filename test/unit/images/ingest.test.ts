import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { HashPool } from '../../../src/hashing/hash-pool.js';
import { inlineHashingStream, type HashingStream } from '../../../src/hashing/inline-hashing.js';
import { ingest, type IngestRequest } from '../../../src/images/ingest.js';
import { FileStore } from '../../../src/stores/file/file-store.js';
import type { ImageStore } from '../../../src/stores/image-store.js';
import { StoreAbortedError, StoreSizeLimitError } from '../../../src/stores/store-errors.js';

/**
 * The ingest pipeline (src/images/ingest.ts) over the real file store: the bytes arrive whole
 * with their digests, and a failure of any stage at any point leaves nothing in the store and the
 * source undestroyed.
 */
const CHUNK = 256 * 1024;
const data = randomBytes(16 * CHUNK + 123);
const md5 = createHash('md5').update(data).digest('hex');
const sha512 = createHash('sha512').update(data).digest('hex');

/** The data in CHUNK pieces; `failAt` makes the source error before that piece. */
function source(failAt: number | null = null): Readable {
  let index = 0;
  return new Readable({
    read(): void {
      if (index === failAt) {
        this.destroy(new Error('the client went away'));
        return;
      }
      const piece = data.subarray(index * CHUNK, (index + 1) * CHUNK);
      index += 1;
      this.push(piece.length === 0 ? null : piece);
    },
  });
}

/** Calls `fail` on the chunk that holds byte `at` (chunk sizes are the stream's business). */
function atByte(at: number, fail: () => Error): (chunk: Buffer) => Error | null {
  let seen = 0;
  return (chunk) => {
    const holds = seen <= at && at < seen + chunk.length;
    seen += chunk.length;
    return holds ? fail() : null;
  };
}

/** A hashing stream whose transform fails on the chunk holding byte `at`. */
function failingHash(at: number): HashingStream {
  const check = atByte(at, () => new Error('digest failed'));
  return {
    stream: new Transform({
      transform(chunk: Buffer, _encoding, done): void {
        done(check(chunk), chunk);
      },
    }),
    digests: () => Promise.resolve([]),
  };
}

describe('ingest: source → observers → hashing → store', () => {
  let dir: string;
  let store: ImageStore;
  let pool: HashPool;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'glimpse-ingest-'));
    store = await FileStore.open({ id: 'file', datadir: join(dir, 'images'), filePerm: 0, durable: false, directIo: true });
    pool = new HashPool(2);
  });
  after(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = async (): Promise<number> => {
    const objects: unknown[] = [];
    for await (const object of store.list()) objects.push(object);
    return objects.length;
  };
  const request = (overrides: Partial<IngestRequest>): IngestRequest => ({
    imageId: `img-${randomBytes(4).toString('hex')}`,
    source: source(),
    store,
    maxBytes: data.length,
    signal: new AbortController().signal,
    hashing: inlineHashingStream(['md5', 'sha512']),
    observers: [],
    ...overrides,
  });

  it('stores the bytes whole, with their digests, on either hashing (inline or the worker pool)', async () => {
    for (const hashing of [inlineHashingStream(['md5', 'sha512']), pool.hashingStream(['md5', 'sha512'])]) {
      const seen: Buffer[] = [];
      const result = await ingest(request({ hashing, observers: [(chunk) => seen.push(Buffer.from(chunk))] }));
      assert.equal(result.size, data.length);
      assert.deepEqual(result.digests, [md5, sha512]);
      assert.ok(Buffer.concat(seen).equals(data), 'observers see every byte, in order');
      const back: Buffer[] = [];
      for await (const chunk of await store.read(result.location)) back.push(chunk as Buffer);
      assert.ok(Buffer.concat(back).equals(data));
      await store.delete(result.location);
    }
  });

  it('a failure at any stage, at any point, leaves nothing stored and the source undestroyed', async () => {
    const controller = new AbortController();
    const cases: [string, () => IngestRequest, (error: unknown) => boolean][] = [];
    for (const at of [0, 1, 8, 16]) {
      cases.push([`source fails before piece ${at}`, () => request({ source: source(at) }), (e) => e instanceof Error && /went away/.test(e.message)]);
    }
    for (const at of [0, CHUNK, data.length / 2, data.length - 1]) {
      cases.push([
        `an observer fails at byte ${at}`,
        () => {
          const check = atByte(at, () => new Error('not a qcow2'));
          return request({
            observers: [
              (chunk) => {
                const error = check(chunk);
                if (error !== null) throw error;
              },
            ],
          });
        },
        (e) => e instanceof Error && e.message === 'not a qcow2',
      ]);
      cases.push([`hashing fails at byte ${at}`, () => request({ hashing: failingHash(at) }), (e) => e instanceof Error && e.message === 'digest failed']);
    }
    cases.push(['the store refuses one byte past the limit', () => request({ maxBytes: data.length - 1 }), (e) => e instanceof StoreSizeLimitError]);
    cases.push([
      'the caller aborts midway',
      () => {
        const check = atByte(data.length / 2, () => new Error('abort here'));
        return request({
          signal: controller.signal,
          observers: [
            (chunk) => {
              if (check(chunk) !== null) controller.abort();
            },
          ],
        });
      },
      (e) => e instanceof StoreAbortedError,
    ]);
    for (const [what, make, expected] of cases) {
      const req = make();
      await assert.rejects(ingest(req), expected, what);
      assert.equal(await stored(), 0, `${what}: nothing stored`);
      // A source read to its end closes itself; one cut short is left to its owner (the HTTP request).
      if (!what.startsWith('source fails')) assert.ok(req.source.readableEnded || !req.source.destroyed, `${what}: the source is the caller's to close`);
    }
  });
});
