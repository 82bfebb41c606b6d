import { matchesAt, readU64LE, safeMultiply } from './binary.js';
import type { ByteRange, ByteView, DetectionContext, FormatDetection, InspectionProblem } from './inspection-types.js';
import { corruptDetection, problem, ProblemCode } from './problem-codes.js';
import { descriptorText, findParentHint, parseVmdkDescriptor, type VmdkDescriptor } from './vmdk-descriptor.js';

// VMware "Virtual Disk Format 1.1", hosted sparse extent header (little-endian):
//   0 magic "KDMV" (0x564d444b) · 4 version u32 · 8 flags u32 · 12 capacity u64 (sectors)
//   20 grainSize u64 · 28 descriptorOffset u64 (sectors) · 36 descriptorSize u64 (sectors) ·
//   44 numGTEsPerGT u32 · 48 rgdOffset · 56 gdOffset · 64 overHead u64 · 72 uncleanShutdown u8 ·
//   73 four newline-detection bytes · 77 compressAlgorithm u16.
// The legacy ESX sparse ("COWD") header keeps the capacity as u32 sectors at 12.
const SPARSE_MAGIC = Buffer.from('KDMV', 'latin1');
const COWD_MAGIC = Buffer.from('COWD', 'latin1');
const SPARSE_HEADER_LENGTH = 79;
const COWD_HEADER_LENGTH = 16;
const SECTOR = 512;
// Versions 1 to 3 of the hosted sparse header exist (3 is streamOptimized with zeroed grains).
const MAX_SPARSE_VERSION = 3;
// A descriptor is a few hundred bytes; anything over 1 MiB is not one we will parse.
const MAX_DESCRIPTOR_BYTES = 1024 * 1024;
// Readers that look for a parent hint in a sparse file read a fixed 10 KiB window at sector 1,
// wherever descriptorOffset points; we check that window too.
const PARENT_HINT_WINDOW: ByteRange = { offset: SECTOR, length: 20 * SECTOR };
// A text descriptor is recognised from its first lines.
const TEXT_PROBE_LENGTH = 2048;
const TEXT_SIGNATURE = '# Disk DescriptorFile';

export function detectVmdk(view: ByteView, context: DetectionContext): FormatDetection | null {
  if (matchesAt(view, 0, SPARSE_MAGIC)) return detectHostedSparse(view);
  if (matchesAt(view, 0, COWD_MAGIC)) return detectCowd(view);
  if (looksLikeTextDescriptor(view)) return detectTextDescriptor(view, context);
  return null;
}

function detectHostedSparse(view: ByteView): FormatDetection {
  const header = view.read(0, SPARSE_HEADER_LENGTH);
  if (header === undefined) return corruptDetection('vmdk', 'VMDK sparse header is truncated');
  const version = header.readUInt32LE(4);
  if (version < 1 || version > MAX_SPARSE_VERSION) return corruptDetection('vmdk', `unsupported VMDK sparse version ${version}`);
  const capacity = readU64LE(header, 12);
  const virtualSize = capacity === null ? null : safeMultiply(capacity, SECTOR);
  if (virtualSize === null) return corruptDetection('vmdk', 'VMDK capacity is out of range');
  const descriptorSectors = readU64LE(header, 36);
  const descriptorOffsetSectors = readU64LE(header, 28);

  const problems: InspectionProblem[] = [];
  const parentWindow = readUpTo(view, PARENT_HINT_WINDOW);
  if (parentWindow !== undefined) reportParent(findParentHint(descriptorText(parentWindow)), problems);

  if (descriptorOffsetSectors === 0) {
    // No embedded descriptor: a bare sparse extent, so its create type is unknown.
    return { format: 'vmdk', virtualSize, problems, wants: [] };
  }
  const descriptorOffset = descriptorOffsetSectors === null ? null : safeMultiply(descriptorOffsetSectors, SECTOR);
  const descriptorLength = descriptorSectors === null ? null : safeMultiply(descriptorSectors, SECTOR);
  if (descriptorOffset === null || descriptorLength === null || descriptorLength === 0 || descriptorLength > MAX_DESCRIPTOR_BYTES) {
    problems.push(problem(ProblemCode.corruptHeader, 'VMDK embedded descriptor location or size is invalid'));
    return { format: 'vmdk', virtualSize, problems, wants: [] };
  }
  const range: ByteRange = { offset: descriptorOffset, length: descriptorLength };
  const bytes = view.read(range.offset, range.length);
  if (bytes === undefined) {
    problems.push(problem(ProblemCode.corruptHeader, 'VMDK embedded descriptor is not within the inspected bytes'));
    return { format: 'vmdk', virtualSize, problems, wants: [range] };
  }
  if (!bytes.includes(0)) {
    // Readers take the descriptor as a NUL-terminated string and may read past descriptorSize
    // until they find the NUL; text that fills its whole area could continue with lines we
    // never saw.
    problems.push(problem(ProblemCode.corruptHeader, 'VMDK embedded descriptor is not NUL-terminated within its declared size'));
    return { format: 'vmdk', virtualSize, problems, wants: [] };
  }
  const descriptor = parseVmdkDescriptor(descriptorText(bytes));
  reportParent(descriptor.parentFileNameHint, problems);
  // A sparse file's one SPARSE extent is the file itself. With a zero capacity, though, the
  // header is only a wrapper and the descriptor's extents are opened as separate files.
  reportExternalExtents(descriptor, capacity !== 0, problems);
  return withVariant({ format: 'vmdk', virtualSize, problems, wants: [] }, descriptor.createType);
}

