import type { DetectedFormat, FormatDetection, InspectionProblem } from './inspection-types.js';

/** The stable problem codes; callers match on these, so they never change meaning. */
export const ProblemCode = {
  /** The header of a recognised format is truncated, inconsistent or out of bounds. */
  corruptHeader: 'corrupt-header',
  /** The content does not match the declared `disk_format`. */
  formatMismatch: 'format-mismatch',
  qcow2BackingFile: 'qcow2-backing-file',
  qcow2DataFile: 'qcow2-data-file',
  /** Incompatible feature bits this inspector does not know how to judge. */
  qcow2UnknownFeatures: 'qcow2-unknown-features',
  vmdkDisallowedType: 'vmdk-disallowed-type',
  /** An extent that lives in another file (FLAT, VMFS*, or a second SPARSE extent). */
  vmdkExtent: 'vmdk-extent',
  /** A `parentFileNameHint`: the VMDK is a delta on top of another file. */
  vmdkBackingFile: 'vmdk-backing-file',
  vhdDifferencing: 'vhd-differencing',
  vhdxDifferencing: 'vhdx-differencing',
  vdiDifferencing: 'vdi-differencing',
  qedBackingFile: 'qed-backing-file',
  qedUnknownFeatures: 'qed-unknown-features',
} as const;

export type ProblemCodeValue = (typeof ProblemCode)[keyof typeof ProblemCode];

export function problem(code: ProblemCodeValue, message: string): InspectionProblem {
  return { code, message };
}

/** A recognised format whose header cannot be trusted. */
export function corruptDetection(format: DetectedFormat, message: string, virtualSize: number | null = null): FormatDetection {
  return { format, virtualSize, problems: [problem(ProblemCode.corruptHeader, message)], wants: [] };
}
