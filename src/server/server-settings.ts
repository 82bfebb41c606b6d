import type { DatabaseConfig } from '../db/database.js';

/**
 * Everything the composition root needs, already validated. Built from the INI configuration by
 * `settingsFromConfig` (src/server/settings-from-config.ts); tests build it directly.
 */
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
  /** Rule overrides from the policy file. */
  readonly policyOverrides: Readonly<Record<string, string>>;
  /** `image_size_cap` in bytes. */
  readonly imageSizeCap: number;
  /** `hashing_algorithm`, a node:crypto hash name. */
  readonly hashingAlgorithm: string;
  /** The file store (`[glance_store]` filesystem options). */
  readonly fileStore: { readonly datadir: string; readonly filePerm: number; readonly durable: boolean };
}
