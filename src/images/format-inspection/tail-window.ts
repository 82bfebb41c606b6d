/**
 * The last `size` bytes of a stream, kept in a ring so tiny chunks cost only their own length.
 * A fixed VHD has its only footer there (VHD spec: the 512-byte footer ends the file).
 */
export class TailWindow {
  readonly #ring: Buffer;
  #written = 0;

  constructor(size: number) {
    this.#ring = Buffer.alloc(size);
  }

  push(chunk: Buffer): void {
    const size = this.#ring.length;
    const useful = chunk.length > size ? chunk.subarray(chunk.length - size) : chunk;
    const skipped = chunk.length - useful.length;
    let at = (this.#written + skipped) % size;
    let from = 0;
    while (from < useful.length) {
      const n = Math.min(size - at, useful.length - from);
      useful.copy(this.#ring, at, from, from + n);
      from += n;
      at = (at + n) % size;
    }
    this.#written += chunk.length;
  }

  /** The final `size` bytes in stream order, or undefined if the stream was shorter than that. */
  bytes(): Buffer | undefined {
    const size = this.#ring.length;
    if (this.#written < size) return undefined;
    const start = this.#written % size;
    return Buffer.concat([this.#ring.subarray(start), this.#ring.subarray(0, start)]);
  }
}
