import { readU64LE } from './binary.js';
import type { ByteView, FormatDetection, InspectionProblem } from './inspection-types.js';
import { corruptDetection, problem, ProblemCode } from './problem-codes.js';

// VirtualBox VDI header (little-endian): a 64-byte text banner, then 64 signature u32
// 0xbeda107f · 68 version u32 (0x00010001 for the 1.1 header every current writer uses) ·
// 72 header size · 76 image type u32 (1 normal/dynamic, 2 fixed, 3 undo, 4 differencing) ·
// ... 368 disk size u64 (bytes).
const SIGNATURE_OFFSET = 64;
const SIGNATURE = 0xbeda107f;
const VERSION_1_1 = 0x00010001;
const HEADER_LENGTH = 376;
const IMAGE_TYPES = new Map<number, string>([
  [1, 'dynamic'],
  [2, 'fixed'],
  [3, 'undo'],
  [4, 'differencing'],
]);

export function detectVdi(view: ByteView): FormatDetection | null {
  if (view.read(SIGNATURE_OFFSET, 4)?.readUInt32LE(0) !== SIGNATURE) return null;
  const header = view.read(0, HEADER_LENGTH);
  if (header === undefined) return corruptDetection('vdi', 'VDI header is truncated');
  const version = header.readUInt32LE(68);
  if (version !== VERSION_1_1) return corruptDetection('vdi', `unsupported VDI header version 0x${version.toString(16)}`);
  const imageType = IMAGE_TYPES.get(header.readUInt32LE(76));
  if (imageType === undefined) return corruptDetection('vdi', `unknown VDI image type ${header.readUInt32LE(76)}`);
  const virtualSize = readU64LE(header, 368);
  if (virtualSize === null) return corruptDetection('vdi', 'VDI disk size is out of range');
  const problems: InspectionProblem[] = [];
  // Undo and differencing images only make sense on top of a parent image.
  if (imageType === 'undo' || imageType === 'differencing') {
    problems.push(problem(ProblemCode.vdiDifferencing, `VDI image of type ${imageType} refers to a parent image`));
  }
  return { format: 'vdi', virtualSize, variant: imageType, problems, wants: [] };
}
