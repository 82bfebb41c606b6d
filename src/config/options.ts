/**
 * Every option Glimpse reads, declared once with its type, by Glance's section and name so an
 * operator's glance-api.conf carries over. Defaults are Glance's unless the help says why not.
 * The loader (config-loader.ts) converts each given value by its declared type, and
 * `config.section(X_OPTIONS)` hands a section out already typed: a number option is a number.
 */
export type OptionType =
  | { readonly kind: 'string' }
  | { readonly kind: 'int'; readonly min?: number; readonly max?: number }
  | { readonly kind: 'bool' }
  | { readonly kind: 'list' }
  | { readonly kind: 'enum'; readonly choices: readonly string[] }
  | { readonly kind: 'uri' }
  /** Text of a given form, e.g. a database URL; `form` names it in the error. */
  | { readonly kind: 'pattern'; readonly pattern: RegExp; readonly form: string };

export type OptionValue = string | number | boolean | readonly string[] | null;

/** One option: its type, its default (whose type is the option's value type), its help. */
export interface Option<T extends OptionValue> {
  readonly type: OptionType;
  readonly default: T;
  readonly help: string;
  /** A store option that a multi-store section must set (single-store mode has a default). */
  readonly requiredInStoreSection?: boolean;
}

export type OptionSchema = Readonly<Record<string, Option<OptionValue>>>;

/** A section's values as the loader hands them out, typed by the section's schema. */
export type SectionValues<S extends OptionSchema> = { readonly [K in keyof S]: S[K]['default'] };

export interface Section<S extends OptionSchema> {
  readonly name: string;
  readonly options: S;
}

/** An option with the section it belongs to, for the loader and the sample config. */
export interface OptionDefinition extends Option<OptionValue> {
  readonly section: string;
  readonly name: string;
}

const section = <S extends OptionSchema>(name: string, options: S): Section<S> => ({ name, options });
const text = (defaultValue: string, help: string): Option<string> => ({ type: { kind: 'string' }, default: defaultValue, help });
const optionalText = (help: string): Option<string | null> => ({ type: { kind: 'string' }, default: null, help });
const int = (defaultValue: number, help: string, range: { readonly min?: number; readonly max?: number } = {}): Option<number> => ({
  type: { kind: 'int', ...range },
  default: defaultValue,
  help,
});
const bool = (defaultValue: boolean, help: string): Option<boolean> => ({ type: { kind: 'bool' }, default: defaultValue, help });
const optionalBool = (help: string): Option<boolean | null> => ({ type: { kind: 'bool' }, default: null, help });
const list = (defaultValue: readonly string[], help: string): Option<readonly string[]> => ({ type: { kind: 'list' }, default: defaultValue, help });
const choice = <const C extends string>(choices: readonly C[], defaultValue: C, help: string): Option<C> => ({
  type: { kind: 'enum', choices },
  default: defaultValue,
  help,
});
const optionalChoice = <const C extends string>(choices: readonly C[], help: string): Option<C | null> => ({
  type: { kind: 'enum', choices },
  default: null,
  help,
});
const uri = (help: string): Option<string | null> => ({ type: { kind: 'uri' }, default: null, help });
const pattern = (re: RegExp, form: string, help: string): Option<string | null> => ({ type: { kind: 'pattern', pattern: re, form }, default: null, help });
const requiredInStoreSection = <T extends OptionValue>(option: Option<T>): Option<T> => ({ ...option, requiredInStoreSection: true });

/**
 * The file driver's options: in `[glance_store]` for a single store, in the store's own section
 * (named by its enabled_backends id) for multi-store (reference §15.1).
 */
