import { matchesAt, readU64BE } from './binary.js';
import type { ByteView, DetectionContext, FormatDetection, InspectionProblem } from './inspection-types.js';
import { corruptDetection, problem, ProblemCode } from './problem-codes.js';

// Microsoft "Virtual Hard Disk Image Format Specification", hard disk footer (512 bytes,
// big-endian): 0 cookie "conectix" · 8 features · 12 file format version · 16 data offset u64 ·
// 40 original size u64 · 48 current size u64 (guest-visible bytes) · 56 geometry ·
// 60 disk type u32 (2 fixed, 3 dynamic, 4 differencing) · 64 checksum u32 (ones' complement of
// the byte sum of the footer without the checksum field).
// Dynamic and differencing disks keep a copy of the footer at offset 0; a fixed disk has it only
// as the last 512 bytes of the file.
export const VHD_FOOTER_LENGTH = 512;
const COOKIE = Buffer.from('conectix', 'latin1');
const DISK_TYPES = new Map<number, string>([
  [2, 'fixed'],
  [3, 'dynamic'],
  [4, 'differencing'],
]);

/** A VHD whose footer copy starts the file (dynamic or differencing disk). */
export function detectVhd(view: ByteView): FormatDetection | null {
  if (!matchesAt(view, 0, COOKIE)) return null;
  const footer = view.read(0, VHD_FOOTER_LENGTH);
  if (footer === undefined) return corruptDetection('vhd', 'VHD footer is truncated');
  return fromFooter(footer);
}

/**
 * A fixed VHD: raw data followed by a footer, recognised only from the end of the stream and
 * only when the footer's checksum holds, so a raw disk is not mistaken for one by accident.
 */
export function detectFixedVhd(_view: ByteView, context: DetectionContext): FormatDetection | null {
  const tail = context.tail;
  if (tail?.length !== VHD_FOOTER_LENGTH || !tail.subarray(0, COOKIE.length).equals(COOKIE)) return null;
  if (footerChecksum(tail) !== tail.readUInt32BE(64)) return null;
  return fromFooter(tail);
}

function fromFooter(footer: Buffer): FormatDetection {
  const diskType = DISK_TYPES.get(footer.readUInt32BE(60));
  if (diskType === undefined) return corruptDetection('vhd', `unknown VHD disk type ${footer.readUInt32BE(60)}`);
  const virtualSize = readU64BE(footer, 48);
  if (virtualSize === null) return corruptDetection('vhd', 'VHD current size is out of range');
  const problems: InspectionProblem[] = [];
  if (diskType === 'differencing') {
    problems.push(problem(ProblemCode.vhdDifferencing, 'VHD is a differencing disk that refers to a parent image'));
  }
  return { format: 'vhd', virtualSize, variant: diskType, problems, wants: [] };
}

function footerChecksum(footer: Buffer): number {
  let sum = 0;
  for (let i = 0; i < footer.length; i++) {
    if (i < 64 || i >= 68) sum += footer[i] ?? 0;
  }
  return ~sum >>> 0;
}
