import type { Readable } from 'node:stream';
import type { Logger } from '../ports/logger.js';
import type { EventSink } from '../ports/events.js';
import type { Metrics } from '../ports/metrics.js';
import { actorOf, type ImageEvent } from './image-events.js';
import { ingest } from './ingest.js';
import { backgroundContext, type RequestContext } from '../auth/request-context.js';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  GoneError,
  InvalidInputError,
  NotFoundError,
  QuotaExceededError,
  ServiceUnavailableError,
} from '../errors/domain-errors.js';
import type { ByteRange, ImageStore } from '../stores/image-store.js';
import type { DownloadSink } from '../transfer/download-sink.js';
import type { DownloadBody, DownloadSender } from '../transfer/download-sender.js';
import type { StoreRegistry } from '../stores/store-registry.js';
import type { HashingStream } from '../hashing/inline-hashing.js';
import type { ImageSignatures } from '../signing/image-signatures.js';
import type { SignatureVerifier } from '../signing/signature-verifier.js';
import type { Image } from './image-types.js';
import { FormatInspector } from './format-inspection/format-inspector.js';
import { checkDeclaredFormat, type FormatPolicyOptions } from './format-inspection/format-policy.js';
import {
  StoreAbortedError,
  StoreDuplicateError,
  StoreError,
  StoreFullError,
  StoreNotFoundError,
  StoreSizeLimitError,
  StoreWriteDeniedError,
} from '../stores/store-errors.js';
import type { ImageAccess } from './image-access.js';
import type { ImageRepository } from './image-repository.js';
import { resolveRange } from './byte-range.js';
import { checkTransition } from './image-status.js';

export interface ImageDataOptions {
  /** `image_size_cap` (reference §3.3). */
  readonly imageSizeCap: number;
  /** `hashing_algorithm` for os_hash_value (reference §3.3). */
  readonly hashingAlgorithm: string;
  /** `user_storage_quota` in bytes; 0 means none (reference §3.3). */
  readonly userStorageQuota: number;
  /** `[image_format] require_image_format_match` and `vmdk_allowed_types`. */
  readonly formatPolicy: FormatPolicyOptions;
  /** This node, recorded on the images it is writing so other nodes' recovery leaves them be. */
  readonly nodeId: string;
}

export interface UploadRequest {
  readonly body: Readable;
  /** Aborted when the client goes away; the write then removes what it stored. */
  readonly signal: AbortSignal;
  /** Content-Length when the client sent one (chunked uploads have none). */
  readonly declaredSize: number | null;
  /** `X-Image-Meta-Store` (multi-store only, reference §3.1). */
  readonly storeId: string | null;
}

/** What an ingest stored, once every check passed: the copy's location and the data's facts. */
export interface VerifiedData {
  readonly storeId: string;
  readonly url: string;
  readonly size: number;
  readonly virtualSize: number | null;
  readonly checksum: string;
  readonly hashAlgo: string;
  readonly hashValue: string;
}

/** A download about to be sent: what its headers say, and how to send its body. */
export interface ImageDownload {
  /** The whole image's size. */
  readonly size: number;
  readonly checksum: string | null;
  /** The bytes asked for (Range), or null for all of them. */
  readonly range: ByteRange | null;
  /** Bytes the body carries. */
  readonly length: number;
  /** Sends the body (the response head is the caller's, already set) and reports it sent (image.sent). */
  deliver(sink: DownloadSink): Promise<void>;
}

/**
 * A store's failure as the API answers it (reference §3.1): over the size cap or the quota, a
 * full store → 413; write denied → 503; a duplicate → 409; an abort → 410. Stage and import
 * answer the same way.
 */
