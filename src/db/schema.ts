/**
 * Table types for Kysely. Booleans are stored as 0/1 integers and timestamps as ISO-8601 text with
 * milliseconds in UTC: both behave the same in SQLite and PostgreSQL, so every query is written once
 * and text timestamps sort correctly as strings.
 */
// Status and visibility columns are plain text here: the vocabulary and its rules belong to
// src/images, whose repository reads these columns back into its own types.

export interface ImagesTable {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: number;
  os_hidden: number;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  owner: string | null;
  size: number | null;
  virtual_size: number | null;
  min_ram: number;
  min_disk: number;
  disk_format: string | null;
  container_format: string | null;
  created_at: string;
  updated_at: string;
  /** Rows are never removed: a deleted image keeps its id forever (reference §2.2 step 8, OSSN-0075). */
  deleted: number;
  deleted_at: string | null;
  /** The node writing the image's data while it is `saving` (recovery spares live nodes' uploads). */
  uploading_node: string | null;
}

export interface ImagePropertiesTable {
  image_id: string;
  name: string;
  value: string;
}

export interface ImageTagsTable {
  image_id: string;
  value: string;
}

export interface ImageMembersTable {
  image_id: string;
  member: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface ImageLocationsTable {
  image_id: string;
  store_id: string;
  url: string;
  created_at: string;
}

export interface KeyManagerSecretsTable {
  id: string;
  project_id: string;
  creator_id: string;
  name: string | null;
  secret_type: string;
  algorithm: string | null;
  bit_length: number | null;
  mode: string | null;
  expiration: string | null;
  /** The payload's media type: application/octet-stream or text/plain. */
  content_type: string;
  /** AES-256-GCM ciphertext, base64 (iv.tag.data). */
  payload: string;
  created_at: string;
  updated_at: string;
}

export interface IdentityTokensTable {
  /** SHA-256 of the token: the token itself is never stored or logged. */
  token_hash: string;
  user_id: string;
  user_name: string;
  project_id: string;
  project_name: string;
  /** JSON array of role names. */
  roles: string;
  issued_at: string;
  expires_at: string;
}

/** One row per glimpse-api node, its heartbeat renewed while it runs. */
export interface NodesTable {
  id: string;
  hostname: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
}

/** A named piece of shared work one holder does at a time, until the lease expires. */
export interface LeasesTable {
  name: string;
  holder: string;
  acquired_at: string;
  expires_at: string;
}

/** A task (reference §10); input, result and progress are JSON text. */
export interface TasksTable {
  id: string;
  type: string;
  status: string;
  owner: string | null;
  image_id: string | null;
  request_id: string | null;
  user_id: string | null;
  input: string | null;
  result: string | null;
  message: string;
  /** What a running job reached: its step and bytes per store (README "Import"). */
  progress: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  deleted: number;
  deleted_at: string | null;
}

export interface Database {
  images: ImagesTable;
  image_properties: ImagePropertiesTable;
  image_tags: ImageTagsTable;
  image_members: ImageMembersTable;
  image_locations: ImageLocationsTable;
  identity_tokens: IdentityTokensTable;
  key_manager_secrets: KeyManagerSecretsTable;
  nodes: NodesTable;
  leases: LeasesTable;
  tasks: TasksTable;
}
