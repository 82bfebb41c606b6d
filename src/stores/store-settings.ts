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

/** A domain of the identity service, by id or by name. */
export type SwiftDomain = { readonly id: string } | { readonly name: string };

/**
 * One account reference of `swift_store_config_file` (glance-swift.conf): how to log in to the
 * account that holds the images. Version 1 is Swift's own auth (tempauth, swauth); 3 is Keystone
 * (`user` is `<project>:<user>`).
 */
export interface SwiftAccountReference {
  readonly name: string;
  readonly authAddress: string;
  readonly authVersion: '1' | '3';
  readonly user: string;
  readonly key: string;
  readonly userDomain: SwiftDomain;
  readonly projectDomain: SwiftDomain;
}

/** The Swift driver's `swift_store_*` options (reference §15.2), single-tenant. */
export interface SwiftBackendSettings extends BackendSettingsBase {
  readonly type: 'swift';
  readonly account: SwiftAccountReference;
  readonly container: string;
  /** `swift_store_multiple_containers_seed`: 0 for one container. */
  readonly containersSeed: number;
  readonly createContainerOnPut: boolean;
  /** Bytes: larger data, and data of unknown size, is written in segments. */
  readonly largeObjectSize: number;
  readonly segmentSize: number;
  /** `swift_store_endpoint`, else the catalog entry (Keystone) or X-Storage-Url (v1). */
  readonly endpoint: string | null;
  readonly catalog: { readonly serviceType: string; readonly interface: 'public' | 'internal' | 'admin'; readonly region: string | null };
  readonly insecure: boolean;
  readonly cacert: string | null;
  readonly expireSoonSeconds: number;
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
}

/** The S3 driver's `s3_store_*` options (reference §15.2). */
export interface S3BackendSettings extends BackendSettingsBase {
  readonly type: 's3';
  /** The endpoint URL (`https://host` when the option named only a host). */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  readonly createBucketOnPut: boolean;
  readonly pathStyle: boolean;
  readonly region: string;
  /** Bytes of each multipart part. */
  readonly partSize: number;
  /** Parts of one upload in flight at once. */
  readonly parallelParts: number;
  readonly cacert: string | null;
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
}

/** One configured store, whatever its driver; a new driver adds its settings to this union. */
export type BackendSettings = FileBackendSettings | SwiftBackendSettings | S3BackendSettings;

export interface StoreSettings {
  /** `enabled_backends` is set: X-Image-Meta-Store, /v2/info/stores and the `stores` field exist. */
  readonly multiStore: boolean;
  readonly defaultBackend: string;
  readonly backends: readonly BackendSettings[];
}
