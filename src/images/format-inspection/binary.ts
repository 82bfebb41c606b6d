import type { ByteView } from './inspection-types.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** 64-bit header fields beyond 2^53 cannot be a real size or offset here: callers treat null as corrupt. */
function toSafeNumber(value: bigint): number | null {
  return value <= MAX_SAFE ? Number(value) : null;
}

export function readU64LE(buffer: Buffer, offset: number): number | null {
  return toSafeNumber(buffer.readBigUInt64LE(offset));
}

export function readU64BE(buffer: Buffer, offset: number): number | null {
  return toSafeNumber(buffer.readBigUInt64BE(offset));
}

/** `a * b` if it stays an exact integer, otherwise null. */
export function safeMultiply(a: number, b: number): number | null {
  const product = a * b;
  return Number.isSafeInteger(product) ? product : null;
}

export function matchesAt(view: ByteView, offset: number, expected: Buffer): boolean {
  return view.read(offset, expected.length)?.equals(expected) === true;
}

/**
 * The on-disk form of a GUID as Microsoft formats store it (VHDX): the first three groups are
 * little-endian, the last two are byte strings.
 */
export function guidBytes(guid: string): Buffer {
  const hex = guid.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a GUID: ${guid}`);
  const raw = Buffer.from(hex, 'hex');
  return Buffer.concat([
    Buffer.from(raw.subarray(0, 4)).reverse(),
    Buffer.from(raw.subarray(4, 6)).reverse(),
    Buffer.from(raw.subarray(6, 8)).reverse(),
    raw.subarray(8, 16),
  ]);
}

export function isPowerOfTwo(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && (value & (value - 1)) === 0 && value <= 2 ** 30;
}