export const FILE_STORE_OPTIONS = {
  filesystem_store_datadir: requiredInStoreSection(optionalText('File store directory; default <data_dir>/images (required for a multi-store file backend).')),
  filesystem_store_file_perm: int(0, 'Permission (octal, e.g. 640) of image files; 0 keeps the process umask.', { min: 0, max: 777 }),
  filesystem_store_fsync: bool(true, 'Flush image files to disk before an upload succeeds (Glimpse option).'),
  filesystem_store_direct_io: bool(
    true,
    'Write image files with O_DIRECT, bypassing the page cache, where the filesystem allows (Glimpse option; see bench/README.md).',
  ),
  store_description: optionalText('Shown by GET /v2/info/stores (multi-store).'),
} satisfies OptionSchema;

/**
 * The Swift driver's options (reference §15.2), with Glance's names and defaults; the account's
 * credentials are references in `swift_store_config_file` (glance-swift.conf), never here.
 */
export const SWIFT_STORE_OPTIONS = {
  swift_store_config_file: requiredInStoreSection(optionalText('glance-swift.conf: the account references ([ref1] auth_address, user, key, auth_version).')),
  default_swift_reference: text('ref1', 'The reference (section of swift_store_config_file) whose account holds the images.'),
  swift_store_container: text('glance', 'Container of the images (the prefix of the containers, with multiple_containers_seed).'),
  swift_store_multiple_containers_seed: int(0, 'Spread images over containers named <container>_<first N characters of the id>; 0: one container.', {
    min: 0,
    max: 32,
  }),
  swift_store_create_container_on_put: bool(false, 'Create a missing container on the first upload into it.'),
  swift_store_large_object_size: int(5120, 'MB: data larger than this (and data of unknown size) is stored in segments.', { min: 1 }),
  swift_store_large_object_chunk_size: int(200, 'MB: the size of each segment.', { min: 1 }),
  swift_store_multi_tenant: bool(false, "Store each image in its owner's own account (not supported yet: Glimpse refuses to start with it)."),
  swift_store_admin_tenants: list([], 'Multi-tenant: projects given read and write access to every image container.'),
  swift_store_endpoint: optionalText("The Swift URL to use instead of the catalog's (e.g. http://swift:8080/v1/AUTH_glance)."),
  swift_store_endpoint_type: choice(['publicURL', 'adminURL', 'internalURL'], 'publicURL', 'Catalog interface of the Swift endpoint.'),
  swift_store_service_type: text('object-store', 'Catalog service type of Swift.'),
  swift_store_region: optionalText('Catalog region of the Swift endpoint (the first one when unset).'),
  swift_store_auth_insecure: bool(false, "Do not verify the identity service's and Swift's certificates."),
  swift_store_cacert: optionalText("PEM bundle trusted for the identity service's and Swift's certificates."),
  swift_store_ssl_compression: bool(true, 'Accepted for compatibility (Node never compresses TLS).'),
  swift_store_retry_get_count: int(0, 'Accepted for compatibility: idempotent requests are retried twice on connection failures.', { min: 0 }),
  swift_store_use_trusts: bool(true, 'Multi-tenant: use Keystone trusts for long transfers.'),
  swift_store_expire_soon_interval: int(60, 'Seconds: a token that expires sooner is renewed before the next request.', { min: 0 }),
  swift_buffer_on_upload: bool(false, 'Accepted for compatibility: segments are streamed, never buffered on disk.'),
  swift_upload_buffer_dir: optionalText('Accepted for compatibility (see swift_buffer_on_upload).'),
  swift_store_connect_timeout: int(10, 'Seconds to connect to Swift or the identity service (Glimpse option).', { min: 1 }),
  swift_store_read_timeout: int(60, 'Seconds Swift may take to answer or to send the next bytes before it counts as down (Glimpse option).', {
    min: 1,
  }),
  store_description: optionalText('Shown by GET /v2/info/stores (multi-store).'),
} satisfies OptionSchema;

/**
 * The S3 driver's options (reference §15.2), with Glance's names and defaults.
 */
