import { guidBytes, matchesAt, readU64LE } from './binary.js';
import type { ByteRange, ByteView, FormatDetection, InspectionProblem } from './inspection-types.js';
import { corruptDetection, problem, ProblemCode } from './problem-codes.js';

// Microsoft [MS-VHDX] (little-endian):
// - File type identifier: signature "vhdxfile" at offset 0.
// - Region tables at 192 KiB and (backup) 256 KiB, 64 KiB each: signature "regi", checksum u32,
//   entry count u32 (<= 2047), reserved u32, then 32-byte entries: GUID, file offset u64,
//   length u32, flags u32. Region offsets and lengths are multiples of 1 MiB.
// - Metadata region: a 64 KiB table, signature "metadata", reserved u16, entry count u16 (<= 2047),
//   20 reserved bytes, then 32-byte entries: item GUID, offset u32 (from the region start, at
//   least 64 KiB), length u32, flags u32, reserved u32.
// - The Virtual Disk Size item is a u64 byte count; a Parent Locator item only exists in a
//   differencing disk.
const SIGNATURE = Buffer.from('vhdxfile', 'latin1');
const REGION_TABLE_OFFSETS = [192 * 1024, 256 * 1024] as const;
const REGION_SIGNATURE = Buffer.from('regi', 'latin1');
const METADATA_SIGNATURE = Buffer.from('metadata', 'latin1');
const TABLE_HEADER_LENGTH = 16;
const METADATA_HEADER_LENGTH = 32;
const ENTRY_LENGTH = 32;
const MAX_ENTRIES = 2047;
const METADATA_TABLE_LENGTH = 64 * 1024;
const MIB = 1024 * 1024;
const METADATA_REGION_GUID = guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const VIRTUAL_DISK_SIZE_GUID = guidBytes('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
const PARENT_LOCATOR_GUID = guidBytes('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');

interface Region {
  readonly offset: number;
  readonly length: number;
}

/**
 * The virtual size sits two indirections away (region table → metadata table → item), usually
 * past the first MiB; what is not yet readable is returned as `wants`, and stays null if the
 * stream never delivers it.
 */
export function detectVhdx(view: ByteView): FormatDetection | null {
  if (!matchesAt(view, 0, SIGNATURE)) return null;
  const metadata = findMetadataRegion(view);
  if (typeof metadata === 'string') return corruptDetection('vhdx', metadata);
  const tableRange: ByteRange = { offset: metadata.offset, length: METADATA_TABLE_LENGTH };
  const table = view.read(tableRange.offset, tableRange.length);
  if (table === undefined) return { format: 'vhdx', virtualSize: null, problems: [], wants: [tableRange] };
  if (!table.subarray(0, METADATA_SIGNATURE.length).equals(METADATA_SIGNATURE)) {
    return corruptDetection('vhdx', 'VHDX metadata table signature is missing');
  }
  const count = table.readUInt16LE(10);
  if (count > MAX_ENTRIES) return corruptDetection('vhdx', `VHDX metadata table has ${count} entries`);

  const problems: InspectionProblem[] = [];
  let sizeItem: Region | null = null;
  for (let index = 0; index < count; index++) {
    const at = METADATA_HEADER_LENGTH + index * ENTRY_LENGTH;
    const id = table.subarray(at, at + 16);
    if (id.equals(PARENT_LOCATOR_GUID)) {
      problems.push(problem(ProblemCode.vhdxDifferencing, 'VHDX is a differencing disk with a parent locator'));
    } else if (id.equals(VIRTUAL_DISK_SIZE_GUID)) {
      sizeItem = { offset: table.readUInt32LE(at + 16), length: table.readUInt32LE(at + 20) };
    }
  }
  if (sizeItem === null) {
    problems.push(problem(ProblemCode.corruptHeader, 'VHDX metadata has no virtual disk size'));
    return { format: 'vhdx', virtualSize: null, problems, wants: [] };
  }
  if (sizeItem.offset < METADATA_TABLE_LENGTH || sizeItem.length !== 8 || sizeItem.offset + sizeItem.length > metadata.length) {
    problems.push(problem(ProblemCode.corruptHeader, 'VHDX virtual disk size item is out of bounds'));
    return { format: 'vhdx', virtualSize: null, problems, wants: [] };
  }
  const valueRange: ByteRange = { offset: metadata.offset + sizeItem.offset, length: 8 };
  const value = view.read(valueRange.offset, valueRange.length);
  if (value === undefined) return { format: 'vhdx', virtualSize: null, problems, wants: [valueRange] };
  const virtualSize = readU64LE(value, 0);
  if (virtualSize === null) problems.push(problem(ProblemCode.corruptHeader, 'VHDX virtual disk size is out of range'));
  return { format: 'vhdx', virtualSize, problems, wants: [] };
}

/** The metadata region from the first region table with a valid signature, or why there is none. */
function findMetadataRegion(view: ByteView): Region | string {
  for (const tableOffset of REGION_TABLE_OFFSETS) {
    const header = view.read(tableOffset, TABLE_HEADER_LENGTH);
    if (header === undefined || !header.subarray(0, 4).equals(REGION_SIGNATURE)) continue;
    const count = header.readUInt32LE(8);
    if (count > MAX_ENTRIES) return `VHDX region table has ${count} entries`;
    const entries = view.read(tableOffset + TABLE_HEADER_LENGTH, count * ENTRY_LENGTH);
    if (entries === undefined) return 'VHDX region table is truncated';
    for (let index = 0; index < count; index++) {
      const at = index * ENTRY_LENGTH;
      if (!entries.subarray(at, at + 16).equals(METADATA_REGION_GUID)) continue;
      const offset = readU64LE(entries, at + 16);
      const length = entries.readUInt32LE(at + 24);
      if (offset === null || offset < MIB || offset % MIB !== 0 || length < METADATA_TABLE_LENGTH) {
        return 'VHDX metadata region location is invalid';
      }
      return { offset, length };
    }
    return 'VHDX region table has no metadata region';
  }
  return 'VHDX region table is missing';
}
