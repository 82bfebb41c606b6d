/**
 * Every option Glimpse reads, by Glance's section and name so an operator's glance-api.conf
 * carries over. Defaults are Glance's unless the help says why not.
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

export interface OptionDefinition {
  readonly section: string;
  readonly name: string;
  readonly type: OptionType;
  readonly default: OptionValue;
  readonly help: string;
  /** A store option that a multi-store section must set (single-store mode has a default). */
  readonly requiredInStoreSection?: boolean;
}

const string = { kind: 'string' } as const;
const bool = { kind: 'bool' } as const;
const list = { kind: 'list' } as const;
const uri = { kind: 'uri' } as const;
const int = (min?: number, max?: number): OptionType => ({ kind: 'int', ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) });

const o = (section: string, name: string, type: OptionType, defaultValue: OptionValue, help: string): OptionDefinition => ({
  section,
  name,
  type,
  default: defaultValue,
  help,
});

/**
 * The file driver's options: in `[glance_store]` for a single store, in the store's own section
 * (named by its enabled_backends id) for multi-store (reference §15.1).
 */
export const FILE_STORE_OPTIONS: readonly OptionDefinition[] = [
  {
    ...o('', 'filesystem_store_datadir', string, null, 'File store directory; default <data_dir>/images (required for a multi-store file backend).'),
    requiredInStoreSection: true,
  },
  o('', 'filesystem_store_file_perm', int(0, 777), 0, 'Permission (octal, e.g. 640) of image files; 0 keeps the process umask.'),
  o('', 'filesystem_store_fsync', bool, true, 'Flush image files to disk before an upload succeeds (Glimpse option).'),
  o(
    '',
    'filesystem_store_direct_io',
    bool,
    true,
    'Write image files with O_DIRECT, bypassing the page cache, where the filesystem allows (Glimpse option; see bench/README.md).',
  ),
  o('', 'store_description', string, null, 'Shown by GET /v2/info/stores (multi-store).'),
];

/**
 * Each store driver's options, by store type (src/stores/store-drivers.ts has the drivers): read
 * from the store's own section in multi-store mode. A new driver declares its options here.
 */
export const STORE_OPTIONS: Readonly<Record<string, readonly OptionDefinition[]>> = { file: FILE_STORE_OPTIONS };

/** Other names Glance accepts for a store type. */
export const STORE_TYPE_ALIASES: Readonly<Record<string, string>> = { filesystem: 'file' };

