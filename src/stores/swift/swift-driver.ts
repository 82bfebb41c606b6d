import { resolve } from 'node:path';
import { ConfigError } from '../../config/config-error.js';
import { SWIFT_STORE_OPTIONS } from '../../config/options.js';
import type { StoreDriver } from '../store-driver.js';
import { readTrustedCa } from '../trusted-ca.js';
import type { SwiftBackendSettings } from '../store-settings.js';
import { SwiftAccountAuth } from './swift-auth.js';
import { SwiftHttp } from './swift-http.js';
import { readAccountReference } from './swift-references.js';
import { SwiftStore } from './swift-store.js';

const MB = 1024 * 1024;
const INTERFACES = { publicURL: 'public', internalURL: 'internal', adminURL: 'admin' } as const;

/** The Swift driver (reference §15.2): single-tenant, one account from glance-swift.conf. */
export const swiftDriver: StoreDriver<SwiftBackendSettings, typeof SWIFT_STORE_OPTIONS> = {
  type: 'swift',
  options: SWIFT_STORE_OPTIONS,
  settings(id, values, { configDir }) {
    if (values.swift_store_multi_tenant) {
      throw new ConfigError(
        `[${id}] swift_store_multi_tenant: the multi-tenant Swift store is not supported yet; use the single-tenant account of swift_store_config_file`,
      );
    }
    if (values.swift_store_config_file === null) throw new ConfigError(`[${id}] swift_store_config_file is required for the swift store`);
    if (values.swift_store_large_object_chunk_size > values.swift_store_large_object_size) {
      throw new ConfigError(
        `[${id}] swift_store_large_object_chunk_size (${values.swift_store_large_object_chunk_size} MB) is larger than swift_store_large_object_size`,
      );
    }
    const container = values.swift_store_container;
    if (!/^[A-Za-z0-9_.-]{1,200}$/.test(container)) throw new ConfigError(`[${id}] swift_store_container: '${container}' is not a container name`);
    return {
      id,
      type: 'swift',
      description: values.store_description,
      account: readAccountReference(resolve(configDir, values.swift_store_config_file), values.default_swift_reference),
      container,
      containersSeed: values.swift_store_multiple_containers_seed,
      createContainerOnPut: values.swift_store_create_container_on_put,
      largeObjectSize: values.swift_store_large_object_size * MB,
      segmentSize: values.swift_store_large_object_chunk_size * MB,
      endpoint: values.swift_store_endpoint === null ? null : values.swift_store_endpoint.replace(/\/+$/, ''),
      catalog: {
        serviceType: values.swift_store_service_type,
        interface: INTERFACES[values.swift_store_endpoint_type],
        region: values.swift_store_region,
      },
      insecure: values.swift_store_auth_insecure,
      cacert: values.swift_store_cacert === null ? null : resolve(configDir, values.swift_store_cacert),
      expireSoonSeconds: values.swift_store_expire_soon_interval,
      connectTimeoutMs: values.swift_store_connect_timeout * 1000,
      readTimeoutMs: values.swift_store_read_timeout * 1000,
    };
  },
  // Swift is not asked anything at startup: a backend that is down for a moment must not keep
  // the API from starting; uploads and downloads answer 503 with the reason until it is back.
  open(s) {
    const ca = readTrustedCa(s.id, 'swift_store_cacert', s.cacert);
    const http = new SwiftHttp({ connectTimeoutMs: s.connectTimeoutMs, readTimeoutMs: s.readTimeoutMs, insecure: s.insecure, ca });
    return Promise.resolve(new SwiftStore(s.id, s, http, new SwiftAccountAuth(http, s)));
  },
  properties: (s) => ({
    container: s.container,
    multiple_containers_seed: s.containersSeed,
    large_object_size: s.largeObjectSize / MB,
    large_object_chunk_size: s.segmentSize / MB,
    multi_tenant: false,
  }),
  place: (s) => ({
    option: 'swift_store_container',
    value: `${s.container} (of ${s.account.user} at ${s.account.authAddress})`,
    what: 'container',
  }),
};
