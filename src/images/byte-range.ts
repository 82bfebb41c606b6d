import { InvalidInputError, RangeNotSatisfiableError } from '../errors/domain-errors.js';
import type { ByteRange } from '../stores/image-store.js';

/**
 * `Range: bytes=a-b | a- | -n` against an object of `size` bytes (reference §3.2). Several ranges
 * are refused with 400 as Glance does; anything unparsable or past the end with 416.
 */
export function resolveRange(header: string | undefined, size: number): ByteRange | null {
  if (header === undefined) return null;
  const value = header.trim();
  if (value.includes(',')) {
    throw new InvalidInputError('Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.');
  }
  const match = /^bytes=(\d*)-(\d*)$/.exec(value);
  if (match === null || (match[1] === '' && match[2] === '')) throw new RangeNotSatisfiableError('Invalid Range header.');
  const [, first = '', last = ''] = match;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw new RangeNotSatisfiableError('Invalid Range header.');
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size) {
    throw new RangeNotSatisfiableError(`Invalid start position in Range header. Start position MUST be in the inclusive range [0, ${size - 1}].`);
  }
  if (end < start) throw new RangeNotSatisfiableError('Invalid Range header.');
  return { start, end };
}
