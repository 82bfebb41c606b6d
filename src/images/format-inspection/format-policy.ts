import type { DetectedFormat, InspectionProblem, InspectionResult } from './inspection-types.js';
import { problem, ProblemCode } from './problem-codes.js';

export interface FormatPolicyOptions {
  /** Glance's `[image_format] require_image_format_match`. */
  readonly requireImageFormatMatch: boolean;
  /** Glance's `[image_format] vmdk_allowed_types`. */
  readonly vmdkAllowedTypes: readonly string[];
}

/** Glance's default `vmdk_allowed_types`: the two self-contained sparse layouts. */
export const DEFAULT_VMDK_ALLOWED_TYPES: readonly string[] = ['streamOptimized', 'monolithicSparse'];

// A raw disk may carry a partition table; a fixed VHD is raw data plus a 512-byte footer that a
// raw reader treats as one more sector, so it is acceptable as raw too (see `acceptsAsRaw`).
const RAW_LIKE: readonly DetectedFormat[] = ['raw', 'gpt', 'mbr'];

/**
 * What each declared `disk_format` may contain. `ami`/`ari`/`aki` are raw machine, ramdisk and
 * kernel images. An ISO may be a hybrid disc that also carries an MBR or GPT. Formats absent
 * from this table (`ploop`, site-specific ones) are not checked.
 */
const ACCEPTED: ReadonlyMap<string, readonly DetectedFormat[]> = new Map<string, readonly DetectedFormat[]>([
  ['raw', RAW_LIKE],
  ['ami', RAW_LIKE],
  ['ari', RAW_LIKE],
  ['aki', RAW_LIKE],
  ['iso', ['iso', 'gpt', 'mbr']],
  ['qcow2', ['qcow2']],
  ['vmdk', ['vmdk']],
  ['vhd', ['vhd']],
  ['vhdx', ['vhdx']],
  ['vdi', ['vdi']],
  ['qed', ['qed']],
]);

/**
 * Every reason to refuse an upload declared as `declaredDiskFormat` whose content was inspected
 * as `result`. Safety problems found in the content (backing or data files, external extents,
 * differencing disks, unreadable headers, a VMDK create type outside the allowed list) refuse it
 * whatever `requireImageFormatMatch` says; the format-match rule is added when it is on.
 * An empty list means the upload is acceptable.
 */
export function checkDeclaredFormat(
  result: InspectionResult,
  declaredDiskFormat: string | null | undefined,
  options: FormatPolicyOptions,
): InspectionProblem[] {
  const problems: InspectionProblem[] = [...result.problems];
  if (result.format === 'vmdk') {
    const createType = result.variant;
    if (createType === undefined || !options.vmdkAllowedTypes.includes(createType)) {
      problems.push(
        problem(
          ProblemCode.vmdkDisallowedType,
          createType === undefined ? 'VMDK create type is unknown' : `VMDK create type ${JSON.stringify(createType.slice(0, 64))} is not allowed`,
        ),
      );
    }
  }
  if (options.requireImageFormatMatch && declaredDiskFormat != null) {
    const accepted = ACCEPTED.get(declaredDiskFormat);
    if (accepted !== undefined && !accepted.includes(result.format) && !acceptsAsRaw(accepted, result)) {
      problems.push(problem(ProblemCode.formatMismatch, `Image disk_format is ${declaredDiskFormat} but its content is ${describe(result)}`));
    }
  }
  return problems;
}

function acceptsAsRaw(accepted: readonly DetectedFormat[], result: InspectionResult): boolean {
  return accepted === RAW_LIKE && result.format === 'vhd' && result.variant === 'fixed';
}

function describe(result: InspectionResult): string {
  if (result.format === 'gpt' || result.format === 'mbr') return `raw (with ${result.format.toUpperCase()} partition table)`;
  return result.format;
}
