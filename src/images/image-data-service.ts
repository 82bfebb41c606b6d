import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { RequestContext } from '../auth/request-context.js';
import { ConflictError, ForbiddenError, GoneError, QuotaExceededError, ServiceUnavailableError } from '../errors/domain-errors.js';
import type { ByteRange, ImageStore } from '../stores/image-store.js';
import { StoreAbortedError, StoreDuplicateError, StoreError, StoreFullError, StoreNotFoundError, StoreSizeLimitError, StoreWriteDeniedError } from '../stores/store-errors.js';
import type { ImageAccess } from './image-access.js';
import type { ImageRepository } from './image-repository.js';
import { resolveRange } from './byte-range.js';
import { checkTransition } from './image-status.js';

export interface ImageDataOptions {
  /** `image_size_cap` (reference §3.3). */
  readonly imageSizeCap: number;
  /** `hashing_algorithm` for os_hash_value (reference §3.3). */
  readonly hashingAlgorithm: string;
}

export interface ImageDownload {
  readonly stream: Readable;
  readonly size: number;
  readonly checksum: string | null;
  readonly range: ByteRange | null;
}

/** md5 `checksum` and the multihash in the same single pass as the write (reference §3.1 step 8). */
function hashingPassThrough(algorithm: string): { stream: Transform; digests: () => { checksum: string; hash: string } } {
  const md5 = createHash('md5');
  const multihash = createHash(algorithm);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5.update(chunk);
      multihash.update(chunk);
      callback(null, chunk);
    },
  });
  return { stream, digests: () => ({ checksum: md5.digest('hex'), hash: multihash.digest('hex') }) };
}

/**
 * Image data: upload (queued → saving → active, each step a compare-and-set) and download
 * (reference §3). On any failure the stored bytes are removed before the answer and the image
 * goes back to `queued`, so nothing is stuck in `saving` and nothing is left behind.
 */
export class ImageDataService {
  constructor(
    private readonly repo: ImageRepository,
    private readonly access: ImageAccess,
    private readonly store: ImageStore,
    private readonly options: ImageDataOptions,
    private readonly log: FastifyBaseLogger,
  ) {}

  async upload(context: RequestContext, id: string, body: Readable, signal: AbortSignal): Promise<void> {
    this.access.requireWritable(context);
    const loaded = await this.access.load(context, id);
    const denied = `Not allowed to upload image data for image ${id}`;
    this.access.authorize(context, 'upload_image', loaded, denied);
    this.access.requireOwner(context, loaded, denied);
    const image = loaded.image;
    checkTransition(image.status, 'saving', image);
    if (!(await this.repo.transitionStatus(id, 'queued', 'saving'))) {
      throw new ConflictError(`Image status transition from ${image.status} to saving is not allowed`);
    }
    const hashing = hashingPassThrough(this.options.hashingAlgorithm);
    let written: { location: string; size: number } | null = null;
    try {
      written = await this.store.write(id, body.pipe(hashing.stream), { maxBytes: this.options.imageSizeCap, signal });
      const { checksum, hash } = hashing.digests();
      const activated = await this.repo.activateWithData(id, { storeId: this.store.id, url: written.location, size: written.size, checksum, hashAlgo: this.options.hashingAlgorithm, hashValue: hash });
      if (!activated) {
        throw new GoneError(`Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`);
      }
    } catch (error) {
      if (written !== null) await this.removeData(id, written.location);
      // Back to queued so the owner can retry (Glance's v2 behaviour, never `killed`).
      await this.repo.transitionStatus(id, 'saving', 'queued', { size: null, virtual_size: null });
      throw this.uploadError(error);
    }
  }

  private uploadError(error: unknown): unknown {
    if (!(error instanceof StoreError)) return error;
    if (error instanceof StoreSizeLimitError) return new QuotaExceededError('The incoming image is too large: The provided image is too large.');
    if (error instanceof StoreFullError) return new QuotaExceededError(`Image storage media is full: ${error.message}`);
    if (error instanceof StoreWriteDeniedError) return new ServiceUnavailableError(`Insufficient permissions on image storage media: ${error.message}`);
    if (error instanceof StoreDuplicateError) return new ConflictError(`Unable to upload duplicate image data: ${error.message}`);
    if (error instanceof StoreAbortedError) return new GoneError('The upload was interrupted; the image is queued again.');
    return new ServiceUnavailableError(error.message);
  }

  /** Removes stored bytes; a failure is logged with the location so recovery can finish it. */
  async removeData(imageId: string, location: string): Promise<void> {
    try {
      await this.store.delete(location);
    } catch (error) {
      if (!(error instanceof StoreNotFoundError)) {
        this.log.error({ err: error, imageId, location }, 'could not remove image data');
        return;
      }
    }
    await this.repo.removeLocation(imageId, location);
  }

  async download(context: RequestContext, id: string, rangeHeader: string | undefined): Promise<ImageDownload | null> {
    const loaded = await this.access.load(context, id);
    if (loaded.image.status === 'deactivated' && !context.isAdmin) {
      throw new ForbiddenError('The requested image has been deactivated. Image data download is forbidden.');
    }
    this.access.authorize(context, 'download_image', loaded, `You are not authorized to complete download_image action.`);
    const [location] = await this.repo.listLocations(id);
    // No data yet: 204 (reference §3.2).
    if (location === undefined) return null;
    const size = (await this.store.stat(location.url)).size;
    const range = resolveRange(rangeHeader, size);
    const stream = await this.store.read(location.url, range === null ? {} : { range });
    return { stream, size, checksum: loaded.image.checksum, range };
  }

  /** Deletes every stored copy of a deleted image (synchronous delete, reference §2.6 step 6). */
  async purge(imageId: string): Promise<void> {
    for (const location of await this.repo.listLocations(imageId)) await this.removeData(imageId, location.url);
  }
}
