import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { RegionBudget, RegionSession } from '../../buffers/region-budget.js';

/**
 * A stored file read into pooled shared regions (src/buffers/region-budget.ts), each region one
 * leased chunk: the hash threads read it where it lies and the O_DIRECT writer writes it as it is,
 * so an import from staging copies each byte once, from the page cache into the region, as an
 * upload read from its socket does (src/http/socket-body.ts). How many regions are in flight is
 * the budget's to say, shared with every other read of this process. Reads `[start, end)`.
 */
export class RegionFileReader extends Readable {
  readonly #handle: FileHandle;
  readonly #session: RegionSession;
  readonly #abort = new AbortController();
  #position: number;
  readonly #end: number;

  constructor(handle: FileHandle, budget: RegionBudget, start: number, end: number) {
    // One region may wait here while the next is read.
    super({ highWaterMark: budget.pool.regionBytes });
    this.#handle = handle;
    this.#session = budget.session();
    this.#position = start;
    this.#end = end;
  }

  override _read(): void {
    this.#readNext().then(
      (chunk) => this.push(chunk),
      (error: unknown) => {
        this.destroy(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  async #readNext(): Promise<Buffer | null> {
    if (this.#position >= this.#end) return null;
    const region = await this.#session.take(this.#abort.signal);
    let filled = 0;
    try {
      const want = Math.min(region.length, this.#end - this.#position);
      while (filled < want) {
        const { bytesRead } = await this.#handle.read(region, filled, want - filled, this.#position + filled);
        if (bytesRead === 0) throw new Error(`the file ended ${this.#end - this.#position - filled} bytes early`);
        filled += bytesRead;
      }
    } catch (error) {
      this.#session.giveBack(region);
      throw error;
    }
    this.#position += filled;
    return this.#session.lend(region, filled);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#abort.abort();
    this.#session.close();
    this.#handle.close().then(
      () => {
        callback(error);
      },
      (closeError: unknown) => {
        callback(error ?? (closeError instanceof Error ? closeError : new Error(String(closeError))));
      },
    );
  }
}
