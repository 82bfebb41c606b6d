import { Transform, type TransformCallback } from 'node:stream';
import type { RegionBudget, RegionSession } from './region-budget.js';

/**
 * Gathers a stream's small chunks (a socket's 64 KiB reads of a download) into pooled regions
 * under a budget (region-budget.ts), each full region one leased chunk: the hash threads then
 * read the bytes where they lie and the O_DIRECT writer writes them as they are, where otherwise
 * each would copy them into buffers of its own, per download. One copy, and the memory of all
 * downloads of a process stays within the budget.
 */
export class RegionPacker extends Transform {
  readonly #session: RegionSession;
  readonly #abort = new AbortController();
  #region: Uint8Array<SharedArrayBuffer> | null = null;
  #filled = 0;

  constructor(budget: RegionBudget) {
    super();
    this.#session = budget.session();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pack(chunk).then(() => {
      callback();
    }, callback);
  }

  async #pack(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      this.#region ??= await this.#session.take(this.#abort.signal);
      const region = this.#region;
      const n = Math.min(region.length - this.#filled, chunk.length - offset);
      region.set(chunk.subarray(offset, offset + n), this.#filled);
      this.#filled += n;
      offset += n;
      if (this.#filled === region.length) this.#send();
    }
  }

  #send(): void {
    const region = this.#region;
    if (region === null) return;
    this.#region = null;
    const filled = this.#filled;
    this.#filled = 0;
    if (filled === 0) this.#session.giveBack(region);
    else this.push(this.#session.lend(region, filled));
  }

  override _flush(callback: TransformCallback): void {
    this.#send();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#abort.abort();
    if (this.#region !== null) this.#session.giveBack(this.#region);
    this.#region = null;
    this.#session.close();
    callback(error);
  }
}
