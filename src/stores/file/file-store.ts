import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, link, mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { alignedBuffer, type AlignedBuffer } from '../../native/native-addon.js';
import type { Chunk } from '../../buffers/chunk-lease.js';
import { directWriter } from './direct-writer.js';
import { pageCacheWriter } from './page-cache-writer.js';
import { RegionFileReader } from './region-file-reader.js';
import { limited } from '../size-limit.js';
import type { RegionBudget } from '../../buffers/region-budget.js';
import type { ImageStore, LocalFile, StoreCapabilities, StoredObject, StoreReadOptions, StoreWriteOptions, StoreWriteResult } from '../image-store.js';
import {
  StoreAbortedError,
  StoreDuplicateError,
  StoreError,
  StoreFullError,
  StoreNotFoundError,
  StoreRangeError,
  StoreUnavailableError,
  StoreWriteDeniedError,
} from '../store-errors.js';

const READ_CHUNK = 1024 * 1024;

export interface FileStoreOptions {
  readonly id: string;
  /** `filesystem_store_datadir`; created when missing. */
  readonly datadir: string;
  /** `filesystem_store_file_perm` read as octal (e.g. 640); 0 keeps the process umask. */
  readonly filePerm: number;
  /** Flush file and directory to disk before a write reports success. */
  readonly durable: boolean;
  /**
   * Write image files with O_DIRECT (src/stores/file/direct-writer.ts) where the filesystem and
   * the native addon allow it; otherwise, and when false, through the page cache.
   */
  readonly directIo: boolean;
  /**
   * Reads go into pooled regions under this budget (src/stores/file/region-file-reader.ts) rather
   * than fresh buffers: for the staging area, whose reads feed imports. Null: fs read streams.
   */
  readonly readRegions?: RegionBudget | null;
}

/** Object names are image ids; anything else in the directory is not ours to serve. */
const IMAGE_ID = /^[0-9A-Za-z][0-9A-Za-z-]{0,63}$/;
const TEMP_SUFFIX = /^(.+)\.tmp-[0-9a-f]{16}$/;

