/**
 * The configured image stores (`[glance_store]`, or `enabled_backends` and their sections,
 * reference §15.1), each read by its driver (src/stores/store-drivers.ts) into its own settings.
 */
interface BackendSettingsBase {
  /** The store id: the `enabled_backends` key, or the type in single-store mode. */
  readonly id: string;
  /** `store_description`, shown by GET /v2/info/stores. */
  readonly description: string | null;
}

/** The file driver's `filesystem_store_*` options. */
export interface FileBackendSettings extends BackendSettingsBase {
  readonly type: 'file';
  readonly datadir: string;
  readonly filePerm: number;
  readonly durable: boolean;
  /** `filesystem_store_direct_io` (Glimpse option). */
  readonly directIo: boolean;
}

/** One configured store, whatever its driver; a new driver adds its settings to this union. */
export type BackendSettings = FileBackendSettings;

export interface StoreSettings {
  /** `enabled_backends` is set: X-Image-Meta-Store, /v2/info/stores and the `stores` field exist. */
  readonly multiStore: boolean;
  readonly defaultBackend: string;
  readonly backends: readonly BackendSettings[];
}