export function dataWriteError(error: unknown, quotaBound: boolean): unknown {
  if (!(error instanceof StoreError)) return error;
  if (error instanceof StoreSizeLimitError) {
    return quotaBound
      ? new QuotaExceededError('Denying attempt to upload image because it exceeds the quota: The size of the data will exceed the storage quota.')
      : new QuotaExceededError('The incoming image is too large: The provided image is too large.');
  }
  if (error instanceof StoreFullError) return new QuotaExceededError(`Image storage media is full: ${error.message}`);
  if (error instanceof StoreWriteDeniedError) return new ServiceUnavailableError(`Insufficient permissions on image storage media: ${error.message}`);
  if (error instanceof StoreDuplicateError) return new ConflictError(`Unable to upload duplicate image data: ${error.message}`);
  if (error instanceof StoreAbortedError) return new GoneError('The upload was interrupted; the image is queued again.');
  return new ServiceUnavailableError(error.message);
}

/**
 * Image data: upload (queued → saving → active, each step a compare-and-set) and download
 * (reference §3). On any failure the stored bytes are removed before the answer and the image
 * goes back to `queued`, so nothing is stuck in `saving` and nothing is left behind.
 */
export interface ImageDataServiceDeps {
  readonly repo: ImageRepository;
  readonly access: ImageAccess;
  readonly stores: StoreRegistry;
  /** Where md5 and the multihash are computed: inline or on worker threads (`hashing_threads`). */
  readonly hashing: (algorithms: readonly string[]) => HashingStream;
  readonly options: ImageDataOptions;
  /** Signature verification of signed images (reference §7). */
  readonly signatures: ImageSignatures;
  /** How download bodies are sent (sendfile, O_DIRECT reads or streams: src/transfer). */
  readonly sender: DownloadSender;
  readonly log: Logger;
  readonly events: EventSink<ImageEvent>;
  readonly metrics: Metrics;
}

export class ImageDataService {
  private readonly repo: ImageRepository;
  private readonly access: ImageAccess;
  private readonly stores: StoreRegistry;
  private readonly hashing: ImageDataServiceDeps['hashing'];
  private readonly options: ImageDataOptions;
  private readonly signatures: ImageSignatures;
  private readonly sender: DownloadSender;
  private readonly log: Logger;
  private readonly events: EventSink<ImageEvent>;
  private readonly metrics: Metrics;

  constructor(deps: ImageDataServiceDeps) {
    ({
      repo: this.repo,
      access: this.access,
      stores: this.stores,
      hashing: this.hashing,
      options: this.options,
      signatures: this.signatures,
      sender: this.sender,
      log: this.log,
      events: this.events,
      metrics: this.metrics,
    } = deps);
  }

  async upload(context: RequestContext, id: string, request: UploadRequest): Promise<void> {
    this.access.requireWritable(context);
    const store = this.targetStore(request.storeId);
    const loaded = await this.access.load(context, id);
    const denied = `Not allowed to upload image data for image ${id}`;
    this.access.authorize(context, 'upload_image', loaded, denied);
    this.access.requireOwner(context, loaded, denied);
    const image = loaded.image;
    checkTransition(image.status, 'saving', image);
    // Refusals before any byte is stored (quota, signing certificate) still tell the owner why.
    const { limit, verifier } = await Promise.all([this.uploadLimit(image.owner, request.declaredSize), this.signatures.verifierFor(context, image)])
      .then(([l, v]) => ({ limit: l, verifier: v }))
      .catch(async (error: unknown) => {
        await this.noteFailure(id, error);
        throw error;
      });
    if (!(await this.repo.transitionStatus(id, 'queued', 'saving', { uploading_node: this.options.nodeId }))) {
      throw new ConflictError(`Image status transition from ${image.status} to saving is not allowed`);
    }
    const actor = actorOf(context);
    const started = performance.now();
    this.events.emit({ type: 'image.uploading', actor, image: { ...image, status: 'saving' }, storeId: store.id });
    let written: VerifiedData | null = null;
    try {
      written = await this.ingestVerified(image, request.body, store, request.signal, limit.maxBytes, verifier, null, request.declaredSize);
      const activated = await this.repo.activateWithData(id, written);
      if (!activated) {
        throw new GoneError(`Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`);
      }
      const active = {
        ...image,
        status: 'active' as const,
        size: written.size,
        virtualSize: written.virtualSize,
        checksum: written.checksum,
        osHashAlgo: written.hashAlgo,
        osHashValue: written.hashValue,
      };
      this.events.emit({ type: 'image.uploaded', actor, image: active, storeId: store.id, bytes: written.size });
      this.events.emit({ type: 'image.activated', actor, image: active });
      this.metrics.count('glimpse_image_uploads_total', { result: 'stored', store: store.id });
      this.metrics.count('glimpse_image_upload_bytes_total', { store: store.id }, written.size);
      this.metrics.observe('glimpse_image_upload_seconds', (performance.now() - started) / 1000, { store: store.id });
    } catch (error) {
      if (written !== null) await this.removeData(id, store, written.url);
      const mapped = dataWriteError(error, limit.quotaBound);
      // Back to queued so the owner can retry (Glance's v2 behaviour, never `killed`), and say why.
      if (await this.repo.transitionStatus(id, 'saving', 'queued', { size: null, virtual_size: null, uploading_node: null }))
        await this.noteFailure(id, mapped);
      this.events.emit({ type: 'image.upload_failed', actor, imageId: id, reason: mapped instanceof Error ? mapped.message : String(mapped) });
      this.metrics.count('glimpse_image_uploads_total', { result: mapped instanceof DomainError ? mapped.code.toLowerCase() : 'internal', store: store.id });
      throw mapped;
    }
  }

