import { CapturedBytes, type CaptureLimits } from './captured-bytes.js';
import { detectFormat } from './detect-format.js';
import type { InspectionResult } from './inspection-types.js';
import { TailWindow } from './tail-window.js';
import { VHD_FOOTER_LENGTH } from './vhd.js';

export type { DetectedFormat, InspectionProblem, InspectionResult } from './inspection-types.js';
export { ProblemCode } from './problem-codes.js';

const MIB = 1024 * 1024;

/**
 * What the inspector keeps of an upload: the first MiB (every header we parse lives there), and
 * at most a few more MiB of regions a header points at (a VHDX metadata table, a VMDK
 * descriptor), none ending past 32 MiB.
 */
export const DEFAULT_CAPTURE_LIMITS: CaptureLimits = {
  prefixLimit: MIB,
  windowLimit: 32 * MIB,
  maxRegionLength: MIB,
  maxRegions: 8,
  maxRegionBytes: 4 * MIB,
};

/**
 * Identifies a disk image from its bytes as they stream in, without ever running an image tool
 * on them. Feed every chunk to `push` in order, then call `result` with the total size.
 * Memory is bounded by `DEFAULT_CAPTURE_LIMITS` plus a 512-byte tail, whatever the image size;
 * the result does not depend on how the stream was chunked.
 */
export class FormatInspector {
  readonly #bytes: CapturedBytes;
  readonly #tail = new TailWindow(VHD_FOOTER_LENGTH);

  constructor(limits: CaptureLimits = DEFAULT_CAPTURE_LIMITS) {
    this.#bytes = new CapturedBytes(limits);
  }

  /** Inspects a whole image held in memory (tests, small uploads). */
  static inspect(image: Buffer): InspectionResult {
    const inspector = new FormatInspector();
    inspector.push(image);
    return inspector.result(image.length);
  }

  /** Bytes pushed so far. */
  get bytesSeen(): number {
    return this.#bytes.position;
  }

  push(data: Uint8Array): void {
    if (data.length === 0) return;
    const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#bytes.consume(chunk, () => {
      this.#plan();
    });
    this.#tail.push(chunk);
  }

  /**
   * The verdict once the stream has ended. `totalSize` is the image size in bytes (normally
   * `bytesSeen`); it is the virtual size of raw images. The trailing footer of a fixed VHD is
   * only trusted when `totalSize` is the number of bytes actually pushed.
   */
  result(totalSize: number): InspectionResult {
    const seen = this.#bytes.position;
    const size = Number.isSafeInteger(totalSize) && totalSize >= 0 ? totalSize : seen;
    const detection = detectFormat(this.#bytes, { totalSize: size, tail: size === seen ? this.#tail.bytes() : undefined });
    const result: InspectionResult = { format: detection.format, virtualSize: detection.virtualSize, problems: detection.problems };
    return detection.variant === undefined ? result : { ...result, variant: detection.variant };
  }

  /**
   * Runs at each capture boundary (end of the prefix, end of a requested region): whatever a
   * detector still needs further on is requested now, so the stream can fill it in passing.
   */
  #plan(): void {
    const detection = detectFormat(this.#bytes, { totalSize: null, tail: undefined });
    for (const range of detection.wants) this.#bytes.request(range);
  }
}