export const S3_STORE_OPTIONS = {
  s3_store_host: requiredInStoreSection(optionalText('The S3 endpoint: a host (https) or a URL (http://rgw:8080).')),
  s3_store_access_key: requiredInStoreSection(optionalText('Access key of the S3 account.')),
  s3_store_secret_key: requiredInStoreSection(optionalText('Secret key of the S3 account.')),
  s3_store_bucket: requiredInStoreSection(optionalText('Bucket of the images.')),
  s3_store_create_bucket_on_put: bool(false, 'Create a missing bucket on the first upload into it.'),
  s3_store_bucket_url_format: choice(
    ['auto', 'path', 'virtual'],
    'auto',
    'Bucket in the path or in the host name; auto: path for an address or localhost, else virtual.',
  ),
  s3_store_large_object_size: int(100, 'MB: accepted; data larger than one chunk is always sent as a multipart upload (see README).', { min: 1 }),
  s3_store_large_object_chunk_size: int(10, 'MB: the size of each multipart part (S3 needs at least 5).', { min: 5 }),
  s3_store_thread_pools: int(10, 'Parts of one upload sent at once; memory per upload is (this + 1) x the chunk size.', { min: 1 }),
  s3_store_region_name: optionalText('Region the signature names (default us-east-1).'),
  s3_store_cacert: optionalText('PEM bundle trusted for the S3 endpoint.'),
  s3_store_connect_timeout: int(10, 'Seconds to connect to S3 (Glimpse option).', { min: 1 }),
  s3_store_read_timeout: int(60, 'Seconds S3 may take to answer or to send the next bytes before it counts as down (Glimpse option).', { min: 1 }),
  store_description: optionalText('Shown by GET /v2/info/stores (multi-store).'),
} satisfies OptionSchema;

export const DEFAULT_OPTIONS = section('DEFAULT', {
  bind_host: text('127.0.0.1', 'Address to listen on. Glance defaults to 0.0.0.0; ours is loopback so a first run exposes nothing.'),
  bind_port: int(9292, 'Port to listen on.', { min: 1, max: 65535 }),
  workers: int(1, 'Worker processes sharing the port; 0 means one per CPU.', { min: 0, max: 256 }),
  public_endpoint: uri('Base URL used in links and the versions document instead of the request host.'),
  limit_param_default: int(25, 'Default page size of list requests.', { min: 1 }),
  api_limit_max: int(1000, 'Largest page size; larger limits are capped.', { min: 1 }),
  image_member_quota: int(128, 'Members per image; negative means unlimited.'),
  image_property_quota: int(128, 'Extra properties per image; negative means unlimited.'),
  image_tag_quota: int(128, 'Tags per image; negative means unlimited.'),
  image_location_quota: int(10, 'Locations per image; negative means unlimited.'),
  image_size_cap: int(1099511627776, 'Largest image in bytes.', { min: 1 }),
  user_storage_quota: text('0', 'Total bytes per owner (suffixes B, KB, MB, GB, TB); 0 disables.'),
  allow_additional_image_properties: bool(true, 'Allow extra string properties on images.'),
  enforce_secure_rbac: bool(false, 'Secure RBAC policy defaults; must equal [oslo_policy] enforce_new_defaults.'),
  show_image_direct_url: bool(false, 'Show direct_url in image bodies.'),
  show_multiple_locations: bool(false, 'Show locations in image bodies.'),
  max_request_id_length: int(64, 'Longest X-Openstack-Request-ID accepted; 0 disables the check.', { min: 0 }),
  hashing_algorithm: text('sha512', 'Multihash algorithm for os_hash_value.'),
  hashing_threads: int(2, 'Worker threads that hash uploads, one digest per thread; 0 hashes on the event loop (Glimpse option; see bench/README.md).', {
    min: 0,
    max: 64,
  }),
  sendfile_downloads: bool(
    true,
    'Send image data from the file store with sendfile(2), never copying it through the process, or read it with O_DIRECT when it is not in the page cache (Glimpse option; see bench/README.md).',
  ),
  upload_socket_reads: bool(
    true,
    'Read upload bodies from the socket into reused shared memory instead of through the HTTP parser; plain HTTP with Content-Length only (Glimpse option; see bench/README.md).',
  ),
  property_protection_file: optionalText('Property protections rules file.'),
  property_protection_rule_format: choice(['roles', 'policies'], 'roles', 'Format of the property protections file.'),
  allow_anonymous_access: bool(false, 'Serve unauthenticated requests with a read-only context instead of 401.'),
  data_dir: text('./data', 'Where the SQLite database and the file store live unless configured otherwise (Glimpse option).'),
  debug: bool(false, 'Log at debug level.'),
  log_file: optionalText('Log to this file instead of standard output.'),
  enabled_backends: optionalText(
    "Multi-store: <id>:<type>[, ...]; each id has a section of its own with that store's options. Only the file type exists so far.",
  ),
  node_id: optionalText(
    'This node among the glimpse-api nodes on one database; default <hostname>:<bind_port>. Stable across restarts: its own interrupted uploads are recovered at once (Glimpse option).',
  ),
  node_heartbeat_interval: int(10, 'Seconds between heartbeats of this node in the database (Glimpse option).', { min: 1 }),
  node_dead_after: int(60, 'Seconds without a heartbeat after which other nodes take a node for dead and recover its uploads (Glimpse option).', { min: 2 }),
  enabled_import_methods: list(
    ['glance-direct', 'web-download', 'copy-image'],
    'Interoperable import methods offered (reference §9): glance-direct, web-download, copy-image, and glance-download (added explicitly, as in Glance: it needs a second region).',
  ),
  node_staging_uri: pattern(
    /^file:\/\/\/.+/,
    'file:///<directory>',
    'Where staged image data waits for import (file:// only); default <data_dir>/staging. Glance defaults to file:///tmp/staging/.',
  ),
  worker_self_reference_url: uri("This node's own URL, recorded on staged images (os_glance_stage_host)."),
  delayed_delete: bool(false, 'Deleting an image leaves its data for the scrubber (status pending_delete).'),
  scrub_time: int(0, 'Seconds after deletion before the scrubber may purge the data.', { min: 0 }),
  scrub_pool_size: int(1, 'Images scrubbed in parallel.', { min: 1 }),
  wakeup_time: int(300, 'Seconds between scrubber runs.', { min: 1 }),
});

