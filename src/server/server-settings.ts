import type { X509Certificate } from 'node:crypto';
import type { DatabaseConfig } from '../db/database.js';
import type { ScrubberSettings } from '../maintenance/scrubber-settings.js';
import type { StoreSettings } from '../stores/store-settings.js';
import type { UrlFilterSettings } from '../fetching/url-filter-settings.js';

/**
 * Everything the composition root needs, already validated. Built from the INI configuration by
 * `settingsFromConfig` (src/server/settings-from-config.ts); tests build it directly.
 */
/** This node among the glimpse-api nodes sharing the database (README "Several nodes"). */
export interface NodeSettings {
  /** `[DEFAULT] node_id`: stable across restarts of the same node, unique among nodes. */
  readonly id: string;
  /** How often the node's heartbeat row is renewed, and after how long without one it is taken for dead. */
  readonly heartbeatSeconds: number;
  readonly deadAfterSeconds: number;
}

/** Interoperable import and the tasks it runs as (reference §9, §10; README "Import"). */
export interface ImportSettings {
  /** `enabled_import_methods`, each one Glimpse implements. */
  readonly methods: readonly string[];
  /** The staging directory (`node_staging_uri`, default <data_dir>/staging). */
  readonly stagingDir: string;
  /** Staged files are flushed to disk before a stage or download into staging succeeds. */
  readonly stagingDurable: boolean;
  /** `worker_self_reference_url`, else `public_endpoint`: recorded as os_glance_stage_host. */
  readonly selfUrl: string | null;
  /** `[taskflow_executor] max_workers`: jobs one process runs at once. */
  readonly maxWorkers: number;
  /** `[task] task_time_to_live` in hours. */
  readonly taskTimeToLiveHours: number;
  /** `[task] job_lease_seconds`. */
  readonly jobLeaseSeconds: number;
  /** `[import_filtering_opts]`: what web-download may fetch (reference §9.5). */
  readonly urlFilter: UrlFilterSettings;
  /** `[image_import_opts] image_import_plugins`, in order (reference §9.7). */
  readonly plugins: readonly string[];
  /** `[image_conversion] output_format`. */
  readonly conversionFormat: 'raw' | 'qcow2' | 'vmdk';
  /** `[inject_metadata_properties]`. */
  readonly inject: { readonly properties: Readonly<Record<string, string>>; readonly ignoreUserRoles: readonly string[] };
  /** `[task] work_dir`, default <data_dir>/import-work. */
  readonly workDir: string;
  /** `[glance_download_properties] extra_properties`. */
  readonly extraProperties: readonly string[];
}

export interface ServerSettings {
  readonly database: DatabaseConfig;
  readonly dataDir: string;
  readonly publicEndpoint: string | null;
  readonly limitParamDefault: number;
  readonly apiLimitMax: number;
  readonly imageMemberQuota: number;
  readonly imagePropertyQuota: number;
  readonly imageTagQuota: number;
  readonly allowAdditionalImageProperties: boolean;
  readonly maxRequestIdLength: number;
  readonly allowAnonymousAccess: boolean;
  readonly healthcheckDisableFile: string | null;
  readonly diskFormats: readonly string[];
  readonly containerFormats: readonly string[];
  /** `[oslo_policy] enforce_new_defaults` (= `[DEFAULT] enforce_secure_rbac`). */
  readonly enforceNewDefaults: boolean;
  /** `[oslo_policy] enforce_scope`: tokens not scoped to a project are refused by image rules. */
  readonly enforceScope: boolean;
  /** Rule overrides from the policy file. */
  readonly policyOverrides: Readonly<Record<string, string>>;
  /** `image_size_cap` in bytes. */
  readonly imageSizeCap: number;
  /** `hashing_algorithm`, a node:crypto hash name. */
  readonly hashingAlgorithm: string;
  /** `hashing_threads`: 0 hashes uploads on the event loop, N on N worker threads. */
  readonly hashingThreads: number;
  /** `sendfile_downloads`: file-store downloads by sendfile(2) where the addon is built. */
  readonly sendfileDownloads: boolean;
  /** `upload_socket_reads`: plain-HTTP upload bodies read from the socket into shared regions. */
  readonly uploadSocketReads: boolean;
  /** The image stores (`[glance_store]`, or `enabled_backends` and their sections). */
  readonly stores: StoreSettings;
  /** `[key_manager] backend` and `[barbican]`: where signature certificates come from. */
  readonly keyManager: {
    readonly backend: 'embedded' | 'barbican';
    readonly barbicanEndpoint: string | null;
    readonly barbicanApiVersion: string;
  };
  /** `[image_signature_verification]`: partial property sets, trust anchors (reference §7). */
  readonly signatures: { readonly partial: 'refuse' | 'ignore'; readonly trustedCas: readonly X509Certificate[] | null };
  /** `property_protection_file` (resolved) and `property_protection_rule_format` (reference §6). */
  readonly propertyProtection: { readonly file: string | null; readonly format: string };
  /** `[image_format] require_image_format_match` and `vmdk_allowed_types`. */
  readonly formatPolicy: { readonly requireImageFormatMatch: boolean; readonly vmdkAllowedTypes: readonly string[] };
  /** `user_storage_quota` in bytes; 0 means no quota. */
  readonly userStorageQuota: number;
  /** `delayed_delete` and the scrubber's `scrub_time`, `scrub_pool_size`, `wakeup_time` (reference §12). */
  readonly scrubber: ScrubberSettings;
  readonly node: NodeSettings;
  readonly imports: ImportSettings;
}
