import { matchesAt } from './binary.js';
import type { ByteView, DetectionContext, FormatDetection } from './inspection-types.js';

// UEFI spec, GUID Partition Table: the header in LBA 1 starts with the signature "EFI PART"
// followed by revision u32 and header size u32 (92 bytes in revision 1.0). LBA 1 is byte 512 on
// 512-byte-sector disks and byte 4096 on 4K-native disks.
const GPT_SIGNATURE = Buffer.from('EFI PART', 'latin1');
const GPT_HEADER_OFFSETS = [512, 4096] as const;
const GPT_MIN_HEADER_SIZE = 92;
// Classic MBR: four 16-byte partition entries at 446 (status u8: 0x00 or 0x80 when bootable;
// partition type u8 at +4) and the boot signature 0x55 0xAA at 510.
const MBR_ENTRIES_OFFSET = 446;
const MBR_ENTRY_LENGTH = 16;
const MBR_ENTRY_COUNT = 4;
const MBR_SIGNATURE_OFFSET = 510;

/** A raw disk with a GPT. Its guest-visible size is the file's. */
export function detectGpt(view: ByteView, context: DetectionContext): FormatDetection | null {
  for (const offset of GPT_HEADER_OFFSETS) {
    if (!matchesAt(view, offset, GPT_SIGNATURE)) continue;
    const headerSize = view.read(offset + 12, 4)?.readUInt32LE(0);
    if (headerSize === undefined || headerSize < GPT_MIN_HEADER_SIZE || headerSize > offset) continue;
    return { format: 'gpt', virtualSize: context.totalSize, problems: [], wants: [] };
  }
  return null;
}

/**
 * A raw disk with an MBR: the boot signature alone also ends every FAT boot sector, so we want
 * all four entries to carry a valid status byte and at least one to be a used partition.
 */
export function detectMbr(view: ByteView, context: DetectionContext): FormatDetection | null {
  const sector = view.read(0, MBR_SIGNATURE_OFFSET + 2);
  if (sector?.[MBR_SIGNATURE_OFFSET] !== 0x55 || sector[MBR_SIGNATURE_OFFSET + 1] !== 0xaa) return null;
  let used = 0;
  for (let index = 0; index < MBR_ENTRY_COUNT; index++) {
    const at = MBR_ENTRIES_OFFSET + index * MBR_ENTRY_LENGTH;
    const status = sector[at];
    if (status !== 0x00 && status !== 0x80) return null;
    if (sector[at + 4] !== 0) used++;
  }
  return used > 0 ? { format: 'mbr', virtualSize: context.totalSize, problems: [], wants: [] } : null;
}
