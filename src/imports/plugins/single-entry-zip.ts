import { open, type FileHandle } from 'node:fs/promises';
import { ImportPluginError } from './import-plugin-error.js';

/** The one file of a zip archive, as the central directory describes it. */
export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflate. */
  readonly method: 0 | 8;
  /** Where the entry's compressed bytes start in the archive. */
  readonly dataOffset: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly crc32: number;
}

const PLUGIN = 'image_decompression';

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_LENGTH = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_LENGTH = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_LENGTH = 56;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const CENTRAL_HEADER_LENGTH = 46;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_LENGTH = 30;
const ZIP64_EXTRA_ID = 0x0001;
/** The end record sits within the last 22 bytes plus a comment of at most 65535. */
const MAX_EOCD_SEARCH = EOCD_LENGTH + 0xffff;
/** One central header with its name, extra field and comment, at most. */
const MAX_CENTRAL_ENTRY = CENTRAL_HEADER_LENGTH + 3 * 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/**
 * Reads where the single file of a zip archive lives, from the archive's own index (the central
 * directory at its end), without reading the data. Glance extracts with Python's zipfile and
 * insists on exactly one member (reference §9.7); the central directory is what zipfile counts,
 * so we count the same way. Sizes come from the central directory, which is always complete, not
 * from the local header, which a streamed archive leaves empty (bit 3, a data descriptor after
 * the data). Zip64 is read, since a disk image is often past 4 GiB. Encrypted entries and
 * methods other than stored and deflate are refused.
 */
export async function readSingleZipEntry(path: string): Promise<ZipEntry> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const directory = await readDirectoryLocation(file, size);
    if (directory.entries !== 1) {
      throw invalid(`The zip archive holds ${directory.entries} files; only an archive of exactly one file can be imported`);
    }
    const central = await readAt(file, directory.offset, Math.min(MAX_CENTRAL_ENTRY, directory.size, size - directory.offset));
    return await readEntry(file, central, directory.size, size);
  } finally {
    await file.close();
  }
}

interface DirectoryLocation {
  readonly entries: number;
  readonly offset: number;
  readonly size: number;
}

