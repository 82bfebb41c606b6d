import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { constants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { alignedBuffer, DIRECT_IO_ALIGNMENT } from '../../../src/native/native-addon.js';
import { lend } from '../../../src/buffers/chunk-lease.js';
import { directWriter } from '../../../src/stores/file/direct-writer.js';

const MIB = 1024 * 1024;
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Chunks of uneven sizes, as a socket delivers them. */
function* uneven(data: Buffer): Generator<Buffer> {
  let at = 0;
  let n = 7;
  while (at < data.length) {
    n = (n * 1103515245 + 12345) % 2147483648;
    const size = 1 + (n % (3 * MIB));
    yield data.subarray(at, at + size);
    at += size;
  }
}

describe('direct writer (O_DIRECT from aligned buffers)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-direct-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives aligned memory', () => {
    const allocate = alignedBuffer;
    assert.ok(allocate !== null, 'the native addon is built');
    const buffer = allocate(DIRECT_IO_ALIGNMENT * 3, DIRECT_IO_ALIGNMENT);
    assert.equal(buffer.byteLength, DIRECT_IO_ALIGNMENT * 3);
    assert.throws(() => allocate(4096, 3000), RangeError);
    assert.throws(() => allocate(0, 4096), RangeError);
  });

  // Around the 4 KiB block and the 8 MiB buffer: empty, partial block, exact buffers, one over.
  for (const size of [0, 1, 4095, 4096, 8 * MIB - 1, 8 * MIB, 8 * MIB + 1, 16 * MIB, 24 * MIB + 4097]) {
    it(`stores ${size} bytes exactly, with the true size`, async () => {
      assert.ok(alignedBuffer !== null);
      const data = randomBytes(size);
      const path = join(dir, `image-${size}`);
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
      try {
        await pipeline(Readable.from(uneven(data)), directWriter(handle, alignedBuffer));
      } finally {
        await handle.close();
      }
      assert.equal(statSync(path).size, size);
      assert.equal(sha(readFileSync(path)), sha(data));
    });
  }

  it('fails with its source, after the write in flight has finished', async () => {
    assert.ok(alignedBuffer !== null);
    const path = join(dir, 'broken');
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
    async function* breaksAfter10MiB(): AsyncGenerator<Buffer> {
      yield randomBytes(10 * MIB);
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('client went away');
    }
    try {
      await assert.rejects(pipeline(breaksAfter10MiB(), directWriter(handle, alignedBuffer)), /client went away/);
    } finally {
      // Closing must not race a write still running in the thread pool (it would fail with EBADF).
      await handle.close();
    }
    assert.equal(statSync(path).size, 8 * MIB, 'the one full buffer was written; the caller removes the file');
  });

  /**
   * Writes leased aligned chunks of these sizes (each at the start of its own aligned buffer) and
   * checks the file; the indexes of the chunks released, in order of index.
   */
  async function writeLeased(name: string, sizes: readonly number[]): Promise<number[]> {
    const allocate = alignedBuffer;
    assert.ok(allocate !== null);
    const data = randomBytes(sizes.reduce((a, b) => a + b, 0));
    const released: number[] = [];
    const chunks: Buffer[] = [];
    let at = 0;
    for (const [index, size] of sizes.entries()) {
      const piece = Buffer.from(allocate(MIB, DIRECT_IO_ALIGNMENT), 0, size);
      data.copy(piece, 0, at, at + size);
      at += size;
      chunks.push(lend(piece, true, () => released.push(index)));
    }
    const path = join(dir, name);
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
    try {
      await pipeline(Readable.from(chunks), directWriter(handle, allocate));
    } finally {
      await handle.close();
    }
    assert.equal(statSync(path).size, data.length);
    assert.equal(sha(readFileSync(path)), sha(data));
    return released.sort((a, b) => a - b);
  }

  it('writes leased aligned chunks as they are, releasing each once the device has it', async () => {
    // Whole aligned megabytes go to the device from where they are; the short tail is copied and padded.
    assert.deepEqual(await writeLeased('leased', [MIB, MIB, MIB, MIB, MIB, 1234]), [0, 1, 2, 3, 4, 5]);
  });

  it('writes the whole blocks of a short aligned chunk as they are, and keeps its tail aside until it is known to be the last', async () => {
    // A region, a short one (one block and 904 bytes), a region after it, a short last one.
    assert.deepEqual(await writeLeased('short-aligned', [MIB, 5000, MIB, 3000]), [0, 1, 2, 3]);
  });
});
