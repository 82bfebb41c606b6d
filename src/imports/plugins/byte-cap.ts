import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { ImportPluginError } from './import-plugin-error.js';

/**
 * Counts the bytes a decompressor produces on their way to the output file and fails the
 * pipeline the moment they pass `maxBytes`, so an archive that expands without end (a
 * decompression bomb) stops at the cap instead of filling the disk. Keeps the CRC-32 of what
 * passed as well, which a zip entry is checked against.
 */
export class ByteCap extends Transform {
  #bytes = 0;
  #crc = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly plugin: string,
  ) {
    super();
  }

  get bytes(): number {
    return this.#bytes;
  }

  get crc32(): number {
    return this.#crc;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      done(
        new ImportPluginError(
          this.plugin,
          'SIZE_LIMIT',
          `The image expands past ${this.maxBytes} bytes when decompressed, more than an image may be (image_size_cap); refused as a decompression bomb`,
        ),
      );
      return;
    }
    this.#crc = crc32(chunk, this.#crc);
    done(null, chunk);
  }
}