function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** Maps an fs failure during a write to the store's typed errors (as glance_store does). */
function writeError(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const code = errnoOf(error);
  if (code === 'ABORT_ERR' || (error instanceof Error && error.name === 'AbortError')) return new StoreAbortedError('The write was aborted.', { cause: error });
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return new StoreFullError('Image storage media is full.', { cause: error });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
    return new StoreWriteDeniedError('Insufficient permissions on image storage media.', { cause: error });
  return new StoreUnavailableError(`The file store failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/**
 * Images as files named by image id in one directory. A write goes to `<id>.tmp-<random>` and
 * is published with link(2), which refuses to replace an existing object, so a reader never sees
 * half an image and two uploads of one image cannot both win.
 */
export class FileStore implements ImageStore {
  readonly capabilities: StoreCapabilities = { localFiles: true, exclusivePublish: true };
  readonly id: string;
  readonly #dir: string;
  readonly #options: FileStoreOptions;
  /**
   * The aligned-memory allocator when writes use O_DIRECT: asked for
   * (`filesystem_store_direct_io`), the addon is built, and the directory's filesystem takes it
   * (tmpfs before Linux 6.6 does not); null when they go through the page cache.
   */
  readonly #direct: AlignedBuffer | null;

  private constructor(options: FileStoreOptions, direct: AlignedBuffer | null) {
    this.id = options.id;
    this.#dir = resolve(options.datadir);
    this.#options = options;
    this.#direct = direct;
  }

  /** Whether writes use O_DIRECT. */
  get directIo(): boolean {
    return this.#direct !== null;
  }

  /** Creates the directory if needed; an unusable one stops startup with a clear message. */
  static async open(options: FileStoreOptions): Promise<FileStore> {
    const dir = resolve(options.datadir);
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
      return new FileStore(options, options.directIo && alignedBuffer !== null && (await FileStore.#takesDirectIo(dir)) ? alignedBuffer : null);
    } catch (error) {
      throw new StoreUnavailableError(`filesystem_store_datadir ${dir} is not a usable directory: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }

  /** Opens a probe file with O_DIRECT; filesystems without direct I/O refuse with EINVAL. */
  static async #takesDirectIo(dir: string): Promise<boolean> {
    // A dot name: never taken for an image object by list() or recovery.
    const probe = join(dir, `.direct-io-probe-${randomBytes(8).toString('hex')}`);
    try {
      await (await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600)).close();
      return true;
    } catch (error) {
      if (errnoOf(error) === 'EINVAL') return false;
      throw error;
    } finally {
      await unlink(probe).catch(() => undefined);
    }
  }

  async write(imageId: string, data: AsyncIterable<Chunk>, options: StoreWriteOptions): Promise<StoreWriteResult> {
    if (!IMAGE_ID.test(imageId)) throw new StoreUnavailableError(`'${imageId}' is not a valid image id for the file store.`);
    const final = join(this.#dir, imageId);
    const temp = `${final}.tmp-${randomBytes(8).toString('hex')}`;
    const counter = { bytes: 0 };
    const mode = this.#options.filePerm === 0 ? 0o666 : parseInt(String(this.#options.filePerm), 8);
    try {
      if (options.signal?.aborted === true) throw new StoreAbortedError('The write was aborted.');
      const direct = this.#direct;
      const handle = await open(temp, direct === null ? 'wx' : constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, mode);
      const sink = direct === null ? pageCacheWriter(handle) : directWriter(handle, direct);
      try {
        await pipeline(limited(data, options.maxBytes, counter), sink, options.signal === undefined ? {} : { signal: options.signal });
      } finally {
        await handle.close();
      }
      if (this.#options.durable) await this.#sync(temp);
      try {
        await link(temp, final);
      } catch (error) {
        if (errnoOf(error) === 'EEXIST') throw new StoreDuplicateError(`Image ${imageId} already has data in store ${this.id}.`);
        throw error;
      }
      await unlink(temp);
      if (this.#options.durable) await this.#sync(this.#dir);
      return { location: pathToFileURL(final).href, size: counter.bytes };
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw writeError(error);
    }
  }

  async read(location: string, options: StoreReadOptions = {}): Promise<Readable> {
    const path = this.#pathOf(location);
    const { size } = await this.stat(location);
    const range = options.range;
    if (range !== undefined && (range.start < 0 || range.end < range.start || range.end >= size)) {
      throw new StoreRangeError(`Range ${range.start}-${range.end} is outside the ${size} bytes of ${location}.`);
    }
    const regions = this.#options.readRegions ?? null;
    if (regions !== null) {
      const handle = await open(path, 'r').catch((error: unknown) => {
        throw new StoreNotFoundError(`No data at ${location}.`, { cause: error });
      });
      return new RegionFileReader(handle, regions, range?.start ?? 0, range === undefined ? size : range.end + 1);
    }
    // 1 MiB reads: a sixteenth of the default's thread-pool round trips per byte served.
    if (range === undefined) return createReadStream(path, { highWaterMark: READ_CHUNK });
    return createReadStream(path, { start: range.start, end: range.end, highWaterMark: READ_CHUNK });
  }

  async openLocal(location: string): Promise<LocalFile> {
    const path = this.#pathOf(location);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      throw new StoreNotFoundError(`No data at ${location}.`, { cause: error });
    }
    try {
      return { handle, size: (await handle.stat()).size };
    } catch (error) {
      await handle.close();
      throw new StoreUnavailableError(`The file store failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  async stat(location: string): Promise<{ readonly size: number }> {
    try {
      return { size: (await stat(this.#pathOf(location))).size };
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreNotFoundError(`No data at ${location}.`, { cause: error });
    }
  }

  async delete(location: string): Promise<void> {
    try {
      await unlink(this.#pathOf(location));
    } catch (error) {
      if (error instanceof StoreError) throw error;
      if (errnoOf(error) === 'ENOENT') throw new StoreNotFoundError(`No data at ${location}.`, { cause: error });
      throw writeError(error);
    }
  }

  async *list(only?: string): AsyncIterable<StoredObject> {
    for (const name of await readdir(this.#dir)) {
      const temp = TEMP_SUFFIX.exec(name);
      const imageId = temp === null ? name : (temp[1] ?? name);
      if (!IMAGE_ID.test(imageId) || (only !== undefined && imageId !== only)) continue;
      const path = join(this.#dir, name);
      const info = await stat(path).catch(() => null);
      if (info?.isFile() !== true) continue;
      yield { location: pathToFileURL(path).href, size: info.size, imageId, partial: temp !== null };
    }
  }

  /** A `file://` location inside this store's directory; anything else is not ours (no traversal). */
  #pathOf(location: string): string {
    let path: string;
    try {
      path = fileURLToPath(location);
    } catch {
      throw new StoreNotFoundError(`${location} is not a file store location.`);
    }
    if (!path.startsWith(this.#dir + sep) || path.slice(this.#dir.length + 1).includes(sep)) {
      throw new StoreNotFoundError(`${location} is not in store ${this.id}.`);
    }
    return path;
  }

  async #sync(path: string): Promise<void> {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
