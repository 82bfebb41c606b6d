/**
 * Chunks lent by their producer. The upload reader (src/http/socket-body.ts) fills pooled
 * buffers and sends each down the upload pipeline; the buffer goes back to its pool when the
 * last holder releases it, instead of becoming garbage. Fresh buffers at hundreds of MiB/s made
 * V8 run a major GC several times a second (bench/README.md, "Image data").
 *
 * The rule: a leased chunk arrives with one reference, owned by whoever consumes it last — the
 * store's writer — which calls `release()` once it no longer needs the bytes. A stage that
 * passes the chunk on but still reads it afterwards (hashing on worker threads) takes a
 * reference of its own with `retain()`. A consumer that knows nothing of leases never releases:
 * the buffer is then collected as garbage and the pool allocates another, so ignoring a lease is
 * slower, never wrong. Releasing more often than retained is a bug and throws.
 */
export interface ChunkLease {
  /** The chunk starts at an address aligned for O_DIRECT (4 KiB) and may be written as it is. */
  readonly directIoAligned: boolean;
  retain(): void;
  release(): void;
}

/**
 * A chunk of image bytes as it flows down an ingest pipeline (src/images/ingest.ts) into a store:
 * the lease travels with the bytes, as a field of the chunk, so every stage sees it without
 * asking anyone. Ordinary buffers have none.
 */
export type Chunk = Uint8Array & { readonly lease?: ChunkLease };

/** Marks `chunk` as lent: `onFree` runs when its last reference is released. */
export function lend<T extends Uint8Array>(chunk: T, directIoAligned: boolean, onFree: () => void): T & { readonly lease: ChunkLease } {
  let references = 1;
  const lease: ChunkLease = {
    directIoAligned,
    retain() {
      if (references === 0) throw new Error('a released chunk cannot be retained');
      references += 1;
    },
    release() {
      if (references === 0) throw new Error('chunk released more often than retained');
      references -= 1;
      if (references === 0) onFree();
    },
  };
  return Object.assign(chunk, { lease });
}