export const DATABASE_OPTIONS = section('database', {
  connection: pattern(
    /^(?:sqlite(?:\+\w+)?:\/\/(?:\/.*)?|postgres(?:ql)?(?:\+\w+)?:\/\/.+)$/,
    'a sqlite:/// or postgresql:// URL',
    'sqlite:///relative/path, sqlite:////absolute/path or postgresql://user:pass@host/db; default <data_dir>/glimpse.sqlite.',
  ),
});

export const PASTE_DEPLOY_OPTIONS = section('paste_deploy', {
  flavor: choice(
    ['embedded', 'keystone', 'keystone+caching', 'keystone+cachemanagement'],
    'embedded',
    'Identity: embedded (built-in Keystone subset) or keystone (validate tokens against Keystone).',
  ),
});

export const KEYSTONE_AUTHTOKEN_OPTIONS = section('keystone_authtoken', {
  www_authenticate_uri: uri('Keystone URL clients are sent to on 401 (WWW-Authenticate), as configured; defaults to auth_url.'),
  auth_uri: uri('Deprecated name of www_authenticate_uri.'),
  auth_url: uri('Keystone URL for the service credentials, with or without /v3: the v3 API is found by version discovery.'),
  auth_type: text('password', 'password (or v3password) or v3applicationcredential.'),
  username: optionalText('Service user name (or user_id).'),
  user_id: optionalText('Service user id.'),
  password: optionalText('Service user password.'),
  user_domain_name: optionalText('Domain of the service user by name; Default when neither it nor user_domain_id is set.'),
  user_domain_id: optionalText('Domain of the service user by id.'),
  project_name: optionalText('Service project by name (or project_id).'),
  project_id: optionalText('Service project id.'),
  project_domain_name: optionalText('Domain of the service project by name; Default when neither it nor project_domain_id is set.'),
  project_domain_id: optionalText('Domain of the service project by id.'),
  domain_name: optionalText('Scope the service token to this domain instead of a project.'),
  domain_id: optionalText('Scope the service token to this domain (by id) instead of a project.'),
  system_scope: optionalText('Scope the service token to the system (all) instead of a project.'),
  application_credential_id: optionalText('With auth_type v3applicationcredential: the credential id.'),
  application_credential_name: optionalText('With auth_type v3applicationcredential: the credential name (with username or user_id).'),
  application_credential_secret: optionalText('With auth_type v3applicationcredential: the secret.'),
  interface: choice(['public', 'internal', 'admin'], 'internal', 'Which identity endpoint of the service catalog validates tokens.'),
  region_name: optionalText('Region of the identity endpoint used to validate tokens.'),
  cafile: optionalText('PEM bundle of CAs for https to Keystone; the system CAs when unset.'),
  certfile: optionalText('Client certificate for https to Keystone.'),
  keyfile: optionalText('Key of the client certificate.'),
  insecure: bool(false, "Do not verify Keystone's https certificate."),
  http_connect_timeout: int(
    10,
    'Seconds one request to Keystone may take; then unknown tokens get 503. keystonemiddleware waits forever by default; Glimpse does not.',
    { min: 1 },
  ),
  http_request_max_retries: int(3, 'Retries of a refused connection to Keystone (0.5 s, doubling).', { min: 0 }),
  token_cache_time: int(300, 'Seconds a validated token is cached, never past its expiry; -1 disables.', { min: -1 }),
  service_token_roles: list(['service'], 'Roles that make an X-Service-Token a service token, which may then vouch for an expired user token.'),
  service_token_roles_required: bool(false, 'Refuse an X-Service-Token that has none of service_token_roles.'),
  include_service_catalog: bool(true, "Ask Keystone for the caller's service catalog (where Barbican is found)."),
  service_type: optionalText(
    'Accepted for compatibility. Tokens restricted by access rules are refused, since Glimpse does not announce access-rule support to Keystone.',
  ),
  delay_auth_decision: bool(true, 'Accepted for compatibility; Glance always delays the decision to its context middleware.'),
  auth_version: optionalText('Accepted for compatibility; only v3 exists.'),
  memcached_servers: list([], 'Accepted for compatibility; the cache is in-process.'),
  memcache_security_strategy: optionalText('Accepted for compatibility; the cache is in-process.'),
  memcache_secret_key: optionalText('Accepted for compatibility; the cache is in-process.'),
});

