import type { OptionSchema, SectionValues } from '../config/options.js';
import type { ImageStore } from './image-store.js';
import type { BackendSettings } from './store-settings.js';

export interface StorePaths {
  readonly defaultDir: string;
  readonly configDir: string;
}

/**
 * A kind of store (`enabled_backends = <id>:<type>`, or `[glance_store] default_store`): how its
 * section's options become settings, how a store of it is opened, and what
 * GET /v2/info/stores/detail tells about it. Its options are declared, with Glance's names, in
 * src/config/options.ts (STORE_OPTIONS), so the config loader checks them like any other.
 */
export interface StoreDriver<S extends BackendSettings = BackendSettings, O extends OptionSchema = OptionSchema> {
  readonly type: S['type'];
  /** Its options (STORE_OPTIONS[type]), which `settings` gets converted. */
  readonly options: O;
  /**
   * The settings of store `id` from its section's options; a value that cannot work is a
   * ConfigError naming the section and key. `defaultDir` is where a file-like store may live
   * when the operator did not say (under data_dir); `configDir` is where relative paths in its
   * options resolve (the first config file's directory).
   */
  settings(id: string, values: SectionValues<O>, paths: StorePaths): S;
  /** Opens the store; a backend that cannot be used stops startup here. */
  open(settings: S): Promise<ImageStore>;
  /** The store's properties in GET /v2/info/stores/detail (reference §9.1). */
  properties(settings: S): Readonly<Record<string, unknown>>;
  /**
   * Where the store keeps its objects, and the option that says so. Two stores in one place
   * would each take the other's objects for orphans, so the config refuses that.
   */
  place(settings: S): { readonly option: string; readonly value: string; readonly what: string };
}
