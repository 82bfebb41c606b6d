import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config-loader.js';
import { databaseConfigOf } from '../db/database-url.js';
import { keystoneSettings, type KeystoneSettings } from '../identity/keystone/keystone-settings.js';
import {
  BARBICAN_OPTIONS,
  DEFAULT_OPTIONS,
  TASKFLOW_EXECUTOR_OPTIONS,
  IMPORT_FILTERING_OPTIONS,
  IMAGE_IMPORT_OPTIONS,
  IMAGE_CONVERSION_OPTIONS,
  INJECT_METADATA_OPTIONS,
  GLANCE_DOWNLOAD_OPTIONS,
  TASK_OPTIONS,
  EMBEDDED_IDENTITY_OPTIONS,
  GLANCE_STORE_OPTIONS,
  STORE_TYPE_ALIASES,
  HEALTHCHECK_OPTIONS,
  STAGING_STORE_OPTIONS,
  IMAGE_FORMAT_OPTIONS,
  IMAGE_SIGNATURE_VERIFICATION_OPTIONS,
  KEY_MANAGER_OPTIONS,
  KEYSTONE_AUTHTOKEN_OPTIONS,
  OSLO_POLICY_OPTIONS,
  PASTE_DEPLOY_OPTIONS,
} from '../config/options.js';
import { loadPolicyFile } from '../policy/policy-file.js';
import { ConfigError } from '../config/config-error.js';
import type { X509Certificate } from 'node:crypto';
import { loadTrustedCas } from '../signing/image-signatures.js';
import { storeDriver } from '../stores/store-drivers.js';
import type { StoreSettings } from '../stores/store-settings.js';
import type { ServerSettings } from './server-settings.js';
import type { UrlFilterSettings } from '../fetching/url-filter-settings.js';
import type { SectionValues } from '../config/options.js';
import { isPluginName, PLUGIN_NAMES } from '../imports/plugins/plugin-table.js';

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** `user_storage_quota`: bytes with an optional B/KB/MB/GB/TB suffix, powers of 1024 (reference §3.3). */
export function parseByteSize(value: string): number {
  const match = /^\s*(\d+)\s*([KMGT]?B)?\s*$/i.exec(value);
  const factor = SIZE_UNITS[(match?.[2] ?? '').toUpperCase()];
  const bytes = Number(match?.[1]) * (factor ?? NaN);
  if (match === null || !Number.isSafeInteger(bytes)) throw new ConfigError(`[DEFAULT] user_storage_quota: '${value}' is not a size such as 0, 500MB or 2TB`);
  return bytes;
}

/** Single store from `[glance_store]`, or the multi-store backends (reference §15.1). */
function storeSettings(config: Config, dataDir: string): StoreSettings {
  if (config.backends === null) {
    // Single store: `default_store` names the type (swift+config is swift), whose options are in [glance_store].
    const given = config.section(GLANCE_STORE_OPTIONS).default_store;
    const type = STORE_TYPE_ALIASES[given] ?? given;
    return {
      multiStore: false,
      defaultBackend: type,
      backends: [
        storeDriver(type).settings(type, config.section(GLANCE_STORE_OPTIONS), { defaultDir: resolve(dataDir, 'images'), configDir: config.configDir }),
      ],
    };
  }
  const backends = config.backends.map((b) =>
    storeDriver(b.type).settings(b.id, b.values, { defaultDir: resolve(dataDir, b.id), configDir: config.configDir }),
  );
  // Two stores in one place would each see the other's objects as orphans.
  const places = backends.map((b) => ({ id: b.id, ...storeDriver(b.type).place(b) }));
  for (const [i, p] of places.entries()) {
    const twin = places.slice(0, i).find((other) => other.option === p.option && other.value === p.value);
    if (twin !== undefined) throw new ConfigError(`[${p.id}] ${p.option}: ${p.value} is also the ${p.what} of store '${twin.id}'`);
  }
  // The loader has checked that default_backend names one of enabled_backends.
  return { multiStore: true, defaultBackend: config.section(GLANCE_STORE_OPTIONS).default_backend ?? '', backends };
}

/**
 * Where staged data waits (reference §9.2): `[os_glance_staging_store]` in multi-store mode,
 * else (and when that section names no directory) `node_staging_uri`, else <data_dir>/staging.
 * Staged files are flushed to disk as the default store's are, unless the staging section says:
 * an operator who turned durability off for the images has it off for what waits to become one.
 */
