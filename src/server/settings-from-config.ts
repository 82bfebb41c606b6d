import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Config } from '../config/config-loader.js';
import { databaseConfigOf } from '../db/database-url.js';
import { keystoneSettings, type KeystoneSettings } from '../identity/keystone/keystone-settings.js';
import type { OptionValue } from '../config/options.js';
import { loadPolicyFile } from '../policy/policy-file.js';
import { ConfigError } from '../config/config-error.js';
import type { X509Certificate } from 'node:crypto';
import { loadTrustedCas } from '../signing/image-signatures.js';
import { storeDriver } from '../stores/store-drivers.js';
import type { StoreSettings } from '../stores/store-settings.js';
import type { ServerSettings } from './server-settings.js';

function num(value: OptionValue): number {
  if (typeof value !== 'number') throw new Error(`expected a number, got ${JSON.stringify(value)}`);
  return value;
}
function bool(value: OptionValue): boolean {
  if (typeof value !== 'boolean') throw new Error(`expected a boolean, got ${JSON.stringify(value)}`);
  return value;
}
function text(value: OptionValue): string | null {
  return typeof value === 'string' ? value : null;
}
function list(value: OptionValue): readonly string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

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
    return {
      multiStore: false,
      defaultBackend: 'file',
      backends: [storeDriver('file').settings('file', (name) => config.value('glance_store', name), resolve(dataDir, 'images'))],
    };
  }
  const backends = config.backends.map((b) => storeDriver(b.type).settings(b.id, b.value, resolve(dataDir, b.id)));
  // Two stores in one place would each see the other's objects as orphans.
  const places = backends.map((b) => ({ id: b.id, ...storeDriver(b.type).place(b) }));
  for (const [i, p] of places.entries()) {
    const twin = places.slice(0, i).find((other) => other.option === p.option && other.value === p.value);
    if (twin !== undefined) throw new ConfigError(`[${p.id}] ${p.option}: ${p.value} is also the ${p.what} of store '${twin.id}'`);
  }
  return { multiStore: true, defaultBackend: String(config.value('glance_store', 'default_backend')), backends };
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
  const v = config.value;
  const dataDir = resolve(String(v('DEFAULT', 'data_dir')));
  const policyFile = String(v('oslo_policy', 'policy_file'));
  const policyPath = resolve(config.configDir, policyFile);
  // The default policy.yaml is optional, as in Glance; a file the operator names must exist.
  const policyOverrides = loadPolicyFile(policyPath, { optional: policyFile === 'policy.yaml' });
  const flavor = String(v('paste_deploy', 'flavor')).startsWith('keystone') ? 'keystone' : 'embedded';
  return {
    settings: {
      database: databaseConfigOf(config),
      dataDir,
      publicEndpoint: text(v('DEFAULT', 'public_endpoint')),
      limitParamDefault: num(v('DEFAULT', 'limit_param_default')),
      apiLimitMax: num(v('DEFAULT', 'api_limit_max')),
      imageMemberQuota: num(v('DEFAULT', 'image_member_quota')),
      imagePropertyQuota: num(v('DEFAULT', 'image_property_quota')),
      imageTagQuota: num(v('DEFAULT', 'image_tag_quota')),
      allowAdditionalImageProperties: bool(v('DEFAULT', 'allow_additional_image_properties')),
      maxRequestIdLength: num(v('DEFAULT', 'max_request_id_length')),
      allowAnonymousAccess: bool(v('DEFAULT', 'allow_anonymous_access')),
      healthcheckDisableFile: text(v('healthcheck', 'disable_by_file_path')),
      diskFormats: list(v('image_format', 'disk_formats')),
      containerFormats: list(v('image_format', 'container_formats')),
      enforceNewDefaults: bool(v('oslo_policy', 'enforce_new_defaults')),
      enforceScope: bool(v('oslo_policy', 'enforce_scope')),
      policyOverrides,
      imageSizeCap: num(v('DEFAULT', 'image_size_cap')),
      hashingAlgorithm: String(v('DEFAULT', 'hashing_algorithm')),
      hashingThreads: num(v('DEFAULT', 'hashing_threads')),
      sendfileDownloads: bool(v('DEFAULT', 'sendfile_downloads')),
      uploadSocketReads: bool(v('DEFAULT', 'upload_socket_reads')),
      stores: storeSettings(config, dataDir),
      keyManager: {
        backend: (text(v('key_manager', 'backend')) ?? (flavor === 'keystone' ? 'barbican' : 'embedded')) === 'barbican' ? 'barbican' : 'embedded',
        barbicanEndpoint: text(v('barbican', 'barbican_endpoint')),
        barbicanApiVersion: String(v('barbican', 'barbican_api_version')),
      },
      signatures: {
        partial: v('image_signature_verification', 'partial_signature_properties') === 'ignore' ? 'ignore' : 'refuse',
        trustedCas: trustedCas(text(v('image_signature_verification', 'trusted_ca_file')), config.configDir),
      },
      propertyProtection: {
        file: ((f) => (f === null ? null : resolve(config.configDir, f)))(text(v('DEFAULT', 'property_protection_file'))),
        format: String(v('DEFAULT', 'property_protection_rule_format')),
      },
      formatPolicy: {
        requireImageFormatMatch: bool(v('image_format', 'require_image_format_match')),
        vmdkAllowedTypes: list(v('image_format', 'vmdk_allowed_types')),
      },
      userStorageQuota: parseByteSize(String(v('DEFAULT', 'user_storage_quota'))),
      scrubber: {
        delayedDelete: bool(v('DEFAULT', 'delayed_delete')),
        scrubTimeSeconds: num(v('DEFAULT', 'scrub_time')),
        poolSize: num(v('DEFAULT', 'scrub_pool_size')),
        wakeupSeconds: num(v('DEFAULT', 'wakeup_time')),
      },
      node: {
        id: text(v('DEFAULT', 'node_id')) ?? `${hostname()}:${num(v('DEFAULT', 'bind_port'))}`,
        heartbeatSeconds: num(v('DEFAULT', 'node_heartbeat_interval')),
        deadAfterSeconds: num(v('DEFAULT', 'node_dead_after')),
      },
    },
    process: {
      bindHost: String(v('DEFAULT', 'bind_host')),
      bindPort: num(v('DEFAULT', 'bind_port')),
      workers: num(v('DEFAULT', 'workers')),
      debug: bool(v('DEFAULT', 'debug')),
      logFile: text(v('DEFAULT', 'log_file')),
      flavor,
      tokenExpirationSeconds: num(v('embedded_identity', 'token_expiration')),
      keystone: flavor === 'keystone' ? keystoneSettings((name) => v('keystone_authtoken', name), config.configDir) : null,
    },
  };
}