export const OPTIONS: readonly OptionDefinition[] = [
  o('DEFAULT', 'bind_host', string, '127.0.0.1', 'Address to listen on. Glance defaults to 0.0.0.0; ours is loopback so a first run exposes nothing.'),
  o('DEFAULT', 'bind_port', int(1, 65535), 9292, 'Port to listen on.'),
  o('DEFAULT', 'workers', int(0, 256), 1, 'Worker processes sharing the port; 0 means one per CPU.'),
  o('DEFAULT', 'public_endpoint', uri, null, 'Base URL used in links and the versions document instead of the request host.'),
  o('DEFAULT', 'limit_param_default', int(1), 25, 'Default page size of list requests.'),
  o('DEFAULT', 'api_limit_max', int(1), 1000, 'Largest page size; larger limits are capped.'),
  o('DEFAULT', 'image_member_quota', int(), 128, 'Members per image; negative means unlimited.'),
  o('DEFAULT', 'image_property_quota', int(), 128, 'Extra properties per image; negative means unlimited.'),
  o('DEFAULT', 'image_tag_quota', int(), 128, 'Tags per image; negative means unlimited.'),
  o('DEFAULT', 'image_location_quota', int(), 10, 'Locations per image; negative means unlimited.'),
  o('DEFAULT', 'image_size_cap', int(1), 1099511627776, 'Largest image in bytes.'),
  o('DEFAULT', 'user_storage_quota', string, '0', 'Total bytes per owner (suffixes B, KB, MB, GB, TB); 0 disables.'),
  o('DEFAULT', 'allow_additional_image_properties', bool, true, 'Allow extra string properties on images.'),
  o('DEFAULT', 'enforce_secure_rbac', bool, false, 'Secure RBAC policy defaults; must equal [oslo_policy] enforce_new_defaults.'),
  o('DEFAULT', 'show_image_direct_url', bool, false, 'Show direct_url in image bodies.'),
  o('DEFAULT', 'show_multiple_locations', bool, false, 'Show locations in image bodies.'),
  o('DEFAULT', 'max_request_id_length', int(0), 64, 'Longest X-Openstack-Request-ID accepted; 0 disables the check.'),
  o('DEFAULT', 'hashing_algorithm', string, 'sha512', 'Multihash algorithm for os_hash_value.'),
  o(
    'DEFAULT',
    'hashing_threads',
    int(0, 64),
    2,
    'Worker threads that hash uploads, one digest per thread; 0 hashes on the event loop (Glimpse option; see bench/README.md).',
  ),
  o(
    'DEFAULT',
    'sendfile_downloads',
    bool,
    true,
    'Send image data from the file store with sendfile(2), never copying it through the process, or read it with O_DIRECT when it is not in the page cache (Glimpse option; see bench/README.md).',
  ),
  o(
    'DEFAULT',
    'upload_socket_reads',
    bool,
    true,
    'Read upload bodies from the socket into reused shared memory instead of through the HTTP parser; plain HTTP with Content-Length only (Glimpse option; see bench/README.md).',
  ),
  o('DEFAULT', 'property_protection_file', string, null, 'Property protections rules file.'),
  o('DEFAULT', 'property_protection_rule_format', { kind: 'enum', choices: ['roles', 'policies'] }, 'roles', 'Format of the property protections file.'),
  o('DEFAULT', 'allow_anonymous_access', bool, false, 'Serve unauthenticated requests with a read-only context instead of 401.'),
  o('DEFAULT', 'data_dir', string, './data', 'Where the SQLite database and the file store live unless configured otherwise (Glimpse option).'),
  o('DEFAULT', 'debug', bool, false, 'Log at debug level.'),
  o('DEFAULT', 'log_file', string, null, 'Log to this file instead of standard output.'),
  o(
    'database',
    'connection',
    { kind: 'pattern', pattern: /^(?:sqlite(?:\+\w+)?:\/\/(?:\/.*)?|postgres(?:ql)?(?:\+\w+)?:\/\/.+)$/, form: 'a sqlite:/// or postgresql:// URL' },
    null,
    'sqlite:///relative/path, sqlite:////absolute/path or postgresql://user:pass@host/db; default <data_dir>/glimpse.sqlite.',
  ),
  o(
    'paste_deploy',
    'flavor',
    { kind: 'enum', choices: ['embedded', 'keystone', 'keystone+caching', 'keystone+cachemanagement'] },
    'embedded',
    'Identity: embedded (built-in Keystone subset) or keystone (validate tokens against Keystone).',
  ),
  // [keystone_authtoken], as keystonemiddleware and keystoneauth read it (reference §16.1).
  o(
    'keystone_authtoken',
    'www_authenticate_uri',
    uri,
    null,
    'Keystone URL clients are sent to on 401 (WWW-Authenticate), as configured; defaults to auth_url.',
  ),
  o('keystone_authtoken', 'auth_uri', uri, null, 'Deprecated name of www_authenticate_uri.'),
  o('keystone_authtoken', 'auth_url', uri, null, 'Keystone URL for the service credentials, with or without /v3: the v3 API is found by version discovery.'),
  o('keystone_authtoken', 'auth_type', string, 'password', 'password (or v3password) or v3applicationcredential.'),
  o('keystone_authtoken', 'username', string, null, 'Service user name (or user_id).'),
  o('keystone_authtoken', 'user_id', string, null, 'Service user id.'),
  o('keystone_authtoken', 'password', string, null, 'Service user password.'),
  o('keystone_authtoken', 'user_domain_name', string, null, 'Domain of the service user by name; Default when neither it nor user_domain_id is set.'),
  o('keystone_authtoken', 'user_domain_id', string, null, 'Domain of the service user by id.'),
  o('keystone_authtoken', 'project_name', string, null, 'Service project by name (or project_id).'),
  o('keystone_authtoken', 'project_id', string, null, 'Service project id.'),
  o('keystone_authtoken', 'project_domain_name', string, null, 'Domain of the service project by name; Default when neither it nor project_domain_id is set.'),
  o('keystone_authtoken', 'project_domain_id', string, null, 'Domain of the service project by id.'),
  o('keystone_authtoken', 'domain_name', string, null, 'Scope the service token to this domain instead of a project.'),
  o('keystone_authtoken', 'domain_id', string, null, 'Scope the service token to this domain (by id) instead of a project.'),
  o('keystone_authtoken', 'system_scope', string, null, 'Scope the service token to the system (all) instead of a project.'),
  o('keystone_authtoken', 'application_credential_id', string, null, 'With auth_type v3applicationcredential: the credential id.'),
  o(
    'keystone_authtoken',
    'application_credential_name',
    string,
    null,
    'With auth_type v3applicationcredential: the credential name (with username or user_id).',
  ),
  o('keystone_authtoken', 'application_credential_secret', string, null, 'With auth_type v3applicationcredential: the secret.'),
  o(
    'keystone_authtoken',
    'interface',
    { kind: 'enum', choices: ['public', 'internal', 'admin'] },
    'internal',
    'Which identity endpoint of the service catalog validates tokens.',
  ),
  o('keystone_authtoken', 'region_name', string, null, 'Region of the identity endpoint used to validate tokens.'),
  o('keystone_authtoken', 'cafile', string, null, 'PEM bundle of CAs for https to Keystone; the system CAs when unset.'),
  o('keystone_authtoken', 'certfile', string, null, 'Client certificate for https to Keystone.'),
  o('keystone_authtoken', 'keyfile', string, null, 'Key of the client certificate.'),
  o('keystone_authtoken', 'insecure', bool, false, "Do not verify Keystone's https certificate."),
  o(
    'keystone_authtoken',
    'http_connect_timeout',
    int(1),
    10,
    'Seconds one request to Keystone may take; then unknown tokens get 503. keystonemiddleware waits forever by default; Glimpse does not.',
  ),
  o('keystone_authtoken', 'http_request_max_retries', int(0), 3, 'Retries of a refused connection to Keystone (0.5 s, doubling).'),
  o('keystone_authtoken', 'token_cache_time', int(-1), 300, 'Seconds a validated token is cached, never past its expiry; -1 disables.'),
  o(
    'keystone_authtoken',
    'service_token_roles',
    list,
    ['service'],
    'Roles that make an X-Service-Token a service token, which may then vouch for an expired user token.',
  ),
  o('keystone_authtoken', 'service_token_roles_required', bool, false, 'Refuse an X-Service-Token that has none of service_token_roles.'),
  o('keystone_authtoken', 'include_service_catalog', bool, true, "Ask Keystone for the caller's service catalog (where Barbican is found)."),
  o(
    'keystone_authtoken',
    'service_type',
    string,
    null,
    'Accepted for compatibility. Tokens restricted by access rules are refused, since Glimpse does not announce access-rule support to Keystone.',
  ),
  o('keystone_authtoken', 'delay_auth_decision', bool, true, 'Accepted for compatibility; Glance always delays the decision to its context middleware.'),
  o('keystone_authtoken', 'auth_version', string, null, 'Accepted for compatibility; only v3 exists.'),
  o('keystone_authtoken', 'memcached_servers', list, [], 'Accepted for compatibility; the cache is in-process.'),
  o('keystone_authtoken', 'memcache_security_strategy', string, null, 'Accepted for compatibility; the cache is in-process.'),
  o('keystone_authtoken', 'memcache_secret_key', string, null, 'Accepted for compatibility; the cache is in-process.'),
  o('oslo_policy', 'policy_file', string, 'policy.yaml', "Policy overrides (YAML or JSON), relative to the first config file's directory."),
  o('oslo_policy', 'enforce_new_defaults', bool, false, 'Use the new (secure RBAC) policy defaults.'),
  o(
    'oslo_policy',
    'enforce_scope',
    bool,
    false,
    'Refuse (403) tokens whose scope is not one a rule allows: every image rule is for project-scoped tokens, as in Glance.',
  ),
  o('image_format', 'disk_formats', list, ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'], 'Allowed disk_format values.'),
  o('image_format', 'require_image_format_match', bool, true, 'Refuse uploads whose content is not the declared disk_format (bare containers).'),
  o(
    'image_format',
    'vmdk_allowed_types',
    list,
    ['streamOptimized', 'monolithicSparse'],
    'VMDK create types accepted in uploads; others (flat, split, vmfs) can point at host files.',
  ),
  o('image_format', 'container_formats', list, ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'], 'Allowed container_format values.'),
  o(
    'embedded_identity',
    'token_expiration',
    int(60),
    3600,
    'Lifetime of embedded tokens in seconds. Users: user_<name> = <password> <project> <role>[,<role>...].',
  ),
  o(
    'DEFAULT',
    'enabled_backends',
    string,
    null,
    "Multi-store: <id>:<type>[, ...]; each id has a section of its own with that store's options. Only the file type exists so far.",
  ),
  o(
    'DEFAULT',
    'node_id',
    string,
    null,
    'This node among the glimpse-api nodes on one database; default <hostname>:<bind_port>. Stable across restarts: its own interrupted uploads are recovered at once (Glimpse option).',
  ),
  o('DEFAULT', 'node_heartbeat_interval', int(1), 10, 'Seconds between heartbeats of this node in the database (Glimpse option).'),
  o(
    'DEFAULT',
    'node_dead_after',
    int(2),
    60,
    'Seconds without a heartbeat after which other nodes take a node for dead and recover its uploads (Glimpse option).',
  ),
  o('DEFAULT', 'delayed_delete', bool, false, 'Deleting an image leaves its data for the scrubber (status pending_delete).'),
  o('DEFAULT', 'scrub_time', int(0), 0, 'Seconds after deletion before the scrubber may purge the data.'),
  o('DEFAULT', 'scrub_pool_size', int(1), 1, 'Images scrubbed in parallel.'),
  o('DEFAULT', 'wakeup_time', int(1), 300, 'Seconds between scrubber runs.'),
  o('glance_store', 'default_store', { kind: 'enum', choices: ['file', 'filesystem'] }, 'file', 'Single-store mode: the store type (only file so far).'),
  o('glance_store', 'default_backend', string, null, 'Multi-store: the enabled_backends id that uploads go to unless X-Image-Meta-Store says otherwise.'),
  o('glance_store', 'stores', list, ['file'], 'Accepted for compatibility (deprecated in Glance).'),
  ...FILE_STORE_OPTIONS.map((def) => ({ ...def, section: 'glance_store' })),
  o(
    'key_manager',
    'backend',
    { kind: 'enum', choices: ['embedded', 'barbican'] },
    null,
    'Key manager for image signature certificates: embedded (Barbican subset served under /key-manager; default with the embedded identity) or barbican (default with keystone).',
  ),
  o('barbican', 'barbican_endpoint', uri, null, "Barbican URL; default: the key-manager endpoint of the caller's token catalog."),
  o('barbican', 'barbican_api_version', string, 'v1', 'Barbican API version.'),
  o('barbican', 'auth_endpoint', uri, null, 'Accepted for compatibility; tokens come from the request.'),
  o(
    'image_signature_verification',
    'trusted_ca_file',
    string,
    null,
    'PEM bundle of CAs that must have issued image signing certificates (Glimpse option; off by default, as Glance checks no chain).',
  ),
  o(
    'image_signature_verification',
    'partial_signature_properties',
    { kind: 'enum', choices: ['refuse', 'ignore'] },
    'refuse',
    'Some but not all img_signature* properties: refuse with 400 (Glimpse) or ignore and skip verification (Glance).',
  ),
  o('oslo_middleware', 'enable_proxy_headers_parsing', bool, false, 'Trust X-Forwarded-* headers.'),
  o('healthcheck', 'disable_by_file_path', string, null, 'While this file exists, /healthcheck answers 503.'),
];
