/** The configured image stores (`[glance_store]`, or `enabled_backends` and their sections, reference §15.1). */
export interface FileBackendSettings {
  readonly id: string;
  readonly type: 'file';
  readonly description: string | null;
  readonly datadir: string;
  readonly filePerm: number;
  readonly durable: boolean;
  /** `filesystem_store_direct_io` (Glimpse option). */
  readonly directIo: boolean;
}

export interface StoreSettings {
  /** `enabled_backends` is set: X-Image-Meta-Store, /v2/info/stores and the `stores` field exist. */
  readonly multiStore: boolean;
  readonly defaultBackend: string;
  readonly backends: readonly FileBackendSettings[];
}