function detectCowd(view: ByteView): FormatDetection {
  const header = view.read(0, COWD_HEADER_LENGTH);
  if (header === undefined) return corruptDetection('vmdk', 'VMDK COWD header is truncated');
  // ESX's COWD files are vmfsSparse deltas; there is no descriptor to read a create type from.
  return { format: 'vmdk', virtualSize: header.readUInt32LE(12) * SECTOR, variant: 'vmfsSparse', problems: [], wants: [] };
}

/** The file starts with the descriptor signature, or its first non-comment line is `version=N`. */
function looksLikeTextDescriptor(view: ByteView): boolean {
  const probe = readUpTo(view, { offset: 0, length: TEXT_PROBE_LENGTH });
  if (probe === undefined) return false;
  const text = probe.toString('latin1');
  if (text.startsWith(TEXT_SIGNATURE)) return true;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    return /^version=[123]$/.test(line);
  }
  return false;
}

function detectTextDescriptor(view: ByteView, context: DetectionContext): FormatDetection {
  if (context.totalSize !== null && context.totalSize > MAX_DESCRIPTOR_BYTES) {
    return corruptDetection('vmdk', 'VMDK descriptor file is larger than 1 MiB');
  }
  const bytes = readUpTo(view, { offset: 0, length: MAX_DESCRIPTOR_BYTES });
  if (bytes === undefined) return corruptDetection('vmdk', 'VMDK descriptor is unreadable');
  const descriptor = parseVmdkDescriptor(descriptorText(bytes));
  const problems: InspectionProblem[] = [];
  reportParent(descriptor.parentFileNameHint, problems);
  // A descriptor-only file holds no data: every extent it names lives in another file.
  reportExternalExtents(descriptor, false, problems);
  // The disk is the concatenation of its extents.
  let sectors: number | null = 0;
  for (const extent of descriptor.extents) {
    sectors = sectors === null || extent.sectors === null ? null : sectors + extent.sectors;
  }
  const virtualSize = sectors === null || !Number.isSafeInteger(sectors) ? null : safeMultiply(sectors, SECTOR);
  return withVariant({ format: 'vmdk', virtualSize, problems, wants: [] }, descriptor.createType);
}

function reportParent(hint: string | null, problems: InspectionProblem[]): void {
  if (hint === null || problems.some((p) => p.code === ProblemCode.vmdkBackingFile)) return;
  problems.push(problem(ProblemCode.vmdkBackingFile, `VMDK descriptor names a parent disk (parentFileNameHint${hint.slice(0, 80)})`));
}

function reportExternalExtents(descriptor: VmdkDescriptor, selfIsFirstSparse: boolean, problems: InspectionProblem[]): void {
  let selfClaimed = !selfIsFirstSparse;
  const external: string[] = [];
  for (const extent of descriptor.extents) {
    if (extent.type === 'ZERO') continue;
    if (!selfClaimed && extent.type === 'SPARSE') {
      selfClaimed = true;
      continue;
    }
    external.push(`${extent.type} "${(extent.fileName ?? '').slice(0, 80)}"`);
  }
  if (external.length === 0) return;
  const examples = external.slice(0, 3).join(', ');
  problems.push(problem(ProblemCode.vmdkExtent, `VMDK has ${external.length} extent(s) stored outside this file: ${examples}`));
}

function withVariant(detection: FormatDetection, createType: string | null): FormatDetection {
  return createType === null || createType === '' ? detection : { ...detection, variant: createType };
}

/** As many bytes of `range` as were kept contiguously from its start (prefix only). */
function readUpTo(view: ByteView, range: ByteRange): Buffer | undefined {
  const length = Math.min(range.length, view.prefixLength - range.offset);
  return length > 0 ? view.read(range.offset, length) : undefined;
}