export const OSLO_POLICY_OPTIONS = section('oslo_policy', {
  policy_file: text('policy.yaml', "Policy overrides (YAML or JSON), relative to the first config file's directory."),
  enforce_new_defaults: bool(false, 'Use the new (secure RBAC) policy defaults.'),
  enforce_scope: bool(false, 'Refuse (403) tokens whose scope is not one a rule allows: every image rule is for project-scoped tokens, as in Glance.'),
});

export const IMAGE_FORMAT_OPTIONS = section('image_format', {
  disk_formats: list(['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'], 'Allowed disk_format values.'),
  require_image_format_match: bool(true, 'Refuse uploads whose content is not the declared disk_format (bare containers).'),
  vmdk_allowed_types: list(
    ['streamOptimized', 'monolithicSparse'],
    'VMDK create types accepted in uploads; others (flat, split, vmfs) can point at host files.',
  ),
  container_formats: list(['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'], 'Allowed container_format values.'),
});

export const EMBEDDED_IDENTITY_OPTIONS = section('embedded_identity', {
  token_expiration: int(3600, 'Lifetime of embedded tokens in seconds. Users: user_<name> = <password> <project> <role>[,<role>...].', { min: 60 }),
});

export const GLANCE_STORE_OPTIONS = section('glance_store', {
  default_store: choice(
    ['file', 'filesystem', 'swift', 'swift+http', 'swift+https', 'swift+config', 's3', 's3+http', 's3+https'],
    'file',
    'Single-store mode: the store type (its options are in this section).',
  ),
  default_backend: optionalText('Multi-store: the enabled_backends id that uploads go to unless X-Image-Meta-Store says otherwise.'),
  stores: list(['file'], 'Accepted for compatibility (deprecated in Glance).'),
  ...FILE_STORE_OPTIONS,
  ...SWIFT_STORE_OPTIONS,
  ...S3_STORE_OPTIONS,
});

