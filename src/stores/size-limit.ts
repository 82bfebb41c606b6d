import type { Chunk } from '../buffers/chunk-lease.js';
import { StoreSizeLimitError } from './store-errors.js';

/**
 * Counts bytes on their way to a store and fails the moment one too many arrives (every
 * driver's `maxBytes`); `counter.bytes` is the size written once the data ends.
 */
export async function* limited(data: AsyncIterable<Chunk>, maxBytes: number, counter: { bytes: number }): AsyncGenerator<Chunk> {
  for await (const chunk of data) {
    counter.bytes += chunk.length;
    if (counter.bytes > maxBytes) {
      chunk.lease?.release();
      throw new StoreSizeLimitError(`The data is larger than the limit of ${maxBytes} bytes.`);
    }
    yield chunk;
  }
}