async function readDirectoryLocation(file: FileHandle, size: number): Promise<DirectoryLocation> {
  if (size < EOCD_LENGTH) throw invalid('The zip archive is truncated: it has no end of central directory record');
  const searchLength = Math.min(size, MAX_EOCD_SEARCH);
  const searchStart = size - searchLength;
  const tail = await readAt(file, searchStart, searchLength);
  // The last signature whose comment length reaches exactly to the end of the file, so a
  // signature-looking sequence inside the comment or the data is not taken for the record.
  let at = -1;
  for (let i = tail.length - EOCD_LENGTH; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE && i + EOCD_LENGTH + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw invalid('The zip archive has no end of central directory record');
  const disk = tail.readUInt16LE(at + 4);
  const directoryDisk = tail.readUInt16LE(at + 6);
  const entriesOnDisk = tail.readUInt16LE(at + 8);
  const entries = tail.readUInt16LE(at + 10);
  const directorySize = tail.readUInt32LE(at + 12);
  const directoryOffset = tail.readUInt32LE(at + 16);
  const zip64 = entries === U16_MAX || entriesOnDisk === U16_MAX || directorySize === U32_MAX || directoryOffset === U32_MAX;
  const record = searchStart + at;
  const location = zip64
    ? await readZip64Location(file, record)
    : { disk, directoryDisk, entriesOnDisk, entries, size: directorySize, offset: directoryOffset };
  if (location.disk !== 0 || location.directoryDisk !== 0 || location.entriesOnDisk !== location.entries) {
    throw invalid('The zip archive spans several disks, which is not supported');
  }
  if (location.offset + location.size > record) throw invalid('The zip archive is corrupt: its central directory lies past its end');
  return { entries: location.entries, offset: location.offset, size: location.size };
}

async function readZip64Location(
  file: FileHandle,
  record: number,
): Promise<{ disk: number; directoryDisk: number; entriesOnDisk: number; entries: number; size: number; offset: number }> {
  if (record < ZIP64_LOCATOR_LENGTH) throw invalid('The zip archive is corrupt: its zip64 locator is missing');
  const locator = await readAt(file, record - ZIP64_LOCATOR_LENGTH, ZIP64_LOCATOR_LENGTH);
  if (locator.readUInt32LE(0) !== ZIP64_LOCATOR_SIGNATURE) throw invalid('The zip archive is corrupt: its zip64 locator is missing');
  const recordOffset = safe(locator.readBigUInt64LE(8));
  if (recordOffset + ZIP64_EOCD_LENGTH > record) throw invalid('The zip archive is corrupt: its zip64 end record lies past its end');
  const end = await readAt(file, recordOffset, ZIP64_EOCD_LENGTH);
  if (end.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw invalid('The zip archive is corrupt: its zip64 end record is missing');
  return {
    disk: end.readUInt32LE(16),
    directoryDisk: end.readUInt32LE(20),
    entriesOnDisk: safe(end.readBigUInt64LE(24)),
    entries: safe(end.readBigUInt64LE(32)),
    size: safe(end.readBigUInt64LE(40)),
    offset: safe(end.readBigUInt64LE(48)),
  };
}

async function readEntry(file: FileHandle, central: Buffer, directorySize: number, archiveSize: number): Promise<ZipEntry> {
  if (central.length < CENTRAL_HEADER_LENGTH || central.readUInt32LE(0) !== CENTRAL_HEADER_SIGNATURE) {
    throw invalid('The zip archive is corrupt: its central directory entry is unreadable');
  }
  const flags = central.readUInt16LE(8);
  const method = central.readUInt16LE(10);
  const crc32 = central.readUInt32LE(16);
  let compressedSize = central.readUInt32LE(20);
  let uncompressedSize = central.readUInt32LE(24);
  const nameLength = central.readUInt16LE(28);
  const extraLength = central.readUInt16LE(30);
  const commentLength = central.readUInt16LE(32);
  let localOffset = central.readUInt32LE(42);
  if (CENTRAL_HEADER_LENGTH + nameLength + extraLength > central.length) throw invalid('The zip archive is corrupt: its central directory entry is truncated');
  // zipfile lists every header the directory holds, whatever the end record counts; one header
  // that fills the whole directory is what "exactly one file" means to it.
  if (CENTRAL_HEADER_LENGTH + nameLength + extraLength + commentLength !== directorySize) {
    throw invalid('The zip archive is corrupt: its central directory does not hold exactly the one file its end record counts');
  }
  const name = central.toString('utf8', CENTRAL_HEADER_LENGTH, CENTRAL_HEADER_LENGTH + nameLength);
  const extra = central.subarray(CENTRAL_HEADER_LENGTH + nameLength, CENTRAL_HEADER_LENGTH + nameLength + extraLength);

  // Zip64 keeps, in order, only the values the fixed fields mark as 0xffffffff.
  if (uncompressedSize === U32_MAX || compressedSize === U32_MAX || localOffset === U32_MAX) {
    const zip64 = findExtra(extra, ZIP64_EXTRA_ID);
    if (zip64 === undefined) throw invalid('The zip archive is corrupt: a zip64 entry has no zip64 sizes');
    let at = 0;
    const next = (): number => {
      if (at + 8 > zip64.length) throw invalid('The zip archive is corrupt: its zip64 sizes are truncated');
      const value = safe(zip64.readBigUInt64LE(at));
      at += 8;
      return value;
    };
    if (uncompressedSize === U32_MAX) uncompressedSize = next();
    if (compressedSize === U32_MAX) compressedSize = next();
    if (localOffset === U32_MAX) localOffset = next();
  }

  if ((flags & 0x0001) !== 0 || (flags & 0x0040) !== 0) throw unsupported('The zip archive is encrypted, which is not supported');
  if (method !== 0 && method !== 8) throw unsupported(`The zip archive uses compression method ${method}; only stored (0) and deflate (8) are supported`);
  if (name.endsWith('/')) throw invalid('The only entry of the zip archive is a directory, not a file');

  if (localOffset + LOCAL_HEADER_LENGTH > archiveSize) throw invalid('The zip archive is corrupt: its file header lies past its end');
  const local = await readAt(file, localOffset, LOCAL_HEADER_LENGTH);
  if (local.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) throw invalid('The zip archive is corrupt: its file header is missing');
  const dataOffset = localOffset + LOCAL_HEADER_LENGTH + local.readUInt16LE(26) + local.readUInt16LE(28);
  if (dataOffset + compressedSize > archiveSize) throw invalid('The zip archive is corrupt: its file data runs past its end');
  return { name, method, dataOffset, compressedSize, uncompressedSize, crc32 };
}

function findExtra(extra: Buffer, id: number): Buffer | undefined {
  for (let at = 0; at + 4 <= extra.length;) {
    const length = extra.readUInt16LE(at + 2);
    if (extra.readUInt16LE(at) === id) return extra.subarray(at + 4, Math.min(extra.length, at + 4 + length));
    at += 4 + length;
  }
  return undefined;
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(Math.max(0, length));
  const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
  if (bytesRead !== buffer.length) throw invalid('The zip archive is truncated');
  return buffer;
}

/** A 64-bit field as a number; any real archive fits in 2^53 bytes. */
function safe(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('The zip archive is corrupt: a size or offset is out of range');
  return Number(value);
}

function invalid(message: string): ImportPluginError {
  return new ImportPluginError(PLUGIN, 'INVALID_ARCHIVE', message);
}

function unsupported(message: string): ImportPluginError {
  return new ImportPluginError(PLUGIN, 'UNSUPPORTED_FORMAT', message);
}
