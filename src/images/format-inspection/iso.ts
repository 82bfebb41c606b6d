import { isPowerOfTwo, safeMultiply } from './binary.js';
import type { ByteView, DetectionContext, FormatDetection } from './inspection-types.js';

// ECMA-119 (ISO 9660): the volume descriptor set starts at sector 16 (byte 0x8000) with 2048-byte
// descriptors: type u8, standard identifier "CD001", version u8. The primary volume descriptor
// (type 1) stores the volume space size (blocks) both-endian at 80 (little-endian first) and the
// logical block size both-endian at 128; type 255 terminates the set.
// ECMA-167 (UDF) uses the same area as a volume recognition sequence: "BEA01", "NSR02"/"NSR03",
// "TEA01" descriptors.
const DESCRIPTOR_AREA = 0x8000;
const DESCRIPTOR_LENGTH = 2048;
const ISO9660_ID = Buffer.from('CD001', 'latin1');
const UDF_IDS = [Buffer.from('NSR02', 'latin1'), Buffer.from('NSR03', 'latin1')] as const;
// Where CD001 is looked for: the first three descriptors of the set.
const ISO9660_PROBE_SLOTS = 3;
// How many descriptors we are willing to walk looking for the PVD or a UDF NSR descriptor.
const MAX_DESCRIPTORS = 32;
const TYPE_PRIMARY = 1;
const TYPE_TERMINATOR = 255;
const MIN_BLOCK_SIZE = 512;

export function detectIso(view: ByteView, context: DetectionContext): FormatDetection | null {
  let iso9660 = false;
  for (let slot = 0; slot < ISO9660_PROBE_SLOTS; slot++) {
    if (identifierAt(view, slot)?.equals(ISO9660_ID) === true) iso9660 = true;
  }
  if (iso9660) {
    return { format: 'iso', virtualSize: primaryVolumeSize(view) ?? context.totalSize, variant: 'iso9660', problems: [], wants: [] };
  }
  for (let slot = 0; slot < MAX_DESCRIPTORS; slot++) {
    const id = identifierAt(view, slot);
    if (id === undefined) break;
    if (UDF_IDS.some((udf) => udf.equals(id))) {
      // UDF keeps its size in structures far from here; the disc is raw data, so its size is the file's.
      return { format: 'iso', virtualSize: context.totalSize, variant: 'udf', problems: [], wants: [] };
    }
  }
  return null;
}

function identifierAt(view: ByteView, slot: number): Buffer | undefined {
  return view.read(DESCRIPTOR_AREA + slot * DESCRIPTOR_LENGTH + 1, ISO9660_ID.length);
}

function primaryVolumeSize(view: ByteView): number | null {
  for (let slot = 0; slot < MAX_DESCRIPTORS; slot++) {
    const descriptor = view.read(DESCRIPTOR_AREA + slot * DESCRIPTOR_LENGTH, DESCRIPTOR_LENGTH);
    if (descriptor === undefined) return null;
    const type = descriptor[0];
    if (type === TYPE_TERMINATOR) return null;
    if (type !== TYPE_PRIMARY || !descriptor.subarray(1, 6).equals(ISO9660_ID)) continue;
    const blocks = descriptor.readUInt32LE(80);
    const blockSize = descriptor.readUInt16LE(128);
    if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE) return null;
    return safeMultiply(blocks, blockSize);
  }
  return null;
}