  /**
   * The one way bytes enter a store (upload and every import method): the ingest pipeline with
   * md5 and the multihash in the same single pass as the write (reference §3.1 step 8), format
   * inspection of a bounded prefix and the signature over the same stream, never the stored
   * file; then the checks that need every byte. When a check fails the bytes are removed
   * before the error is thrown, so nothing is left behind.
   */
  private async ingestVerified(
    image: Image,
    source: Readable,
    store: ImageStore,
    signal: AbortSignal,
    maxBytes: number,
    verifier: SignatureVerifier | null,
    progress: ((bytes: number) => void) | null = null,
    expectedSize: number | null = null,
  ): Promise<VerifiedData> {
    const hashing = this.hashing(['md5', this.options.hashingAlgorithm]);
    const inspector = new FormatInspector();
    const observers = [
      (chunk: Buffer) => inspector.push(chunk),
      ...(verifier === null ? [] : [(chunk: Buffer) => verifier.update(chunk)]),
      ...(progress === null ? [] : [(chunk: Buffer) => progress(chunk.length)]),
    ];
    const written = await ingest({ imageId: image.id, source, store, maxBytes, expectedSize, signal, hashing, observers });
    try {
      const virtualSize = this.checkFormat(image, inspector, written.size);
      if (verifier !== null) this.signatures.check(image.id, verifier);
      // Checked again with the real size: a concurrent upload by the same owner may have landed.
      await this.uploadLimit(image.owner, written.size);
      const [checksum = '', hashValue = ''] = written.digests;
      return { storeId: store.id, url: written.location, size: written.size, virtualSize, checksum, hashAlgo: this.options.hashingAlgorithm, hashValue };
    } catch (error) {
      await this.removeData(image.id, store, written.location);
      throw error;
    }
  }

