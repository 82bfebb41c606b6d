import type { ByteRange } from './image-store.js';
import { StoreRangeError } from './store-errors.js';

/**
 * Ranged reads from object stores, in one request. Swift and S3 serve what they can of a range
 * and cut its end at the object's (`bytes=5-10000` of 10,000 bytes is answered 206 with
 * `bytes 5-9999/10000`), so the answer's Content-Range says whether the range was inside the
 * object; a HEAD first would cost a round trip on every ranged download.
 */
export function checkRange(range: ByteRange, location: string): void {
  if (range.start < 0 || range.end < range.start) throw new StoreRangeError(`Range ${range.start}-${range.end} is not a range of ${location}.`);
}

/** The range header of a request for `range`. */
export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end}`;
}

/** Fails unless a 206's Content-Range (`bytes a-b/total`) is exactly the range asked. */
export function requireServed(range: ByteRange, contentRange: string | undefined, location: string): void {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange?.trim() ?? '');
  if (match !== null && Number(match[1]) === range.start && Number(match[2]) === range.end) return;
  const size = match?.[3] ?? 'unknown';
  throw new StoreRangeError(`Range ${range.start}-${range.end} is outside the ${size} bytes of ${location}.`);
}
