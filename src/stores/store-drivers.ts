import { ConfigError } from '../config/config-error.js';
import { fileDriver } from './file/file-driver.js';
import { s3Driver } from './s3/s3-driver.js';
import { swiftDriver } from './swift/swift-driver.js';
import type { StoreDriver } from './store-driver.js';
import type { BackendSettings } from './store-settings.js';

/**
 * The store drivers by type. A new backend (swift, s3, http) is a driver file under
 * src/stores/<type>/, its settings in the BackendSettings union, its options in STORE_OPTIONS
 * (src/config/options.ts), and one line here.
 */
const DRIVERS: { readonly [T in BackendSettings['type']]: StoreDriver<Extract<BackendSettings, { type: T }>> } = {
  file: fileDriver,
  swift: swiftDriver,
  s3: s3Driver,
};

/** The driver of a store type the config names; the loader has already refused unknown types. */
export function storeDriver(type: string): StoreDriver {
  const driver = (DRIVERS as Readonly<Record<string, StoreDriver>>)[type];
  if (driver === undefined) throw new ConfigError(`store type '${type}' is not supported (supported: ${Object.keys(DRIVERS).join(', ')})`);
  return driver;
}