function staging(config: Config, dataDir: string, stores: StoreSettings): { stagingDir: string; stagingDurable: boolean } {
  const d = config.section(DEFAULT_OPTIONS);
  const reserved = config.section(STAGING_STORE_OPTIONS);
  const single = d.node_staging_uri === null ? resolve(dataDir, 'staging') : fileURLToPath(d.node_staging_uri);
  const multi = config.backends === null ? null : reserved.filesystem_store_datadir;
  const defaultStore = stores.backends.find((b) => b.id === stores.defaultBackend);
  return {
    stagingDir: multi === null ? single : resolve(config.configDir, multi),
    stagingDurable: reserved.filesystem_store_fsync ?? (defaultStore !== undefined && 'durable' in defaultStore ? defaultStore.durable : true),
  };
}

/** `trusted_ca_file`, read at startup: a bad bundle stops the server with the option named. */
function trustedCas(file: string | null, configDir: string): X509Certificate[] | null {
  if (file === null) return null;
  try {
    return loadTrustedCas(resolve(configDir, file));
  } catch (error) {
    throw new ConfigError(`[image_signature_verification] trusted_ca_file: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** How the process listens and authenticates, beside the ServerSettings the app needs. */
export interface ProcessSettings {
  readonly bindHost: string;
  readonly bindPort: number;
  readonly workers: number;
  readonly debug: boolean;
  readonly logFile: string | null;
  readonly flavor: 'embedded' | 'keystone';
  readonly tokenExpirationSeconds: number;
  /** `[keystone_authtoken]`, for the keystone flavor. */
  readonly keystone: KeystoneSettings | null;
}

export function settingsFromConfig(config: Config): { settings: ServerSettings; process: ProcessSettings } {
  const d = config.section(DEFAULT_OPTIONS);
  const policy = config.section(OSLO_POLICY_OPTIONS);
  const formats = config.section(IMAGE_FORMAT_OPTIONS);
  const signing = config.section(IMAGE_SIGNATURE_VERIFICATION_OPTIONS);
  const barbican = config.section(BARBICAN_OPTIONS);
  const dataDir = resolve(d.data_dir);
  const stores = storeSettings(config, dataDir);
  const policyPath = resolve(config.configDir, policy.policy_file);
  // The default policy.yaml is optional, as in Glance; a file the operator names must exist.
  const policyOverrides = loadPolicyFile(policyPath, { optional: policy.policy_file === 'policy.yaml' });
  const flavor = config.section(PASTE_DEPLOY_OPTIONS).flavor.startsWith('keystone') ? 'keystone' : 'embedded';
  const keyManager = config.section(KEY_MANAGER_OPTIONS).backend ?? (flavor === 'keystone' ? 'barbican' : 'embedded');
  return {
    settings: {
      database: databaseConfigOf(config),
      dataDir,
      publicEndpoint: d.public_endpoint,
      limitParamDefault: d.limit_param_default,
      apiLimitMax: d.api_limit_max,
      imageMemberQuota: d.image_member_quota,
      imagePropertyQuota: d.image_property_quota,
      imageTagQuota: d.image_tag_quota,
      allowAdditionalImageProperties: d.allow_additional_image_properties,
      maxRequestIdLength: d.max_request_id_length,
      allowAnonymousAccess: d.allow_anonymous_access,
      healthcheckDisableFile: config.section(HEALTHCHECK_OPTIONS).disable_by_file_path,
      diskFormats: formats.disk_formats,
      containerFormats: formats.container_formats,
      enforceNewDefaults: policy.enforce_new_defaults,
      enforceScope: policy.enforce_scope,
      policyOverrides,
      imageSizeCap: d.image_size_cap,
      hashingAlgorithm: d.hashing_algorithm,
      hashingThreads: d.hashing_threads,
      sendfileDownloads: d.sendfile_downloads,
      uploadSocketReads: d.upload_socket_reads,
      stores,
      keyManager: { backend: keyManager, barbicanEndpoint: barbican.barbican_endpoint, barbicanApiVersion: barbican.barbican_api_version },
      signatures: { partial: signing.partial_signature_properties, trustedCas: trustedCas(signing.trusted_ca_file, config.configDir) },
      propertyProtection: {
        file: d.property_protection_file === null ? null : resolve(config.configDir, d.property_protection_file),
        format: d.property_protection_rule_format,
      },
      formatPolicy: { requireImageFormatMatch: formats.require_image_format_match, vmdkAllowedTypes: formats.vmdk_allowed_types },
      userStorageQuota: parseByteSize(d.user_storage_quota),
      scrubber: { delayedDelete: d.delayed_delete, scrubTimeSeconds: d.scrub_time, poolSize: d.scrub_pool_size, wakeupSeconds: d.wakeup_time },
      node: { id: d.node_id ?? `${hostname()}:${d.bind_port}`, heartbeatSeconds: d.node_heartbeat_interval, deadAfterSeconds: d.node_dead_after },
      imports: {
        methods: importMethods(d.enabled_import_methods),
        ...staging(config, dataDir, stores),
        selfUrl: d.worker_self_reference_url ?? d.public_endpoint,
        maxWorkers: config.section(TASKFLOW_EXECUTOR_OPTIONS).max_workers,
        taskTimeToLiveHours: config.section(TASK_OPTIONS).task_time_to_live,
        jobLeaseSeconds: config.section(TASK_OPTIONS).job_lease_seconds,
        urlFilter: urlFilter(config.section(IMPORT_FILTERING_OPTIONS)),
        plugins: importPlugins(config.section(IMAGE_IMPORT_OPTIONS).image_import_plugins),
        conversionFormat: config.section(IMAGE_CONVERSION_OPTIONS).output_format,
        inject: {
          properties: injectedProperties(config.section(INJECT_METADATA_OPTIONS).inject),
          ignoreUserRoles: config.section(INJECT_METADATA_OPTIONS).ignore_user_roles,
        },
        workDir: resolve(dataDir, config.section(TASK_OPTIONS).work_dir ?? 'import-work'),
        extraProperties: config.section(GLANCE_DOWNLOAD_OPTIONS).extra_properties,
      },
    },
    process: {
      bindHost: d.bind_host,
      bindPort: d.bind_port,
      workers: d.workers,
      debug: d.debug,
      logFile: d.log_file,
      flavor,
      tokenExpirationSeconds: config.section(EMBEDDED_IDENTITY_OPTIONS).token_expiration,
      keystone: flavor === 'keystone' ? keystoneSettings(config.section(KEYSTONE_AUTHTOKEN_OPTIONS), config.configDir) : null,
    },
  };
}

/** The import methods Glimpse runs; one it does not (yet) is a startup error, not a 202 that fails later. */
const IMPLEMENTED_IMPORT_METHODS: readonly string[] = ['glance-direct', 'web-download', 'copy-image', 'glance-download'];

function importMethods(names: readonly string[]): readonly string[] {
  for (const name of names) {
    if (!IMPLEMENTED_IMPORT_METHODS.includes(name)) {
      throw new ConfigError(`[DEFAULT] enabled_import_methods: '${name}' is not an import method Glimpse offers (${IMPLEMENTED_IMPORT_METHODS.join(', ')})`);
    }
  }
  return names;
}

function ports(option: string, values: readonly string[]): number[] {
  return values.map((value) => {
    const port = Number(value);
    if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new ConfigError(`[import_filtering_opts] ${option}: '${value}' is not a port`);
    return port;
  });
}

function urlFilter(opts: SectionValues<(typeof IMPORT_FILTERING_OPTIONS)['options']>): UrlFilterSettings {
  return {
    allowedSchemes: opts.allowed_schemes,
    disallowedSchemes: opts.disallowed_schemes,
    allowedHosts: opts.allowed_hosts,
    disallowedHosts: opts.disallowed_hosts,
    allowedPorts: ports('allowed_ports', opts.allowed_ports),
    disallowedPorts: ports('disallowed_ports', opts.disallowed_ports),
  };
}

function importPlugins(names: readonly string[]): readonly string[] {
  for (const name of names) {
    if (!isPluginName(name)) {
      throw new ConfigError(`[image_import_opts] image_import_plugins: '${name}' is not an import plugin (${PLUGIN_NAMES.join(', ')})`);
    }
  }
  return names;
}

/** `inject = k1:v1, k2:v2`, as oslo.config reads a dict option. */
function injectedProperties(pairs: readonly string[]): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf(':');
    if (at <= 0) throw new ConfigError(`[inject_metadata_properties] inject: '${pair}' is not key:value`);
    properties[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return properties;
}