/**
 * The reserved staging store of multi-store mode (reference §9.2, §15): where staged data waits
 * for its import. Without enabled_backends, node_staging_uri names the place instead.
 */
export const STAGING_STORE_OPTIONS = section('os_glance_staging_store', {
  filesystem_store_datadir: optionalText('Multi-store staging directory; default node_staging_uri if set, else <data_dir>/staging.'),
  filesystem_store_fsync: optionalBool('Flush staged files to disk before a stage succeeds (Glimpse option); default: as the default store flushes its files.'),
});

/** The reserved tasks store of multi-store mode: Glance keeps its legacy tasks' work files there. */
export const TASKS_STORE_OPTIONS = section('os_glance_tasks_store', {
  filesystem_store_datadir: optionalText('Accepted for compatibility; import plugins write into [task] work_dir.'),
});

export const KEY_MANAGER_OPTIONS = section('key_manager', {
  backend: optionalChoice(
    ['embedded', 'barbican'],
    'Key manager for image signature certificates: embedded (Barbican subset served under /key-manager; default with the embedded identity) or barbican (default with keystone).',
  ),
});

export const BARBICAN_OPTIONS = section('barbican', {
  barbican_endpoint: uri("Barbican URL; default: the key-manager endpoint of the caller's token catalog."),
  barbican_api_version: text('v1', 'Barbican API version.'),
  auth_endpoint: uri('Accepted for compatibility; tokens come from the request.'),
});

export const IMAGE_SIGNATURE_VERIFICATION_OPTIONS = section('image_signature_verification', {
  trusted_ca_file: optionalText(
    'PEM bundle of CAs that must have issued image signing certificates (Glimpse option; off by default, as Glance checks no chain).',
  ),
  partial_signature_properties: choice(
    ['refuse', 'ignore'],
    'refuse',
    'Some but not all img_signature* properties: refuse with 400 (Glimpse) or ignore and skip verification (Glance).',
  ),
});

export const OSLO_MIDDLEWARE_OPTIONS = section('oslo_middleware', {
  enable_proxy_headers_parsing: bool(false, 'Trust X-Forwarded-* headers.'),
});

export const IMPORT_FILTERING_OPTIONS = section('import_filtering_opts', {
  allowed_schemes: list(['http', 'https'], 'URL schemes web-download may fetch.'),
  disallowed_schemes: list([], 'URL schemes web-download may not fetch (ignored when allowed_schemes is set).'),
  allowed_hosts: list([], 'Hosts web-download may fetch from; listing one also allows its loopback or link-local addresses.'),
  disallowed_hosts: list([], 'Hosts (names or addresses) web-download may not fetch from (ignored when allowed_hosts is set).'),
  allowed_ports: list(['80', '443'], 'Ports a URL may name explicitly.'),
  disallowed_ports: list([], 'Ports a URL may not name (ignored when allowed_ports is set).'),
});

export const IMAGE_IMPORT_OPTIONS = section('image_import_opts', {
  image_import_plugins: list(
    [],
    'Plugins run in order on staged data before it is stored: no_op, image_decompression, image_conversion, inject_image_metadata.',
  ),
});

export const IMAGE_CONVERSION_OPTIONS = section('image_conversion', {
  output_format: choice(['raw', 'qcow2', 'vmdk'], 'raw', 'The disk format image_conversion converts imported images to.'),
});

export const INJECT_METADATA_OPTIONS = section('inject_metadata_properties', {
  inject: list([], 'Properties inject_image_metadata sets on imported images, as key:value pairs.'),
  ignore_user_roles: list(['admin'], 'Imports by users with any of these roles get nothing injected.'),
});

