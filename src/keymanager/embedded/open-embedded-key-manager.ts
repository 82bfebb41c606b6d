import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../../db/database.js';
import { SecretCipher } from './secret-cipher.js';
import { SecretRepository } from './secret-repository.js';
import { SecretService } from './secret-service.js';

/** The embedded key manager, its master key in `<data_dir>/key-manager.key` (README "Key manager"). */
export async function openEmbeddedKeyManager(dataDir: string, db: Db): Promise<SecretService> {
  await mkdir(dataDir, { recursive: true });
  return new SecretService(new SecretRepository(db), await SecretCipher.open(join(dataDir, 'key-manager.key')));
}
