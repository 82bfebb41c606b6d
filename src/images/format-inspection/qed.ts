import { isPowerOfTwo, matchesAt, readU64LE } from './binary.js';
import type { ByteView, FormatDetection, InspectionProblem } from './inspection-types.js';
import { corruptDetection, problem, ProblemCode } from './problem-codes.js';

// QED spec (qemu docs/interop/qed_spec.txt), all fields little-endian:
//   0 magic "QED\0" · 4 cluster_size u32 · 8 table_size u32 (clusters) · 12 header_size u32
//   16 features u64 · 24 compat_features u64 · 32 autoclear_features u64 · 40 l1_table_offset u64
//   48 image_size u64 · 56 backing_filename_offset u32 · 60 backing_filename_size u32
const MAGIC = Buffer.from('QED\0', 'latin1');
const HEADER_LENGTH = 64;
// features: bit 0 has a backing file, bit 1 needs a consistency check, bit 2 backing file is raw.
const FEATURE_BACKING_FILE = 1n;
const FEATURES_KNOWN = 0b111n;
// Spec bounds: cluster size a power of two from 4 KiB to 64 MiB; table size 1 to 16 clusters.
const MIN_CLUSTER_SIZE = 4 * 1024;
const MAX_CLUSTER_SIZE = 64 * 1024 * 1024;
const MAX_TABLE_SIZE = 16;

export function detectQed(view: ByteView): FormatDetection | null {
  if (!matchesAt(view, 0, MAGIC)) return null;
  const header = view.read(0, HEADER_LENGTH);
  if (header === undefined) return corruptDetection('qed', 'QED header is truncated');
  const clusterSize = header.readUInt32LE(4);
  const tableSize = header.readUInt32LE(8);
  if (!isPowerOfTwo(clusterSize) || clusterSize < MIN_CLUSTER_SIZE || clusterSize > MAX_CLUSTER_SIZE) {
    return corruptDetection('qed', `QED cluster size ${clusterSize} is invalid`);
  }
  if (!isPowerOfTwo(tableSize) || tableSize > MAX_TABLE_SIZE) return corruptDetection('qed', `QED table size ${tableSize} is invalid`);
  const virtualSize = readU64LE(header, 48);
  if (virtualSize === null) return corruptDetection('qed', 'QED image size is out of range');

  const problems: InspectionProblem[] = [];
  const features = header.readBigUInt64LE(16);
  if ((features & FEATURE_BACKING_FILE) !== 0n) problems.push(problem(ProblemCode.qedBackingFile, 'QED image refers to a backing file'));
  const unknown = features & ~FEATURES_KNOWN;
  if (unknown !== 0n) {
    problems.push(problem(ProblemCode.qedUnknownFeatures, `QED image sets unknown features 0x${unknown.toString(16)}`));
  }
  return { format: 'qed', virtualSize, problems, wants: [] };
}
