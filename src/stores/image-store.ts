import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Chunk } from '../buffers/chunk-lease.js';

/**
 * The contract every image store implements (file, Swift; S3 later), small enough that
 * one conformance suite (test/support/store-conformance.ts) proves each backend.
 *
 * Guarantees a backend must give:
 * - `write` never leaves a partial object visible under the final location, and on any failure
 *   (size limit, abort, backend error) removes every byte it wrote before it rejects;
 * - errors are StoreError subclasses (src/stores/store-errors.ts);
 * - `list` reports every object the store holds, so orphans can be found and removed.
 */
export interface StoreCapabilities {
  /**
   * Objects are files on this machine, so `openLocal` works and downloads can skip user space
   * (sendfile, O_DIRECT reads). A store without it answers `openLocal` with StoreUnsupportedError.
   */
  readonly localFiles: boolean;
  /**
   * Publishing refuses an object that exists at that moment, atomically: of two racing writes of
   * one image exactly one wins (the file store's link(2)). Without it (Swift: If-None-Match only
   * sees finished objects) a second write that started before the first finished may replace
   * it; callers must not race writes of one image, and Glimpse's services never do.
   */
  readonly exclusivePublish: boolean;
}

export interface StoreWriteOptions {
  /** The most bytes the write may take; one byte more fails with StoreSizeLimitError. */
  readonly maxBytes: number;
  /** Aborting fails the write with StoreAbortedError and removes what was written. */
  readonly signal?: AbortSignal;
  /**
   * The size the caller was told (Content-Length), when it was: an object store writes data it
   * knows to be small as one object, and anything else in segments. It is a hint: shorter data,
   * or data a little longer, is stored all the same; a store may fail a write that turns out far
   * longer than declared (never store it cut short).
   */
  readonly expectedSize?: number | null;
}

export interface StoreWriteResult {
  /** Where the data lives, as a URL the same store can read back (e.g. `file:///…`). */
  readonly location: string;
  readonly size: number;
}

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface StoreReadOptions {
  readonly range?: ByteRange;
}

export interface StoredObject {
  readonly location: string;
  readonly size: number;
  /** The image the object belongs to, as the store named it at write time. */
  readonly imageId: string;
  /** True for an unfinished write (a temporary object), which recovery may remove. */
  readonly partial: boolean;
}

/** An object opened as a local file: the whole object, for zero-copy sends (sendfile). */
export interface LocalFile {
  /** Open for reading; whoever receives it closes it. */
  readonly handle: FileHandle;
  /** The object's size, read from the open file, so it matches what the handle reads. */
  readonly size: number;
}

export interface ImageStore {
  /** The store id (`[glance_store] default_backend` / `enabled_backends` key, or the scheme). */
  readonly id: string;
  readonly capabilities: StoreCapabilities;
  write(imageId: string, data: AsyncIterable<Chunk>, options: StoreWriteOptions): Promise<StoreWriteResult>;
  read(location: string, options?: StoreReadOptions): Promise<Readable>;
  stat(location: string): Promise<{ readonly size: number }>;
  /** Opens the object as a local file, when `capabilities.localFiles` says the store has them. */
  openLocal(location: string): Promise<LocalFile>;
  delete(location: string): Promise<void>;
  /** Every object, or only those of one image. */
  list(imageId?: string): AsyncIterable<StoredObject>;
}
