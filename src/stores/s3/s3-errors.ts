import { StoreAbortedError, StoreError, StoreFullError, StoreNotFoundError, StoreUnavailableError, StoreWriteDeniedError } from '../store-errors.js';

/** The HTTP status an S3 client error carries, if it came from an answer. */
export function statusOf(error: unknown): number | null {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return null;
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return metadata?.httpStatusCode ?? null;
}

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

export function isNotFound(error: unknown): boolean {
  return statusOf(error) === 404 || ['NotFound', 'NoSuchKey', 'NoSuchUpload', 'NoSuchBucket'].includes(nameOf(error));
}

/**
 * An S3 client failure as the store's typed error (src/stores/store-errors.ts): what S3 said
 * (404, 403, quota) or that it could not be reached, with the endpoint and the reason.
 */
export function s3Error(error: unknown, endpoint: string, what: string, writing: boolean): StoreError {
  if (error instanceof StoreError) return error;
  const name = nameOf(error);
  const status = statusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'AbortError' || (error instanceof Error && 'code' in error && error.code === 'ABORT_ERR')) {
    return new StoreAbortedError('The write was aborted.', { cause: error });
  }
  if (isNotFound(error)) return new StoreNotFoundError(`S3 has no ${what} (${name || status}).`, { cause: error });
  if (status === 413 || status === 507 || ['EntityTooLarge', 'QuotaExceeded', 'QuotaExceededError'].includes(name)) {
    return new StoreFullError(`S3 refused ${what}: ${name || status} (over a quota or a size limit).`, { cause: error });
  }
  if (writing && (status === 401 || status === 403)) return new StoreWriteDeniedError(`S3 refused ${what}: ${name || status}.`, { cause: error });
  const reason = status === null ? message : `${status} ${name}`;
  return new StoreUnavailableError(`S3 at ${new URL(endpoint).origin} is unavailable: ${reason}`, { cause: error });
}
