import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HashingStream } from '../hashing/inline-hashing.js';
import type { Chunk } from '../buffers/chunk-lease.js';
import type { ImageStore, StoreWriteResult } from '../stores/image-store.js';
import { StoreAbortedError, StoreError } from '../stores/store-errors.js';

/** What an ingest stores: the bytes of one image, from wherever they come. */
export interface IngestRequest {
  readonly imageId: string;
  /** The bytes: an HTTP body now; a staged file, a web download or another store later. */
  readonly source: Readable;
  readonly store: ImageStore;
  /** The most bytes the store may take (image_size_cap, or what the quota leaves). */
  readonly maxBytes: number;
  /** The size the client declared, if it did (a hint for object stores: src/stores/image-store.ts). */
  readonly expectedSize?: number | null;
  /** Aborting (the client left, the job was cancelled) fails the ingest and keeps nothing. */
  readonly signal: AbortSignal;
  /** md5 and the multihash, computed as the bytes pass (reference §3.1 step 8). */
  readonly hashing: HashingStream;
  /** Each sees every chunk on its way to the store, in order: format inspection, the signature verifier. */
  readonly observers: readonly ((chunk: Buffer) => void)[];
}

export interface IngestResult extends StoreWriteResult {
  /** The digests, in the order the hashing stream was asked for them. */
  readonly digests: readonly string[];
}

/** Passes chunks through unchanged (the same objects, so pooled regions keep their leases) after the observers saw them. */
function observe(observers: IngestRequest['observers']): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
      try {
        for (const observer of observers) observer(chunk);
      } catch (error) {
        done(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      done(null, chunk);
    },
  });
}

/** What stream.pipeline says of the stages it tore down after another failed. */
function isTearDown(error: unknown): boolean {
  return error instanceof Error && 'code' in error && (error.code === 'ERR_STREAM_PREMATURE_CLOSE' || error.code === 'ABORT_ERR');
}

/**
 * The one path bytes take into a store: source → observers → hashing → store, as explicit stages
 * of `stream.pipeline`, with backpressure from the store back to the source. Any stage failing
 * fails the whole; the store's contract is that a failed write keeps nothing (src/stores/image-store.ts),
 * so a failed ingest leaves no byte behind. What is checked once all bytes are in (format,
 * signature, quota) is the caller's, which removes the stored object when a check fails.
 */
export async function ingest(request: IngestRequest): Promise<IngestResult> {
  const { imageId, source, store, maxBytes, signal, hashing, observers, expectedSize = null } = request;
  const writing: { promise: Promise<StoreWriteResult> | null } = { promise: null };
  try {
    // The source is read, not owned: a failure further down must not destroy it, since destroying
    // an unfinished HTTP request destroys its socket, and the client would never read the 413.
    const chunks = source.iterator({ destroyOnReturn: false }) as AsyncIterable<Chunk>;
    const written = await pipeline(chunks, observe(observers), hashing.stream, (bytes: AsyncIterable<Chunk>) => {
      writing.promise = store.write(imageId, bytes, { maxBytes, signal, expectedSize });
      return writing.promise;
    });
    return { ...written, digests: await hashing.digests() };
  } catch (error) {
    // The pipeline reports a failure as soon as a stage fails; the store removes what it wrote
    // only when its write settles, so wait for that before saying the ingest failed.
    const stored = await writing.promise?.then(
      () => null,
      (storeError: unknown) => storeError,
    );
    // The store's own refusal is the cause when it has one: a store that stops taking chunks
    // (Swift refused a segment) has the pipeline tear the stages before it down, and it may
    // report that (an abort, a premature close) instead of the refusal.
    if (stored instanceof StoreError && !signal.aborted && isTearDown(error)) throw stored;
    // A source that fails because its client left says so in its own words (ECONNRESET,
    // "aborted"); the abort is what happened. A store's own refusal (size limit, full) came first
    // and stands: the pipeline reports the first failure, and tearing the source down after it
    // is what aborts the signal.
    if (signal.aborted && !(error instanceof StoreError)) throw new StoreAbortedError('the upload was aborted', { cause: error });
    throw error;
  }
}
