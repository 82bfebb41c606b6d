import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/config-error.js';

/**
 * A store's CA bundle option (`swift_store_cacert`, `s3_store_cacert`), read when the store is
 * opened: a file that cannot be read stops startup with the store and the option named.
 */
export function readTrustedCa(storeId: string, option: string, path: string | null): Buffer | undefined {
  if (path === null) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`[${storeId}] ${option}: ${path} cannot be read (${error instanceof Error ? error.message : String(error)})`);
  }
}
