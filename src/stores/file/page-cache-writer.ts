import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { Chunk } from '../../buffers/chunk-lease.js';

/**
 * What may wait to be written before the writer asks its source to pause: enough to gather a
 * socket's 64 KiB reads into writes of a megabyte, and little per import when many run at once
 * and the kernel holds writes back (dirty-page throttling).
 */
const BUFFER_BYTES = 1024 * 1024;

/** Writes every byte of `buffers` at `position`, however the kernel splits the writes. */
async function writevFully(handle: FileHandle, buffers: readonly Uint8Array[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev([...rest], at);
    if (bytesWritten <= 0) throw new Error(`write stopped at byte ${at}`);
    at += bytesWritten;
    let skip = bytesWritten;
    const left: Uint8Array[] = [];
    for (const buffer of rest) {
      if (skip >= buffer.length) skip -= buffer.length;
      else {
        left.push(skip > 0 ? buffer.subarray(skip) : buffer);
        skip = 0;
      }
    }
    rest = left;
  }
}

/**
 * A Writable that stores what it is given in `handle` through the page cache, gathering what
 * has queued up into one writev (as fs.WriteStream does), and releasing each leased chunk once
 * its bytes are written (src/buffers/chunk-lease.ts: the store's writer is the last holder),
 * which fs.WriteStream knows nothing of. The caller closes `handle`.
 */
export function pageCacheWriter(handle: FileHandle): Writable {
  let position = 0;
  const written = (chunks: readonly Chunk[]): void => {
    for (const chunk of chunks) chunk.lease?.release();
  };
  return new Writable({
    highWaterMark: BUFFER_BYTES,
    writev(queued: { chunk: Chunk }[], callback) {
      const chunks = queued.map((q) => q.chunk);
      const bytes = chunks.reduce((sum, c) => sum + c.length, 0);
      writevFully(handle, chunks, position).then(
        () => {
          position += bytes;
          written(chunks);
          callback();
        },
        (error: unknown) => {
          callback(error instanceof Error ? error : new Error(String(error)));
        },
      );
    },
  });
}
