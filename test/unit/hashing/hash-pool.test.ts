import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { HashPool } from '../../../src/hashing/hash-pool.js';
import { lend, type Chunk } from '../../../src/buffers/chunk-lease.js';

function chunks(data: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  let n = seed;
  while (at < data.length) {
    n = (n * 1103515245 + 12345) % 2147483648;
    const size = 1 + (n % 300_000);
    out.push(data.subarray(at, at + size));
    at += size;
  }
  return out;
}

async function hashThrough(pool: HashPool, data: Buffer, algorithms: readonly string[], seed = 1): Promise<{ digests: string[]; passed: Buffer }> {
  const { stream, digests } = pool.hashingStream(algorithms);
  const received: Buffer[] = [];
  await pipeline(
    Readable.from(chunks(data, seed)),
    stream,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        received.push(chunk);
        cb();
      },
    }),
  );
  return { digests: await digests(), passed: Buffer.concat(received) };
}

describe('hash pool (worker-thread hashing of upload streams)', () => {
  const pool = new HashPool(2);
  after(async () => {
    await pool.close();
  });

  it('gives the digests node:crypto gives, and passes every byte through unchanged', async () => {
    for (const size of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 3 * 1024 * 1024 + 5, 40 * 1024 * 1024]) {
      const data = randomBytes(size);
      const { digests, passed } = await hashThrough(pool, data, ['md5', 'sha512'], size + 3);
      assert.deepEqual(digests, [createHash('md5').update(data).digest('hex'), createHash('sha512').update(data).digest('hex')], `size ${size}`);
      assert.ok(passed.equals(data));
    }
  });

  it('runs concurrent streams without mixing them up', async () => {
    const inputs = Array.from({ length: 6 }, (_, i) => randomBytes(2 * 1024 * 1024 + i));
    const results = await Promise.all(inputs.map((data, i) => hashThrough(pool, data, ['sha256', 'md5'], i + 11)));
    results.forEach((r, i) => {
      const data = inputs[i]!;
      assert.deepEqual(r.digests, [createHash('sha256').update(data).digest('hex'), createHash('md5').update(data).digest('hex')]);
    });
  });

  it('rejects an unknown algorithm and does not hang', async () => {
    await assert.rejects(hashThrough(pool, randomBytes(3 * 1024 * 1024), ['md5', 'no-such-hash']), /Digest method not supported|Invalid digest/i);
  });

  it('a destroyed stream rejects its digests and frees the pool for the next', async () => {
    const { stream, digests } = pool.hashingStream(['md5']);
    stream.on('error', () => undefined); // the error a pipeline would see
    stream.write(randomBytes(2 * 1024 * 1024));
    stream.destroy(new Error('client went away'));
    await assert.rejects(digests(), /hashing cancelled/);
    const data = randomBytes(100);
    assert.deepEqual((await hashThrough(pool, data, ['md5'])).digests, [createHash('md5').update(data).digest('hex')]);
  });

  it('hashes leased chunks in shared memory in place, in order, releasing each once every digest has it', async () => {
    const MIB = 1024 * 1024;
    const data = randomBytes(6 * MIB + 777);
    const released: number[] = [];
    // An ordinary chunk first and last: they go through the pool's own buffers, in order with the rest.
    const chunks: Buffer[] = [data.subarray(0, 100)];
    for (let at = 100; at < data.length - 50; at += MIB) {
      const piece = Buffer.from(new SharedArrayBuffer(MIB), 0, Math.min(MIB, data.length - 50 - at));
      data.copy(piece, 0, at, at + piece.length);
      const index = chunks.length;
      chunks.push(lend(piece, false, () => released.push(index)));
    }
    chunks.push(data.subarray(data.length - 50));
    const { stream, digests } = pool.hashingStream(['md5', 'sha512']);
    // The last consumer releases its reference at once; the hash threads hold theirs until hashed.
    await pipeline(
      Readable.from(chunks),
      stream,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          (chunk as Chunk).lease?.release();
          cb();
        },
      }),
    );
    assert.deepEqual(await digests(), [createHash('md5').update(data).digest('hex'), createHash('sha512').update(data).digest('hex')]);
    assert.deepEqual(
      released.sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7],
    );
  });
});
