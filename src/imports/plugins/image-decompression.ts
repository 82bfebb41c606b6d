import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflateRaw } from 'node:zlib';
import { ByteCap } from './byte-cap.js';
import type { ImportPlugin, PluginContext, PluginOutcome, StagedImage } from './import-plugin.js';
import { unchanged } from './import-plugin.js';
import { ImportPluginError, pluginFailure } from './import-plugin-error.js';
import { readSingleZipEntry } from './single-entry-zip.js';
import { discardFile, workFilePath } from './work-file.js';

export interface ImageDecompressionOptions {
  /** `image_size_cap`: the most bytes the decompressed image may have. */
  readonly maxBytes: number;
}

const NAME = 'image_decompression';

export type CompressionKind = 'zip' | 'gzip' | 'lha' | 'none';

/** The magic numbers Glance looks for (reference §9.7): zip `PK\x03\x04`, gzip `\x1f\x8b\x08`, LHA `-lh` at offset 2. */
export function detectCompression(head: Buffer): CompressionKind {
  if (head.length >= 4 && head.readUInt32BE(0) === 0x504b0304) return 'zip';
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 5 && head.toString('latin1', 2, 5) === '-lh') return 'lha';
  return 'none';
}

/**
 * `image_decompression` (reference §9.7): a staged image that is a gzip stream or a one-file zip
 * archive is replaced by its decompressed content; the formats stay as declared. Unlike Glance,
 * the output is capped at `image_size_cap` as it is written, since the archive's own size says
 * nothing about what it expands to.
 */
export function imageDecompressionPlugin(options: ImageDecompressionOptions): ImportPlugin {
  return { name: NAME, run: (staged, context) => decompress(staged, context, options) };
}

async function decompress(staged: StagedImage, context: PluginContext, options: ImageDecompressionOptions): Promise<PluginOutcome> {
  const { signal, log } = context;
  const imageId = context.image.id;
  // The container says the data is meant to stay compressed (Glance skips these as well).
  if (staged.containerFormat === 'compressed') {
    log.info({ imageId }, 'image_decompression: container_format is compressed, leaving the image as it is');
    return unchanged(staged);
  }
  const kind = await readHead(staged.path).then(detectCompression, (error: unknown) => {
    throw pluginFailure(NAME, error, signal, 'Reading the image');
  });
  switch (kind) {
    case 'none':
      return unchanged(staged);
    case 'lha':
      // Glance needs the optional `lhafile` module for these; we have no LHA decoder at all.
      throw new ImportPluginError(NAME, 'UNSUPPORTED_FORMAT', 'The image is an LHA archive; LHA decompression is not supported');
    case 'gzip':
      return await write(staged, context, options, 'gzip', () => ({ source: createReadStream(staged.path), decoder: createGunzip() }));
    case 'zip': {
      const entry = await readSingleZipEntry(staged.path).catch((error: unknown) => {
        throw pluginFailure(NAME, error, signal, 'Reading the zip archive');
      });
      // The central directory tells the size up front; refuse a bomb before writing a byte. The
      // cap on the stream still holds if the directory lies.
      if (entry.uncompressedSize > options.maxBytes) {
        throw new ImportPluginError(
          NAME,
          'SIZE_LIMIT',
          `The zip archive's file is ${entry.uncompressedSize} bytes, more than the ${options.maxBytes} bytes an image may be (image_size_cap); refused as a decompression bomb`,
        );
      }
      const streams = (): { source: Readable; decoder: Transform } => ({
        source:
          entry.compressedSize === 0
            ? Readable.from([])
            : createReadStream(staged.path, { start: entry.dataOffset, end: entry.dataOffset + entry.compressedSize - 1 }),
        decoder: entry.method === 8 ? createInflateRaw() : new PassThrough(),
      });
      return await write(staged, context, options, 'zip', streams, (cap) => {
        if (cap.bytes !== entry.uncompressedSize) {
          throw new ImportPluginError(
            NAME,
            'INVALID_ARCHIVE',
            `The zip archive is corrupt: its file decompressed to ${cap.bytes} bytes, not the ${entry.uncompressedSize} its directory records`,
          );
        }
        if (cap.crc32 !== entry.crc32) throw new ImportPluginError(NAME, 'INVALID_ARCHIVE', 'The zip archive is corrupt: its file fails its CRC-32 check');
      });
    }
  }
}

/**
 * source → decoder → cap → a new file under workDir, as one `stream.pipeline`; on any failure
 * (a corrupt stream, the cap, a cancellation, a full disk) the partial output is removed.
 */
async function write(
  staged: StagedImage,
  context: PluginContext,
  options: ImageDecompressionOptions,
  kind: 'gzip' | 'zip',
  streams: () => { source: Readable; decoder: Transform },
  verify: (cap: ByteCap) => void = () => undefined,
): Promise<PluginOutcome> {
  const { signal } = context;
  const output = workFilePath(context.workDir, context.image.id, 'decompressed');
  const cap = new ByteCap(options.maxBytes, NAME);
  try {
    const { source, decoder } = streams();
    await pipeline(source, decoder, cap, createWriteStream(output, { flags: 'wx' }), { signal }).catch((error: unknown) => {
      throw decodingFailure(error, kind);
    });
    verify(cap);
  } catch (error) {
    await discardFile(output);
    throw pluginFailure(NAME, error, signal, 'Decompressing the image');
  }
  context.log.info({ imageId: context.image.id, kind, from: staged.size, to: cap.bytes }, `image_decompression: decompressed a ${kind} image`);
  return unchanged({ ...staged, path: output, size: cap.bytes });
}

/** zlib's own complaints (truncated or corrupt data) are the archive's fault, and say so. */
function decodingFailure(error: unknown, kind: 'gzip' | 'zip'): unknown {
  if (error instanceof ImportPluginError) return error;
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : '';
  if (code.startsWith('Z_')) {
    const detail = error instanceof Error ? `: ${error.message}` : '';
    return new ImportPluginError(NAME, 'INVALID_ARCHIVE', `The ${kind} data is corrupt or truncated${detail}`, { cause: error });
  }
  return error;
}

async function readHead(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}
