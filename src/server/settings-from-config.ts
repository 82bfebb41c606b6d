import { resolve } from 'node:path';
import type { Config } from '../config/config-loader.js';
import type { KeystoneAuthenticatorOptions } from '../identity/keystone/keystone-authenticator.js';
import type { OptionValue } from '../config/options.js';
import { loadPolicyFile } from '../policy/policy-file.js';
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
  readonly keystone: Omit<KeystoneAuthenticatorOptions, 'now' | 'timeoutMs'> | null;
}

export function settingsFromConfig(config: Config): { settings: ServerSettings; process: ProcessSettings } {
  const v = config.value;
  const dataDir = resolve(String(v('DEFAULT', 'data_dir')));
  const policyFile = String(v('oslo_policy', 'policy_file'));
  const policyPath = resolve(config.configDir, policyFile);
  // The default policy.yaml is optional, as in Glance; a file the operator names must exist.
  const policyOverrides = loadPolicyFile(policyPath, { optional: policyFile === 'policy.yaml' });
  const flavor = String(v('paste_deploy', 'flavor')).startsWith('keystone') ? 'keystone' : 'embedded';
  const authUrl = text(v('keystone_authtoken', 'auth_url'));
  return {
    settings: {
      database: config.database,
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
      policyOverrides,
      imageSizeCap: num(v('DEFAULT', 'image_size_cap')),
      hashingAlgorithm: String(v('DEFAULT', 'hashing_algorithm')),
      fileStore: {
        datadir: resolve(text(v('glance_store', 'filesystem_store_datadir')) ?? resolve(dataDir, 'images')),
        filePerm: num(v('glance_store', 'filesystem_store_file_perm')),
        durable: bool(v('glance_store', 'filesystem_store_fsync')),
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
      keystone:
        flavor === 'keystone' && authUrl !== null
          ? {
              wwwAuthenticateUri: text(v('keystone_authtoken', 'www_authenticate_uri')) ?? authUrl,
              authUrl,
              username: String(v('keystone_authtoken', 'username')),
              password: String(v('keystone_authtoken', 'password')),
              projectName: String(v('keystone_authtoken', 'project_name')),
              userDomainName: String(v('keystone_authtoken', 'user_domain_name')),
              projectDomainName: String(v('keystone_authtoken', 'project_domain_name')),
              tokenCacheSeconds: num(v('keystone_authtoken', 'token_cache_time')),
            }
          : null,
    },
  };
}
