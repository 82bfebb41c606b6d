import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../../config/config-error.js';
import { S3_STORE_OPTIONS } from '../../config/options.js';
import type { StoreDriver } from '../store-driver.js';
import { readTrustedCa } from '../trusted-ca.js';
import type { S3BackendSettings } from '../store-settings.js';
import { S3Store } from './s3-store.js';

const MB = 1024 * 1024;

function required(id: string, name: string, value: string | null): string {
  if (value === null || value === '') throw new ConfigError(`[${id}] ${name} is required for the s3 store`);
  return value;
}

/** `s3_store_host` as operators write it: a host (https), or a URL with a scheme and a port. */
function endpointOf(id: string, host: string): string {
  const url = /^https?:\/\//.test(host) ? host : `https://${host}`;
  try {
    return new URL(url).origin;
  } catch {
    throw new ConfigError(`[${id}] s3_store_host: '${host}' is not a host or an http(s) URL`);
  }
}

/** The S3 driver (reference §15.2), through the AWS SDK for JavaScript v3. */
export const s3Driver: StoreDriver<S3BackendSettings, typeof S3_STORE_OPTIONS> = {
  type: 's3',
  options: S3_STORE_OPTIONS,
  settings(id, values, { configDir }) {
    const endpoint = endpointOf(id, required(id, 's3_store_host', values.s3_store_host));
    const bucket = required(id, 's3_store_bucket', values.s3_store_bucket);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError(`[${id}] s3_store_bucket: '${bucket}' is not an S3 bucket name`);
    const hostname = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
    const format = values.s3_store_bucket_url_format;
    return {
      id,
      type: 's3',
      description: values.store_description,
      endpoint,
      accessKey: required(id, 's3_store_access_key', values.s3_store_access_key),
      secretKey: required(id, 's3_store_secret_key', values.s3_store_secret_key),
      bucket,
      createBucketOnPut: values.s3_store_create_bucket_on_put,
      // A bucket cannot be a subdomain of an address or of localhost.
      pathStyle: format === 'path' || (format === 'auto' && (isIP(hostname) !== 0 || hostname === 'localhost')),
      region: values.s3_store_region_name ?? 'us-east-1',
      partSize: values.s3_store_large_object_chunk_size * MB,
      parallelParts: values.s3_store_thread_pools,
      cacert: values.s3_store_cacert === null ? null : resolve(configDir, values.s3_store_cacert),
      connectTimeoutMs: values.s3_store_connect_timeout * 1000,
      readTimeoutMs: values.s3_store_read_timeout * 1000,
    };
  },
  // S3 is not asked anything at startup (as Swift): uploads answer 503 while it is away.
  open(s) {
    const ca = readTrustedCa(s.id, 's3_store_cacert', s.cacert);
    const sockets = s.parallelParts * 4;
    const client = new S3Client({
      endpoint: s.endpoint,
      region: s.region,
      forcePathStyle: s.pathStyle,
      credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
      // Bodies are sent with their length and no aws-chunked framing, which S3-compatible
      // servers (Swift's s3api, older Ceph RGW) refuse with 501.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Retries are the SDK's standard ones (3 attempts, transient failures only); every body
      // sent is a buffer, so a retried part is whole.
      maxAttempts: 3,
      requestHandler: {
        connectionTimeout: s.connectTimeoutMs,
        requestTimeout: s.readTimeoutMs,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: sockets }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: sockets, ...(ca === undefined ? {} : { ca }) }),
      },
    });
    return Promise.resolve(new S3Store(s.id, s, client));
  },
  properties: (s) => ({ bucket: s.bucket, large_object_chunk_size: s.partSize / MB, thread_pools: s.parallelParts }),
  place: (s) => ({ option: 's3_store_bucket', value: `${s.bucket} (at ${s.endpoint})`, what: 'bucket' }),
};