  /**
   * Stores the bytes of an import (src/imports) in one store of an `importing` image (or an
   * `active` one, for copy-image), through the same path as an upload, and records the copy;
   * `activate` makes the image active with it. Errors are the upload's (413, 400, 503...), and
   * nothing stays stored after one. The caller is the import job, for the image's owner.
   */
  async storeImported(
    context: RequestContext,
    image: Image,
    source: Readable,
    storeId: string,
    options: {
      readonly signal: AbortSignal;
      readonly activate: boolean;
      readonly progress?: (bytes: number) => void;
      /** A check of the caller's on what was stored (a download's size), before the copy is recorded; throwing removes it. */
      readonly verify?: (written: VerifiedData) => void;
    },
  ): Promise<VerifiedData> {
    const store = this.stores.get(storeId);
    if (store === undefined) throw new ConflictError(`Unknown scheme '${storeId}' found in URI`);
    const from = image.status === 'active' ? 'active' : 'importing';
    const limit = await this.uploadLimit(image.owner, image.size);
    let written: VerifiedData | null = null;
    try {
      const verifier = await this.signatures.verifierFor(context, image);
      written = await this.ingestVerified(image, source, store, options.signal, limit.maxBytes, verifier, options.progress ?? null);
      // A copy of an active image must be the very bytes it has (copy-image).
      if (from === 'active' && image.checksum !== null && written.checksum !== image.checksum) {
        throw new ConflictError(`The copy of image ${image.id} does not match its checksum ${image.checksum}; it was not kept.`);
      }
      options.verify?.(written);
      if (!(await this.repo.recordImportedData(image.id, from, options.activate, written))) {
        throw new GoneError('Image has been deleted, aborting import.');
      }
      const actor = actorOf(context);
      const stored = { ...image, size: written.size, checksum: written.checksum, osHashAlgo: written.hashAlgo, osHashValue: written.hashValue };
      this.events.emit({ type: 'image.uploaded', actor, image: stored, storeId, bytes: written.size });
      if (options.activate) this.events.emit({ type: 'image.activated', actor, image: { ...stored, status: 'active' } });
      this.metrics.count('glimpse_image_imports_total', { result: 'stored', store: storeId });
      return written;
    } catch (error) {
      if (written !== null) await this.removeData(image.id, store, written.url);
      this.metrics.count('glimpse_image_imports_total', { result: error instanceof DomainError ? error.code.toLowerCase() : 'internal', store: storeId });
      throw dataWriteError(error, limit.quotaBound);
    }
  }

  /**
   * Removes what a store holds for an image that no location row records: the copy an import
   * job wrote just before its node stopped, which the job that resumes it must replace.
   */
  async removeUnrecorded(imageId: string, storeId: string): Promise<number> {
    const store = this.stores.get(storeId);
    if (store === undefined) return 0;
    const recorded = new Set((await this.repo.listLocations(imageId)).filter((l) => l.storeId === storeId).map((l) => l.url));
    let removed = 0;
    for await (const object of store.list(imageId)) {
      if (object.imageId !== imageId || object.partial || recorded.has(object.location)) continue;
      await store.delete(object.location);
      removed += 1;
    }
    return removed;
  }

