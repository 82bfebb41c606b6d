import { sql, type Kysely } from 'kysely';

/**
 * The initial schema. Indexes serve the list query (reference §2.4): the default sort
 * (created_at desc, id desc) within the not-deleted rows, the owner and visibility branches of the
 * visibility union, and EXISTS probes on members, tags and extra properties.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('images')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)')
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('visibility', 'varchar(20)', (c) => c.notNull())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('os_hidden', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('checksum', 'varchar(32)')
    .addColumn('os_hash_algo', 'varchar(64)')
    .addColumn('os_hash_value', 'varchar(128)')
    .addColumn('owner', 'varchar(255)')
    .addColumn('size', 'bigint')
    .addColumn('virtual_size', 'bigint')
    .addColumn('min_ram', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_disk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disk_format', 'varchar(20)')
    .addColumn('container_format', 'varchar(20)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted_at', 'varchar(32)')
    .addCheckConstraint(
      'images_status_check',
      sql`status in ('queued','saving','active','killed','deleted','uploading','importing','pending_delete','deactivated')`,
    )
    .addCheckConstraint('images_visibility_check', sql`visibility in ('public','community','shared','private')`)
    .execute();
  await db.schema.createIndex('images_deleted_created_idx').on('images').columns(['deleted', 'created_at', 'id']).execute();
  await db.schema.createIndex('images_owner_idx').on('images').columns(['owner', 'deleted', 'created_at']).execute();
  await db.schema.createIndex('images_visibility_idx').on('images').columns(['visibility', 'deleted', 'created_at']).execute();
  // Sorting coalesces nullable keys (see ImageRepository) so these expression indexes serve
  // `sort=name` and `sort=size` pages without sorting every match.
  await sql`create index images_name_sort_idx on images (deleted, (coalesce(name, '')), created_at, id)`.execute(db);
  await sql`create index images_size_sort_idx on images (deleted, (coalesce(size, -1)), created_at, id)`.execute(db);
  await db.schema.createIndex('images_updated_idx').on('images').columns(['updated_at']).execute();
  await db.schema.createIndex('images_status_idx').on('images').columns(['status']).execute();

  await db.schema
    .createTable('image_properties')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_properties_pk', ['image_id', 'name'])
    .execute();
  // Property filters probe (name, value) first, then join to the image.
  await db.schema.createIndex('image_properties_name_value_idx').on('image_properties').columns(['name', 'value', 'image_id']).execute();

  await db.schema
    .createTable('image_tags')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id'))
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_tags_pk', ['image_id', 'value'])
    .execute();
  await db.schema.createIndex('image_tags_value_idx').on('image_tags').columns(['value', 'image_id']).execute();

  await db.schema
    .createTable('image_members')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id'))
    .addColumn('member', 'varchar(255)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_members_pk', ['image_id', 'member'])
    .addCheckConstraint('image_members_status_check', sql`status in ('pending','accepted','rejected')`)
    .execute();
  await db.schema.createIndex('image_members_member_idx').on('image_members').columns(['member', 'status', 'image_id']).execute();

  await db.schema
    .createTable('identity_tokens')
    .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('user_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('project_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('identity_tokens_expires_idx').on('identity_tokens').columns(['expires_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['identity_tokens', 'image_members', 'image_tags', 'image_properties', 'images']) {
    await db.schema.dropTable(table).execute();
  }
}
