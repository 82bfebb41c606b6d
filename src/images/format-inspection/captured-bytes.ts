import type { ByteRange, ByteView } from './inspection-types.js';

interface Region {
  readonly offset: number;
  readonly data: Buffer;
  filled: number;
}

export interface CaptureLimits {
  /** Leading bytes always kept. */
  readonly prefixLimit: number;
  /** No region may end past this offset: how far into the stream detectors may look. */
  readonly windowLimit: number;
  /** Largest single region a detector may ask for. */
  readonly maxRegionLength: number;
  /** Most regions kept at once, and their total size: a hostile header cannot make us hoard. */
  readonly maxRegions: number;
  readonly maxRegionBytes: number;
}

const INITIAL_PREFIX_CAPACITY = 64 * 1024;

/**
 * The bytes of a streaming upload that the inspector keeps: a bounded prefix, plus specific
 * regions further on that detectors asked for before the stream reached them. Everything else
 * is only counted. `consume` stops at every "boundary" (end of the prefix, end of a requested
 * region) and reports it, so whoever plans new requests sees the same state at the same byte
 * offset whatever the chunking of the stream.
 */
export class CapturedBytes implements ByteView {
  #prefix: Buffer = Buffer.alloc(0);
  #prefixLength = 0;
  #position = 0;
  #regionBytes = 0;
  readonly #regions: Region[] = [];
  readonly #limits: CaptureLimits;

  constructor(limits: CaptureLimits) {
    this.#limits = limits;
  }

  /** Number of bytes consumed so far. */
  get position(): number {
    return this.#position;
  }

  get prefixLength(): number {
    return this.#prefixLength;
  }

  read(offset: number, length: number): Buffer | undefined {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) return undefined;
    const end = offset + length;
    if (end <= this.#prefixLength) return this.#prefix.subarray(offset, end);
    for (const region of this.#regions) {
      if (offset >= region.offset && end <= region.offset + region.filled) {
        return region.data.subarray(offset - region.offset, end - region.offset);
      }
    }
    return undefined;
  }

  /**
   * Asks to keep `range` when the stream gets there. Only ranges entirely ahead of the current
   * position can be honoured (bytes already gone are gone); requests over the limits are dropped.
   * Returns whether the range is (or will be) readable.
   */
  request(range: ByteRange): boolean {
    const { offset, length } = range;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0) return false;
    if (this.#covered(offset, length)) return true;
    const limits = this.#limits;
    if (offset < this.#position || offset < limits.prefixLimit) return false;
    if (length > limits.maxRegionLength || offset + length > limits.windowLimit) return false;
    if (this.#regions.length >= limits.maxRegions || this.#regionBytes + length > limits.maxRegionBytes) return false;
    this.#regions.push({ offset, data: Buffer.alloc(length), filled: 0 });
    this.#regionBytes += length;
    return true;
  }

  /**
   * Takes the next chunk of the stream. `onBoundary(offset)` runs each time the position reaches
   * the end of the prefix or of a requested region; it may `request` more regions, which are then
   * filled from the rest of this same chunk.
   */
  consume(chunk: Buffer, onBoundary: (offset: number) => void): void {
    let cursor = 0;
    while (cursor < chunk.length) {
      const boundary = this.#nextBoundary();
      const take = Math.min(chunk.length - cursor, boundary - this.#position);
      const piece = chunk.subarray(cursor, cursor + take);
      this.#keep(piece);
      this.#position += take;
      cursor += take;
      if (this.#position === boundary) onBoundary(boundary);
    }
  }

  #covered(offset: number, length: number): boolean {
    const end = offset + length;
    if (end <= this.#limits.prefixLimit) return true;
    return this.#regions.some((region) => offset >= region.offset && end <= region.offset + region.data.length);
  }

  #nextBoundary(): number {
    let boundary = Number.POSITIVE_INFINITY;
    if (this.#position < this.#limits.prefixLimit) boundary = this.#limits.prefixLimit;
    for (const region of this.#regions) {
      const end = region.offset + region.data.length;
      if (end > this.#position && end < boundary) boundary = end;
    }
    return boundary;
  }

  /** Copies `piece` (which starts at the current position and crosses no boundary) where it is wanted. */
  #keep(piece: Buffer): void {
    const start = this.#position;
    const end = start + piece.length;
    if (start < this.#limits.prefixLimit) {
      this.#growPrefix(end);
      piece.copy(this.#prefix, start);
      this.#prefixLength = end;
    }
    for (const region of this.#regions) {
      const regionEnd = region.offset + region.data.length;
      const from = Math.max(start, region.offset);
      const to = Math.min(end, regionEnd);
      if (from >= to) continue;
      piece.copy(region.data, from - region.offset, from - start, to - start);
      region.filled = to - region.offset;
    }
  }

  #growPrefix(needed: number): void {
    if (needed <= this.#prefix.length) return;
    const capacity = Math.min(this.#limits.prefixLimit, Math.max(needed, INITIAL_PREFIX_CAPACITY, this.#prefix.length * 2));
    const grown = Buffer.alloc(capacity);
    this.#prefix.copy(grown, 0, 0, this.#prefixLength);
    this.#prefix = grown;
  }
}
