import { lend } from './chunk-lease.js';
import { DIRECT_IO_ALIGNMENT, type AlignedOffset } from '../native/native-addon.js';

/**
 * Reusable shared-memory regions for upload bodies. Shared, so hash worker threads read the
 * same bytes without a copy; aligned (when the addon can tell addresses), so the file store
 * writes them with O_DIRECT without a copy. A region comes back through its chunk's lease
 * (src/buffers/chunk-lease.ts); at most `maxFree` idle regions are kept.
 */
export class RegionPool {
  readonly #free: Uint8Array<SharedArrayBuffer>[] = [];

  constructor(
    readonly regionBytes: number,
    private readonly maxFree: number,
    /** The addon's address check, or null: regions are then not known to be aligned. */
    private readonly alignedOffset: AlignedOffset | null,
  ) {}

  /** Whether regions start at aligned addresses. */
  get aligned(): boolean {
    return this.alignedOffset !== null;
  }

  /** An idle region, or a new one. Its bytes are whatever the last user left there. */
  take(): Uint8Array<SharedArrayBuffer> {
    const idle = this.#free.pop();
    if (idle !== undefined) return idle;
    if (this.alignedOffset === null) return new Uint8Array(new SharedArrayBuffer(this.regionBytes));
    // SharedArrayBuffers cannot be allocated aligned: take one a block larger and start inside.
    const whole = new Uint8Array(new SharedArrayBuffer(this.regionBytes + DIRECT_IO_ALIGNMENT));
    return whole.subarray(this.alignedOffset(whole, DIRECT_IO_ALIGNMENT)).subarray(0, this.regionBytes);
  }

  /**
   * The first `length` bytes of `region` as a leased Buffer; the region returns here when freed,
   * and `onFree` (a budget's accounting, src/buffers/region-budget.ts) runs then.
   */
  lend(region: Uint8Array<SharedArrayBuffer>, length: number, onFree?: () => void): Buffer {
    return lend(Buffer.from(region.buffer, region.byteOffset, length), this.aligned, () => {
      if (this.#free.length < this.maxFree) this.#free.push(region);
      onFree?.();
    });
  }

  /** Gives back a region that was never lent. */
  giveBack(region: Uint8Array<SharedArrayBuffer>): void {
    if (this.#free.length < this.maxFree) this.#free.push(region);
  }
}
