import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * Encrypts embedded key-manager payloads at rest with AES-256-GCM under a master key kept in a
 * file of its own (mode 0600), as Barbican's simple_crypto plugin keeps a KEK outside the
 * database: a copy of the database alone does not reveal the secrets.
 */
export class SecretCipher {
  private constructor(private readonly key: Buffer) {}

  /** Reads the master key, creating it on first use; concurrent first starts agree on one key. */
  static async open(path: string): Promise<SecretCipher> {
    try {
      await writeFile(path, randomBytes(KEY_BYTES).toString('base64'), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'EEXIST')) throw error;
    }
    const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`${path} does not hold a ${KEY_BYTES}-byte base64 key`);
    return new SecretCipher(key);
  }

  /** `iv.tag.ciphertext`, each base64; the secret id is bound in as associated data. */
  seal(id: string, payload: Buffer): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(id));
    const data = Buffer.concat([cipher.update(payload), cipher.final()]);
    return [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64')).join('.');
  }

  open(id: string, sealed: string): Buffer {
    const [iv = '', tag = '', data = ''] = sealed.split('.');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]);
  }
}
