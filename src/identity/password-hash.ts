import { randomBytes, scrypt, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto';

/**
 * Passwords for embedded users, either plain in the config file or as a scrypt hash made by
 * `glimpse-manage hash-password`: `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`.
 */
export type EmbeddedPassword = { readonly kind: 'plain'; readonly value: string } | { readonly kind: 'scrypt'; readonly hash: string };

const PREFIX = 'scrypt$';
const KEY_LENGTH = 32;

function derive(password: BinaryLike, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { ...options, maxmem: 256 * 1024 * 1024 }, (error, key) => {
      if (error === null) resolve(key);
      else reject(error);
    });
  });
}

export function isScryptHash(text: string): boolean {
  return text.startsWith(PREFIX);
}

export async function hashPassword(plain: string): Promise<string> {
  const salt = randomBytes(16);
  const [N, r, p] = [16384, 8, 1];
  const key = await derive(plain, salt, { N, r, p });
  return `${PREFIX}${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Constant-time comparison; a malformed hash never matches. */
export async function verifyPassword(stored: EmbeddedPassword, candidate: string): Promise<boolean> {
  if (stored.kind === 'plain') {
    const a = Buffer.from(stored.value);
    const b = Buffer.from(candidate);
    return a.length === b.length && timingSafeEqual(a, b);
  }
  const [, n, r, p, salt, hash] = stored.hash.split('$');
  if (n === undefined || r === undefined || p === undefined || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length !== KEY_LENGTH) return false;
  try {
    const key = await derive(candidate, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
    return timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}
