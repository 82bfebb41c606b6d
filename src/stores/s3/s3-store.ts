import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Chunk } from '../../buffers/chunk-lease.js';
import type { ImageStore, LocalFile, StoreCapabilities, StoredObject, StoreReadOptions, StoreWriteOptions, StoreWriteResult } from '../image-store.js';
import { SegmentReader } from '../segment-reader.js';
import { limited } from '../size-limit.js';
import { checkRange, rangeHeader, requireServed } from '../served-range.js';
import {
  StoreAbortedError,
  StoreDuplicateError,
  StoreError,
  StoreNotFoundError,
  StoreRangeError,
  StoreUnavailableError,
  StoreUnsupportedError,
} from '../store-errors.js';
import type { S3BackendSettings } from '../store-settings.js';
import { isNotFound, s3Error, statusOf } from './s3-errors.js';
import { formatLocation, IMAGE_KEY, parseLocation, schemeOf, type S3Location } from './s3-location.js';

/** The metadata key that names the write which published an object. */
const WRITE_META = 'glimpse-write';

/**
 * Images as objects of one S3 bucket (reference §15.2), through the AWS SDK. Data that fits one
 * part is one PUT; anything larger is a multipart upload whose parts are filled from the stream
 * one at a time and sent `s3_store_thread_pools` at once, so one upload holds at most that many
 * parts plus the one being filled. A failed upload is aborted before the write rejects; one
 * left by a crash is listed as a partial object, which recovery aborts.
 */
export class S3Store implements ImageStore {
  readonly capabilities: StoreCapabilities = { localFiles: false, exclusivePublish: false };
  readonly #scheme: string;
  readonly #host: string;
  #bucketReady = false;

  constructor(
    readonly id: string,
    private readonly settings: S3BackendSettings,
    private readonly client: S3Client,
  ) {
    this.#scheme = schemeOf(settings.endpoint);
    this.#host = new URL(settings.endpoint).host;
  }