  /** The image's data from its first readable copy, the default store's first (copy-image's source). */
  async readStored(imageId: string): Promise<Readable> {
    const locations = await this.repo.listLocations(imageId);
    const preferred = this.stores.defaultStore.id;
    const ordered = [...locations.filter((l) => l.storeId === preferred), ...locations.filter((l) => l.storeId !== preferred)];
    let lastError: unknown = null;
    for (const location of ordered) {
      const store = this.stores.get(location.storeId);
      if (store === undefined) continue;
      try {
        return await store.read(location.url);
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        lastError = error;
      }
    }
    throw new ServiceUnavailableError(
      `The image data of ${imageId} is not readable from any store${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
    );
  }

  /** Removes one copy of an image's data (a failed copy-image undoes its copies). */
  async removeCopy(imageId: string, storeId: string, location: string): Promise<boolean> {
    return this.removeData(imageId, this.stores.get(storeId), location);
  }

  /** The owner sees why the upload failed on the image itself (glance-lessons §1). */
  private async noteFailure(id: string, error: unknown): Promise<void> {
    await this.repo.recordUploadFailure(
      id,
      `${new Date().toISOString()} ${error instanceof DomainError ? error.code : 'INTERNAL'}: ${error instanceof Error ? error.message : 'upload failed'}`,
    );
  }

  /**
   * Refuses data whose content is not the declared disk_format, or that is unsafe to hand to a
   * hypervisor (backing or data files, external extents: glance-lessons §2); returns the
   * virtual size. Glance only inspects `bare` containers; other containers wrap disks in
   * formats of their own (ova, docker), so their content is not checked here either.
   */
  private checkFormat(
    image: { readonly diskFormat: string | null; readonly containerFormat: string | null },
    inspector: FormatInspector,
    size: number,
  ): number | null {
    if (image.containerFormat !== 'bare') return null;
    const result = inspector.result(size);
    const problems = checkDeclaredFormat(result, image.diskFormat, this.options.formatPolicy);
    if (problems.length > 0) {
      throw new InvalidInputError(`Image data is refused by format inspection: ${problems.map((p) => `${p.message} (${p.code})`).join('; ')}`);
    }
    return result.virtualSize;
  }

  /** The store an upload goes to: X-Image-Meta-Store in multi-store mode, else the default. */
  private targetStore(storeId: string | null): ImageStore {
    if (storeId === null || !this.stores.multiStore) return this.stores.defaultStore;
    const store = this.stores.get(storeId);
    if (store === undefined) throw new InvalidInputError(`Unknown scheme '${storeId}' found in URI`);
    return store;
  }

  /**
   * The most bytes this upload may write: image_size_cap, or less when the owner's
   * user_storage_quota leaves less room (reference §3.1 step 5).
   */
  private async uploadLimit(owner: string | null, size: number | null): Promise<{ maxBytes: number; quotaBound: boolean }> {
    const quota = this.options.userStorageQuota;
    if (quota === 0 || owner === null) return { maxBytes: this.options.imageSizeCap, quotaBound: false };
    const remaining = Math.max(0, quota - (await this.repo.storageUsage(owner)));
    if (size !== null && size > remaining) {
      throw new QuotaExceededError(`Image exceeds the storage quota: The size of the data ${size} will exceed the limit. ${remaining} bytes remaining.`);
    }
    return remaining < this.options.imageSizeCap ? { maxBytes: remaining, quotaBound: true } : { maxBytes: this.options.imageSizeCap, quotaBound: false };
  }

  /** Removes stored bytes; a failure is logged with the location so recovery can finish it. */
  async removeData(imageId: string, store: ImageStore | undefined, location: string): Promise<boolean> {
    if (store === undefined) {
      // A store removed from the config keeps its location row, so the bytes are not forgotten.
      this.log.error({ imageId, location }, 'image data is in a store that is not configured; not removed');
      return false;
    }
    try {
      await store.delete(location);
    } catch (error) {
      if (!(error instanceof StoreNotFoundError)) {
        this.log.error({ err: error, imageId, location }, 'could not remove image data');
        return false;
      }
    }
    await this.repo.removeLocation(imageId, location);
    return true;
  }

  async download(context: RequestContext, id: string, rangeHeader: string | undefined): Promise<ImageDownload | null> {
    const loaded = await this.access.load(context, id);
    if (loaded.image.status === 'deactivated' && !context.isAdmin) {
      throw new ForbiddenError('The requested image has been deactivated. Image data download is forbidden.');
    }
    this.access.authorize(context, 'download_image', loaded, `You are not authorized to complete download_image action.`);
    const opened = await this.openData(id, rangeHeader);
    // No data yet: 204 (reference §3.2).
    if (opened === null) return null;
    const { body, size, range } = opened;
    const start = range?.start ?? 0;
    const length = range === null ? size : range.end - range.start + 1;
    const image = loaded.image;
    return {
      size,
      checksum: image.checksum,
      range,
      length,
      deliver: async (sink) => {
        const outcome = await this.sender.send(sink, body, start, length);
        // Glance's image.send, at ERROR priority when fewer bytes went out (reference §17).
        this.events.emit({ type: 'image.sent', actor: actorOf(context), image, bytes: outcome.bytes, expected: length });
        this.metrics.count('glimpse_image_download_bytes_total', { path: outcome.path }, outcome.bytes);
        this.metrics.count('glimpse_image_downloads_total', { result: outcome.complete ? 'complete' : 'cut_short', path: outcome.path });
      },
    };
  }

  /** The body of the first readable location, or null when the image has none. */
  private async openData(id: string, rangeHeader: string | undefined): Promise<{ body: DownloadBody; size: number; range: ByteRange | null } | null> {
    const locations = await this.repo.listLocations(id);
    if (locations.length === 0) return null;
    // Locations are tried in order; the first readable one is sent (reference §3.2).
    let lastError: unknown = null;
    for (const location of locations) {
      const store = this.stores.get(location.storeId);
      if (store === undefined) continue;
      try {
        if (store.capabilities.localFiles) {
          const file = await store.openLocal(location.url);
          try {
            return { body: { kind: 'file', file }, size: file.size, range: resolveRange(rangeHeader, file.size) };
          } catch (error) {
            await file.handle.close();
            throw error;
          }
        }
        const size = (await store.stat(location.url)).size;
        const range = resolveRange(rangeHeader, size);
        const stream = await store.read(location.url, range === null ? {} : { range });
        return { body: { kind: 'stream', stream }, size, range };
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        this.log.warn({ err: error, imageId: id, store: location.storeId }, 'image data location unreadable');
        lastError = error;
      }
    }
    throw new ServiceUnavailableError(`The image data of ${id} is not readable from any store${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
  }

  /**
   * Re-verifies the signature of an active image against its stored bytes (audits:
   * `glimpse-manage image verify`). The certificate is read as the image's owner would read it,
   * with the caller's token and catalog when the key manager needs them (Barbican). Throws the upload's 400 errors.
   */
  async verifyStored(id: string, caller: Pick<RequestContext, 'authToken' | 'serviceCatalog'>): Promise<{ readonly bytes: number; readonly store: string }> {
    const image = await this.repo.findById(id);
    if (image === null) throw new NotFoundError(`No image found with ID ${id}`);
    const owner = backgroundContext({ requestId: 'verify', userId: null, projectId: image.owner, readOnly: true, ...caller });
    const verifier = await this.signatures.verifierFor(owner, image);
    if (verifier === null) throw new InvalidInputError(`Image ${id} has no img_signature properties.`);
    const [location] = await this.repo.listLocations(id);
    const store = location === undefined ? undefined : this.stores.get(location.storeId);
    if (location === undefined || store === undefined) throw new ConflictError(`Image ${id} has no readable data.`);
    let bytes = 0;
    for await (const chunk of await store.read(location.url)) {
      verifier.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    this.signatures.check(id, verifier);
    return { bytes, store: store.id };
  }

  /**
   * `DELETE /v2/stores/{store_id}/{image_id}` (2.10, reference §8.3): removes the image's copy
   * in one store, with Glance's checks in Glance's order; the image stays active in its others.
   */
  async removeFromStore(context: RequestContext, storeId: string, id: string): Promise<void> {
    if (!this.stores.multiStore) throw new NotFoundError('Multi backend is not supported at this site.');
    const store = this.stores.get(storeId);
    if (store === undefined) throw new ConflictError(`The selected store ${storeId} is not available on this node.`);
    this.access.requireWritable(context);
    const loaded = await this.access.load(context, id).catch((error: unknown) => {
      throw error instanceof NotFoundError ? new NotFoundError(`Failed to find image ${id}`) : error;
    });
    const denied = 'You are not authorized to complete delete_image_location action.';
    this.access.authorize(context, 'get_image_location', loaded, denied);
    this.access.authorize(context, 'delete_image_location', loaded, denied);
    this.access.requireOwner(context, loaded, denied);
    if (loaded.image.status !== 'active') throw new ConflictError("It's not allowed to remove image data from store if image status is not 'active'");
    const locations = await this.repo.listLocations(id);
    if (locations.length <= 1) throw new ForbiddenError('Cannot delete image data from the only store containing it. Consider deleting the image instead.');
    const here = locations.filter((l) => l.storeId === storeId);
    if (here.length === 0) throw new NotFoundError(`Image ${id} is not stored in store ${storeId}.`);
    for (const location of here) {
      // A copy the backend no longer has is forgotten all the same (removeData: NotFound is gone).
      if (!(await this.removeData(id, store, location.url)))
        throw new ServiceUnavailableError(`The image data in store ${storeId} could not be removed; try again.`);
    }
  }

  /**
   * Deletes every stored copy of a deleted image (synchronous delete, reference §2.6 step 6, and
   * the scrubber, §12). True when nothing is left; a location that could not go stays recorded.
   */
  async purge(imageId: string): Promise<boolean> {
    let clean = true;
    for (const location of await this.repo.listLocations(imageId)) {
      if (!(await this.removeData(imageId, this.stores.get(location.storeId), location.url))) clean = false;
    }
    return clean;
  }
}
