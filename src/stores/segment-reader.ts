import type { Chunk } from '../buffers/chunk-lease.js';

/** A part of a chunk that keeps the chunk's lease: the caller has taken one more reference for it. */
function part(chunk: Chunk, start: number, end: number): Chunk {
  const slice = chunk.subarray(start, end);
  return chunk.lease === undefined ? slice : Object.assign(slice, { lease: chunk.lease });
}

/**
 * Cuts one stream of chunks into consecutive segments of at most `size` bytes each (Swift large
 * objects, S3 multipart parts), without copying: a chunk that straddles a boundary is split into two views of the
 * same memory, each holding a reference to its lease (src/buffers/chunk-lease.ts), so the pooled
 * region goes back only when both halves have been sent.
 */
export class SegmentReader {
  readonly #source: AsyncIterator<Chunk>;
  #held: Chunk | null = null;
  #done = false;

  constructor(source: AsyncIterable<Chunk>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** Whether another byte follows; waits for the next chunk to find out. */
  async more(): Promise<boolean> {
    while (this.#held === null && !this.#done) {
      const next = await this.#source.next();
      if (next.done === true) this.#done = true;
      else if (next.value.length > 0) this.#held = next.value;
      else next.value.lease?.release();
    }
    return this.#held !== null;
  }

  /** The next segment: chunks until `size` bytes or the end of the stream. */
  async *segment(size: number): AsyncGenerator<Chunk> {
    let left = size;
    while (left > 0 && (await this.more())) {
      const chunk = this.#held;
      if (chunk === null) break;
      this.#held = null;
      if (chunk.length <= left) {
        left -= chunk.length;
        yield chunk;
        continue;
      }
      chunk.lease?.retain();
      this.#held = part(chunk, left, chunk.length);
      const head = part(chunk, 0, left);
      left = 0;
      yield head;
    }
  }

  /** Gives back what is held and stops the source (after a failure). */
  async close(): Promise<void> {
    this.#held?.lease?.release();
    this.#held = null;
    if (!this.#done) {
      this.#done = true;
      await this.#source.return?.();
    }
  }
}
