import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { DIRECT_IO_ALIGNMENT, type AlignedBuffer } from '../../native/native-addon.js';
import type { Chunk } from '../../buffers/chunk-lease.js';

/** Each write hands the device 8 MiB; two buffers let one fill while the other is written. */
const BUFFER_BYTES = 8 * 1024 * 1024;

async function writeFully(handle: FileHandle, buffer: Uint8Array, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, position + done);
    if (bytesWritten <= 0 || bytesWritten % DIRECT_IO_ALIGNMENT !== 0) throw new Error(`direct write stopped after ${done + bytesWritten} of ${length} bytes`);
    done += bytesWritten;
  }
}

/**
 * A Writable that stores what it is given in `handle`, a file opened with O_DIRECT: the bytes
 * go from these buffers to the device without a copy into the page cache, which measured as the
 * largest cost of an upload after the digests (bench/README.md, "Image data"). The last block is
 * padded with zeros and the file then truncated to the true size. The caller closes `handle`.
 *
 * Leased aligned chunks (src/http/socket-body.ts, src/stores/file/region-file-reader.ts) are
 * written as they are, without the copy into these buffers, which are then never allocated.
 */
export function directWriter(handle: FileHandle, allocate: AlignedBuffer): Writable {
  let buffers: readonly [Uint8Array, Uint8Array] | null = null;
  let current: 0 | 1 = 0;
  let filled = 0;
  let position = 0;
  // The write in progress, if any; a buffer is refilled only after its own write has finished.
  let writing: Promise<void> = Promise.resolve();

  /** Writes `length` bytes of `source` next, after the write in progress; `done` runs when it has. */
  const queue = async (source: Uint8Array, length: number, done: () => void): Promise<void> => {
    await writing;
    writing = writeFully(handle, source, length, position).finally(done);
    // Seen by the next write or by finish; this keeps a failure from being "unhandled" meanwhile.
    writing.catch(() => undefined);
    position += length;
  };

  const submit = async (length: number): Promise<void> => {
    if (buffers === null) return;
    await queue(buffers[current], length, () => undefined);
    current = current === 0 ? 1 : 0;
    filled = 0;
  };

  /**
   * The last bytes of an aligned chunk that are less than a block: the end of the file, unless
   * more chunks follow (then they move into the buffers). Kept in a block of their own, so an
   * import whose file is read into aligned regions needs no 16 MiB of buffers for its tail.
   */
  let tail: { block: Uint8Array; length: number } | null = null;

  const take = async (chunk: Chunk): Promise<void> => {
    const lease = chunk.lease;
    if (lease?.directIoAligned === true && filled === 0 && tail === null) {
      const whole = chunk.length - (chunk.length % DIRECT_IO_ALIGNMENT);
      if (whole === chunk.length) {
        // The lease's reference is ours (the last consumer): released once the device has the bytes.
        await queue(chunk, chunk.length, () => {
          lease.release();
        });
        return;
      }
      if (whole > 0) {
        lease.retain();
        await queue(chunk.subarray(0, whole), whole, () => {
          lease.release();
        });
      }
      const block = new Uint8Array(allocate(DIRECT_IO_ALIGNMENT, DIRECT_IO_ALIGNMENT));
      block.set(chunk.subarray(whole));
      tail = { block, length: chunk.length - whole };
      lease.release();
      return;
    }
    buffers ??= [new Uint8Array(allocate(BUFFER_BYTES, DIRECT_IO_ALIGNMENT)), new Uint8Array(allocate(BUFFER_BYTES, DIRECT_IO_ALIGNMENT))];
    if (tail !== null) {
      buffers[current].set(tail.block.subarray(0, tail.length));
      filled = tail.length;
      tail = null;
    }
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(BUFFER_BYTES - filled, chunk.length - offset);
      buffers[current].set(chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === BUFFER_BYTES) await submit(BUFFER_BYTES);
    }
    lease?.release();
  };

  const finish = async (): Promise<void> => {
    if (tail !== null) {
      const size = position + tail.length;
      tail.block.fill(0, tail.length);
      await queue(tail.block, DIRECT_IO_ALIGNMENT, () => undefined);
      await writing;
      await handle.truncate(size);
      return;
    }
    const size = position + filled;
    if (filled > 0 && buffers !== null) {
      const padded = Math.ceil(filled / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT;
      buffers[current].fill(0, filled, padded);
      await submit(padded);
    }
    await writing;
    if (position !== size) await handle.truncate(size);
  };

  return new Writable({
    highWaterMark: BUFFER_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      take(chunk).then(() => {
        callback();
      }, callback);
    },
    final(callback) {
      finish().then(() => {
        callback();
      }, callback);
    },
    destroy(error, callback) {
      // The file must not be closed (and removed) under a write still running in the pool.
      writing.then(
        () => {
          callback(error);
        },
        () => {
          callback(error);
        },
      );
    },
  });
}
