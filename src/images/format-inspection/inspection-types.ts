/**
 * Shared vocabulary of the disk-image format inspector: what it reports and the narrow view of
 * the upload's bytes the per-format detectors read from.
 */

/** `raw` means nothing was recognised; `gpt` and `mbr` are raw disks that carry a partition table. */
export type DetectedFormat = 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi' | 'iso' | 'qed' | 'gpt' | 'mbr';

/** One reason to distrust an image; `code` is stable (see `ProblemCode`), `message` is for humans. */
export interface InspectionProblem {
  readonly code: string;
  readonly message: string;
}

export interface InspectionResult {
  readonly format: DetectedFormat;
  /** Guest-visible disk size in bytes, or null when the header does not say (or is unreadable). */
  readonly virtualSize: number | null;
  readonly problems: readonly InspectionProblem[];
  /**
   * Sub-format when the container has one and it could be read: the VMDK `createType`
   * (e.g. `monolithicSparse`), the VHD disk type (`fixed` / `dynamic` / `differencing`), the
   * VDI image type, `iso9660` / `udf` for discs. Absent when unknown or not applicable.
   */
  readonly variant?: string;
}

/** A byte span of the upload, absolute offsets. */
export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** What a detector can see of the upload: the kept prefix plus any regions captured on request. */
export interface ByteView {
  /** Bytes [offset, offset + length) if every one of them was kept, otherwise undefined. */
  read(offset: number, length: number): Buffer | undefined;
  /** How many leading bytes are kept contiguously from offset 0. */
  readonly prefixLength: number;
}

export interface DetectionContext {
  /** Total image size once the stream has ended; null while it is still streaming. */
  readonly totalSize: number | null;
  /** The final bytes of the image (a VHD footer's worth) once the stream has ended. */
  readonly tail: Buffer | undefined;
}

/** A detector's verdict on the bytes gathered so far. */
export interface FormatDetection {
  readonly format: DetectedFormat;
  readonly virtualSize: number | null;
  readonly variant?: string;
  readonly problems: readonly InspectionProblem[];
  /** Regions further on in the stream the detector still needs to finish its job. */
  readonly wants: readonly ByteRange[];
}