  async write(imageId: string, data: AsyncIterable<Chunk>, options: StoreWriteOptions): Promise<StoreWriteResult> {
    if (!IMAGE_KEY.test(imageId)) throw new StoreUnavailableError(`'${imageId}' is not a valid image id for the S3 store.`);
    const counter = { bytes: 0 };
    const reader = new SegmentReader(limited(data, options.maxBytes, counter));
    const writeId = randomBytes(8).toString('hex');
    const signal = options.signal;
    const state = { published: false };
    try {
      if (signal?.aborted === true) throw new StoreAbortedError('The write was aborted.');
      await this.#ensureBucket();
      if (await this.#exists(imageId)) throw new StoreDuplicateError(`Image ${imageId} already has data in store ${this.id}.`);
      const first = await this.#part(reader);
      if (!(await reader.more())) {
        const put = new PutObjectCommand({ ...this.#object(imageId), Body: first, ContentLength: first.length, Metadata: { [WRITE_META]: writeId } });
        await this.#try('the image', true, () => this.client.send(put, signal === undefined ? {} : { abortSignal: signal }));
      } else {
        await this.#multipart(imageId, writeId, first, reader, signal);
      }
      // S3 keeps the newest of two racing PUTs: the copy that stands names its write.
      state.published = true;
      const head = await this.#try('the image', false, () => this.client.send(new HeadObjectCommand(this.#object(imageId))));
      if (head.Metadata?.[WRITE_META] !== writeId) {
        state.published = false;
        throw new StoreDuplicateError(`Image ${imageId} already has data in store ${this.id}: another write published it at the same time.`);
      }
      return { location: this.#location(imageId, null), size: counter.bytes };
    } catch (error) {
      await reader.close().catch(() => undefined);
      // The check after publishing failed: the object may be ours, and must not stay.
      if (state.published) await this.client.send(new DeleteObjectCommand(this.#object(imageId))).catch(() => undefined);
      if (signal?.aborted === true && !(error instanceof StoreDuplicateError)) throw new StoreAbortedError('The write was aborted.', { cause: error });
      throw s3Error(error, this.settings.endpoint, `the write of image ${imageId}`, true);
    }
  }

  /** The next part of the stream, copied into one buffer (releasing each chunk's lease). */
  async #part(reader: SegmentReader): Promise<Buffer> {
    const part = Buffer.allocUnsafe(this.settings.partSize);
    let filled = 0;
    for await (const chunk of reader.segment(this.settings.partSize)) {
      part.set(chunk, filled);
      filled += chunk.length;
      chunk.lease?.release();
    }
    return part.subarray(0, filled);
  }

  async #multipart(imageId: string, writeId: string, first: Buffer, reader: SegmentReader, signal: AbortSignal | undefined): Promise<void> {
    const create = new CreateMultipartUploadCommand({ ...this.#object(imageId), Metadata: { [WRITE_META]: writeId } });
    const created = await this.#try('a multipart upload', true, () => this.client.send(create, signal === undefined ? {} : { abortSignal: signal }));
    const uploadId = created.UploadId ?? '';
    // Parts still in flight stop when the upload fails or the caller aborts.
    const stop = new AbortController();
    const stopped = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]);
    const parts: { PartNumber: number; ETag: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    const failed: { error: Error | null } = { error: null };
    const send = (number: number, body: Buffer): void => {
      const upload = new UploadPartCommand({ ...this.#object(imageId), UploadId: uploadId, PartNumber: number, Body: body, ContentLength: body.length });
      const sent = this.#try(`part ${number}`, true, () => this.client.send(upload, { abortSignal: stopped })).then(
        (answer) => {
          parts.push({ PartNumber: number, ETag: answer.ETag ?? '' });
        },
        (error: unknown) => {
          failed.error ??= error instanceof Error ? error : new Error(String(error));
          stop.abort();
        },
      );
      const tracked = sent.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };
    try {
      send(1, first);
      // A function, not the field: the field changes while this loop awaits.
      const failing = (): boolean => failed.error !== null;
      for (let number = 2; !failing() && (await reader.more()); number += 1) {
        while (inFlight.size >= this.settings.parallelParts) await Promise.race(inFlight);
        if (failing()) break;
        send(number, await this.#part(reader));
      }
      await Promise.all(inFlight);
      if (failed.error !== null) throw failed.error;
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      const complete = new CompleteMultipartUploadCommand({ ...this.#object(imageId), UploadId: uploadId, MultipartUpload: { Parts: parts } });
      await this.#try('the upload', true, () => this.client.send(complete, signal === undefined ? {} : { abortSignal: signal }));
    } catch (error) {
      stop.abort();
      await Promise.allSettled(inFlight);
      await this.client.send(new AbortMultipartUploadCommand({ ...this.#object(imageId), UploadId: uploadId })).catch(() => undefined);
      throw error;
    }
  }

  async read(location: string, options: StoreReadOptions = {}): Promise<Readable> {
    const { key } = this.#own(location);
    const range = options.range;
    if (range !== undefined) checkRange(range, location);
    const get = new GetObjectCommand({ ...this.#object(key), ...(range === undefined ? {} : { Range: rangeHeader(range) }) });
    const answer = await this.#try(location, false, () => this.client.send(get)).catch((error: unknown) => {
      // A range that starts past the end (416 InvalidRange).
      throw range !== undefined && statusOf(error instanceof StoreError ? error.cause : error) === 416
        ? new StoreRangeError(`Range outside the object at ${location}.`)
        : error;
    });
    const body = answer.Body as Readable | undefined;
    if (body === undefined) throw new StoreUnavailableError(`S3 sent no body for ${location}.`);
    if (range !== undefined) {
      try {
        requireServed(range, answer.ContentRange, location);
      } catch (error) {
        body.destroy();
        throw error;
      }
    }
    return body;
  }

  async stat(location: string): Promise<{ readonly size: number }> {
    const { key } = this.#own(location);
    const head = await this.#try(location, false, () => this.client.send(new HeadObjectCommand(this.#object(key))));
    return { size: head.ContentLength ?? 0 };
  }

  openLocal(): Promise<LocalFile> {
    return Promise.reject(new StoreUnsupportedError('The S3 store has no local files.'));
  }

  async delete(location: string): Promise<void> {
    const { key, uploadId } = this.#own(location);
    if (uploadId !== null) {
      await this.#try(location, true, () => this.client.send(new AbortMultipartUploadCommand({ ...this.#object(key), UploadId: uploadId })));
      return;
    }
    // S3 deletes a missing key without complaint: ask first, so a lost object is reported.
    if (!(await this.#exists(key))) throw new StoreNotFoundError(`No data at ${location}.`);
    await this.#try(location, true, () => this.client.send(new DeleteObjectCommand(this.#object(key))));
  }

  /** Image objects, and multipart uploads never completed or aborted (a crash) as partial objects. */
  async *list(imageId?: string): AsyncIterable<StoredObject> {
    const prefix = imageId === undefined ? {} : { Prefix: imageId };
    let token: string | undefined;
    do {
      const list = new ListObjectsV2Command({ Bucket: this.settings.bucket, ...prefix, ...(token === undefined ? {} : { ContinuationToken: token }) });
      const page = await this.#listing(() => this.client.send(list));
      if (page === null) return;
      for (const object of page.Contents ?? []) {
        const key = object.Key ?? '';
        if (!IMAGE_KEY.test(key) || (imageId !== undefined && key !== imageId)) continue;
        yield { location: this.#location(key, null), size: object.Size ?? 0, imageId: key, partial: false };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    let keyMarker: string | undefined;
    let uploadMarker: string | undefined;
    for (;;) {
      const list = new ListMultipartUploadsCommand({
        Bucket: this.settings.bucket,
        ...prefix,
        ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
        ...(uploadMarker === undefined ? {} : { UploadIdMarker: uploadMarker }),
      });
      const page = await this.#listing(() => this.client.send(list));
      if (page === null) return;
      for (const upload of page.Uploads ?? []) {
        const key = upload.Key ?? '';
        if (!IMAGE_KEY.test(key) || (imageId !== undefined && key !== imageId) || upload.UploadId === undefined) continue;
        yield { location: this.#location(key, upload.UploadId), size: 0, imageId: key, partial: true };
      }
      if (page.IsTruncated !== true) return;
      keyMarker = page.NextKeyMarker;
      uploadMarker = page.NextUploadIdMarker;
    }
  }

  /** A listing page; null when the bucket does not exist (nothing stored yet). */
  async #listing<T>(call: () => Promise<T>): Promise<T | null> {
    try {
      return await call();
    } catch (error) {
      if (isNotFound(error)) return null;
      throw s3Error(error, this.settings.endpoint, `the listing of bucket ${this.settings.bucket}`, false);
    }
  }

  async #exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand(this.#object(key)));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw s3Error(error, this.settings.endpoint, `HEAD of ${key}`, false);
    }
  }

  async #ensureBucket(): Promise<void> {
    if (this.#bucketReady) return;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    } catch (error) {
      if (!isNotFound(error)) throw s3Error(error, this.settings.endpoint, `bucket ${this.settings.bucket}`, true);
      if (!this.settings.createBucketOnPut) {
        throw new StoreUnavailableError(
          `S3 bucket ${this.settings.bucket} does not exist: create it, or set s3_store_create_bucket_on_put = True for store ${this.id}.`,
        );
      }
      await this.#try(`bucket ${this.settings.bucket}`, true, () => this.client.send(new CreateBucketCommand({ Bucket: this.settings.bucket })));
    }
    this.#bucketReady = true;
  }

  /** Runs one S3 call; its failure becomes the store's typed error. */
  async #try<T>(what: string, writing: boolean, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw s3Error(error, this.settings.endpoint, what, writing);
    }
  }

  #object(key: string): { Bucket: string; Key: string } {
    return { Bucket: this.settings.bucket, Key: key };
  }

  #location(key: string, uploadId: string | null): string {
    return formatLocation(this.#scheme, { host: this.#host, bucket: this.settings.bucket, key, uploadId });
  }

  /** A location of this store's endpoint and bucket; anything else is not ours. */
  #own(location: string): S3Location {
    const parsed = parseLocation(location);
    if (parsed === null || parsed.host !== this.#host || parsed.bucket !== this.settings.bucket)
      throw new StoreNotFoundError(`${location} is not in store ${this.id}.`);
    return parsed;
  }
}
