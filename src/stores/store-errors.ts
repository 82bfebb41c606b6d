/**
 * Typed store failures. Every backend reports these, so the upload and download paths map them
 * to Glance's answers in one place (reference §3.1 "Failures").
 */
export type StoreErrorCode = 'NOT_FOUND' | 'SIZE_LIMIT' | 'FULL' | 'WRITE_DENIED' | 'DUPLICATE' | 'ABORTED' | 'RANGE' | 'UNAVAILABLE' | 'UNSUPPORTED';

export abstract class StoreError extends Error {
  abstract readonly code: StoreErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No object at that location (or a location this store does not own). */
export class StoreNotFoundError extends StoreError {
  readonly code = 'NOT_FOUND';
}
/** The data went past the write's byte limit (image_size_cap, storage quota); nothing was kept. */
export class StoreSizeLimitError extends StoreError {
  readonly code = 'SIZE_LIMIT';
}
/** The backend is out of space (Glance: 413 "Image storage media is full"). */
export class StoreFullError extends StoreError {
  readonly code = 'FULL';
}
/** The backend refused the write (Glance: 503 "Insufficient permissions on image storage media"). */
export class StoreWriteDeniedError extends StoreError {
  readonly code = 'WRITE_DENIED';
}
/** An object already exists for the image (Glance: 409 "Unable to upload duplicate image data"). */
export class StoreDuplicateError extends StoreError {
  readonly code = 'DUPLICATE';
}
/** The caller aborted the write (client gone); nothing was kept. */
export class StoreAbortedError extends StoreError {
  readonly code = 'ABORTED';
}
/** A byte range outside the object. */
export class StoreRangeError extends StoreError {
  readonly code = 'RANGE';
}
/** The backend could not be reached or used. */
export class StoreUnavailableError extends StoreError {
  readonly code = 'UNAVAILABLE';
}
/** The store does not have what was asked of it (its capabilities say so). */
export class StoreUnsupportedError extends StoreError {
  readonly code = 'UNSUPPORTED';
}
