import { matchesAt, readU64BE } from './binary.js';
import type { ByteView, FormatDetection, InspectionProblem } from './inspection-types.js';
import { corruptDetection, problem, ProblemCode } from './problem-codes.js';

// qcow2 spec (qemu docs/interop/qcow2.txt), all fields big-endian:
//   0 magic "QFI\xfb" · 4 version (2 or 3) · 8 backing_file_offset u64 · 16 backing_file_size u32
//   20 cluster_bits u32 · 24 size u64 (virtual size in bytes) · ... v2 header ends at 72;
//   v3 adds 72 incompatible_features u64 · 80 compatible · 88 autoclear · 96 refcount_order ·
//   100 header_length u32 (>= 104, multiple of 8).
const MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);
const V2_HEADER_LENGTH = 72;
const V3_MIN_HEADER_LENGTH = 104;
// The spec bounds cluster_bits to 9..21 (512 B to 2 MiB clusters).
const MIN_CLUSTER_BITS = 9;
const MAX_CLUSTER_BITS = 21;
// Incompatible feature bits: 0 dirty, 1 corrupt, 2 external data file, 3 compression type,
// 4 extended L2 entries. Anything else is a feature we cannot vouch for.
const INCOMPATIBLE_EXTERNAL_DATA_FILE = 1n << 2n;
const INCOMPATIBLE_KNOWN = 0b11111n;
// Header extensions follow the header inside the first cluster: u32 type, u32 length, data padded
// to 8 bytes; type 0 ends the list. 0x44415441 ("DATA") names the external data file.
const EXTENSION_END = 0;
const EXTENSION_DATA_FILE = 0x44415441;
// A real image carries a handful of extensions; a hostile one must not make us walk forever.
const MAX_EXTENSIONS = 64;

export function detectQcow2(view: ByteView): FormatDetection | null {
  if (!matchesAt(view, 0, MAGIC)) return null;
  const header = view.read(0, V2_HEADER_LENGTH);
  if (header === undefined) return corruptDetection('qcow2', 'qcow2 header is truncated');
  const version = header.readUInt32BE(4);
  if (version !== 2 && version !== 3) return corruptDetection('qcow2', `unsupported qcow2 version ${version}`);
  const clusterBits = header.readUInt32BE(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    return corruptDetection('qcow2', `qcow2 cluster_bits ${clusterBits} is out of range`);
  }
  const clusterSize = 2 ** clusterBits;
  const virtualSize = readU64BE(header, 24);
  if (virtualSize === null) return corruptDetection('qcow2', 'qcow2 virtual size is out of range');

  const problems: InspectionProblem[] = [];
  let dataFileReported = false;
  const reportDataFile = (why: string) => {
    if (dataFileReported) return;
    dataFileReported = true;
    problems.push(problem(ProblemCode.qcow2DataFile, `qcow2 image uses an external data file (${why})`));
  };
  if (header.readBigUInt64BE(8) !== 0n) {
    problems.push(problem(ProblemCode.qcow2BackingFile, 'qcow2 image refers to a backing file'));
  }

  let headerLength = V2_HEADER_LENGTH;
  if (version === 3) {
    const v3 = view.read(0, V3_MIN_HEADER_LENGTH);
    if (v3 === undefined) return corruptDetection('qcow2', 'qcow2 version 3 header is truncated', virtualSize);
    const incompatible = v3.readBigUInt64BE(72);
    if ((incompatible & INCOMPATIBLE_EXTERNAL_DATA_FILE) !== 0n) reportDataFile('incompatible feature bit 2');
    const unknown = incompatible & ~INCOMPATIBLE_KNOWN;
    if (unknown !== 0n) {
      problems.push(problem(ProblemCode.qcow2UnknownFeatures, `qcow2 image sets unknown incompatible features 0x${unknown.toString(16)}`));
    }
    headerLength = v3.readUInt32BE(100);
    if (headerLength < V3_MIN_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > clusterSize) {
      problems.push(problem(ProblemCode.corruptHeader, `qcow2 header_length ${headerLength} is invalid`));
      return { format: 'qcow2', virtualSize, variant: 'v3', problems, wants: [] };
    }
  }

  const walk = walkExtensions(view, headerLength, clusterSize);
  if (walk.dataFile) reportDataFile('header extension 0x44415441');
  if (walk.corrupt !== null) problems.push(problem(ProblemCode.corruptHeader, walk.corrupt));
  return { format: 'qcow2', virtualSize, variant: `v${version}`, problems, wants: [] };
}

interface ExtensionWalk {
  readonly dataFile: boolean;
  readonly corrupt: string | null;
}

function walkExtensions(view: ByteView, start: number, clusterSize: number): ExtensionWalk {
  let dataFile = false;
  let offset = start;
  for (let index = 0; index < MAX_EXTENSIONS; index++) {
    const entry = view.read(offset, 8);
    if (entry === undefined) return { dataFile, corrupt: 'qcow2 header extensions are truncated' };
    const type = entry.readUInt32BE(0);
    if (type === EXTENSION_END) return { dataFile, corrupt: null };
    if (type === EXTENSION_DATA_FILE) dataFile = true;
    const length = entry.readUInt32BE(4);
    const next = offset + 8 + Math.ceil(length / 8) * 8;
    if (next > clusterSize) return { dataFile, corrupt: 'qcow2 header extension runs past the first cluster' };
    offset = next;
  }
  return { dataFile, corrupt: `qcow2 image has more than ${MAX_EXTENSIONS} header extensions` };
}