export const GLANCE_DOWNLOAD_OPTIONS = section('glance_download_properties', {
  extra_properties: list(
    ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type'],
    'Prefixes of the properties glance-download copies from the remote image.',
  ),
});

export const TASKFLOW_EXECUTOR_OPTIONS = section('taskflow_executor', {
  max_workers: int(10, 'Import jobs one glimpse-api process runs at once.', { min: 1, max: 256 }),
});

export const TASK_OPTIONS = section('task', {
  work_dir: optionalText('Where import plugins write the files they produce; default <data_dir>/import-work.'),
  task_time_to_live: int(48, 'Hours a finished task stays visible before it expires.', { min: 1 }),
  job_lease_seconds: int(
    30,
    'Seconds a node holds a running import job without renewing it; a job whose node stopped is taken over by another after this (Glimpse option).',
    { min: 2 },
  ),
});

export const HEALTHCHECK_OPTIONS = section('healthcheck', {
  disable_by_file_path: optionalText('While this file exists, /healthcheck answers 503.'),
});

/** Every section, in the order the sample config shows them. */
const SECTIONS: readonly Section<OptionSchema>[] = [
  DEFAULT_OPTIONS,
  DATABASE_OPTIONS,
  PASTE_DEPLOY_OPTIONS,
  KEYSTONE_AUTHTOKEN_OPTIONS,
  OSLO_POLICY_OPTIONS,
  IMAGE_FORMAT_OPTIONS,
  EMBEDDED_IDENTITY_OPTIONS,
  GLANCE_STORE_OPTIONS,
  STAGING_STORE_OPTIONS,
  TASKS_STORE_OPTIONS,
  KEY_MANAGER_OPTIONS,
  BARBICAN_OPTIONS,
  IMAGE_SIGNATURE_VERIFICATION_OPTIONS,
  OSLO_MIDDLEWARE_OPTIONS,
  IMPORT_FILTERING_OPTIONS,
  IMAGE_IMPORT_OPTIONS,
  IMAGE_CONVERSION_OPTIONS,
  INJECT_METADATA_OPTIONS,
  GLANCE_DOWNLOAD_OPTIONS,
  TASKFLOW_EXECUTOR_OPTIONS,
  TASK_OPTIONS,
  HEALTHCHECK_OPTIONS,
];

export const OPTIONS: readonly OptionDefinition[] = SECTIONS.flatMap((s) =>
  Object.entries(s.options).map(([name, option]) => ({ ...option, section: s.name, name })),
);

/**
 * Each store driver's options, by store type (src/stores/store-drivers.ts has the drivers): read
 * from the store's own section in multi-store mode. A new driver declares its options here.
 */
export const STORE_OPTIONS: Readonly<Record<string, OptionSchema>> = { file: FILE_STORE_OPTIONS, swift: SWIFT_STORE_OPTIONS, s3: S3_STORE_OPTIONS };

/**
 * Options Glance's driver of a type has and Glimpse's does not act on (reference §15.2). A
 * config copied from a Glance deployment sets them, so they are accepted with a warning; any other
 * unknown key in a store's own section stops startup, since a misspelt
 * `filesystem_store_datadir` would otherwise put every image in the wrong place.
 */
export const STORE_OPTIONS_IGNORED: Readonly<Record<string, readonly string[]>> = {
  file: ['filesystem_store_datadirs', 'filesystem_store_metadata_file', 'filesystem_store_chunk_size', 'filesystem_thin_provisioning', 'weight'],
  swift: ['swift_store_auth_version', 'swift_store_auth_address', 'swift_store_user', 'swift_store_key', 'weight'],
  s3: ['weight'],
};

/** Other names Glance accepts for a store type. */
export const STORE_TYPE_ALIASES: Readonly<Record<string, string>> = {
  filesystem: 'file',
  'swift+http': 'swift',
  'swift+https': 'swift',
  'swift+config': 'swift',
};
